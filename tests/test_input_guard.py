"""Bad inputs to the zoo's Keras models are clear errors: integers are cast, a wrong shape or
range names what the model takes, NaN rows never train a NaN model."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from tfspeech import zoo
from tfspeech.input_guard import InputContract

PIXELS = load_digits().data[:48]  # integers 0..16 as float64, (48, 64)


@pytest.fixture(scope="module")
def gmm():
    return zoo.load("gmm-digits")


def test_integer_pixels_are_cast(gmm):
    as_float = np.asarray(gmm(PIXELS[:4].astype("float32")))
    np.testing.assert_allclose(np.asarray(gmm(PIXELS[:4].astype("int64"))), as_float, rtol=1e-6)
    np.testing.assert_allclose(gmm.predict(PIXELS[:4].astype("uint8"), verbose=0), as_float, rtol=1e-5)


@pytest.mark.parametrize("bad, says", [
    (np.zeros((2, 10), "float32"), "got shape (2, 10)"),
    (np.zeros((64,), "float32"), "got shape (64,)"),
    (np.array([["a"] * 64]), "got string values"),
])
def test_a_wrong_input_names_what_the_model_takes(gmm, bad, says):
    with pytest.raises(ValueError, match=r"takes float32 \(batch, 64\) inputs") as error:
        gmm(bad)
    assert says in str(error.value)
    with pytest.raises(ValueError, match=r"takes float32 \(batch, 64\) inputs"):
        gmm.predict(np.zeros((4, 10), "float32"), verbose=0)


def test_fit_refuses_nan_rows_and_leaves_the_model_intact(gmm):
    before = np.asarray(gmm(PIXELS[:4]))
    pixels = PIXELS[:32].copy()
    pixels[[3, 7]] = np.nan
    with pytest.raises(ValueError, match=r"2 row\(s\) of x hold them \(rows 3, 7\)"):
        gmm.fit(pixels, epochs=1, verbose=0)
    np.testing.assert_array_equal(np.asarray(gmm(PIXELS[:4])), before)
    history = gmm.fit(PIXELS[:32].astype("int32"), epochs=1, batch_size=32, verbose=0)  # integer pixels train
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("preset", ["flow-digits", "vae-digits"])
def test_image_models_name_their_value_range_and_shape(preset):
    model = zoo.load(preset)
    images = PIXELS[:8].reshape(-1, 8, 8, 1)
    with pytest.raises(ValueError, match=r"takes values in \[0, 1\]; got values from 0 to 16\. .*v in 0\.\.16"):
        model.fit(images.astype("int64"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"\(batch, 8, 8, 1\) inputs; got shape \(8, 64\)"):
        model(PIXELS[:8].astype("float32") / 16)
    assert np.all(np.isfinite(np.asarray(model(images.astype("float32") / 17))))


def test_streamed_data_is_checked_in_the_graph_for_shape_only():
    import tensorflow as tf

    contract = InputContract([None, 3], model_name="Tiny")
    assert contract.check(tf.ones([2, 3], tf.int32)).dtype == tf.float32
    with pytest.raises(ValueError, match=r"Tiny takes float32 \(batch, 3\) inputs; got shape \(2, 4\)"):
        contract.check(tf.ones([2, 4]))
