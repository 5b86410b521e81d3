"""The parity check cannot be fooled: NaN/inf on one side, an all-NaN reference, and
autoregressive outputs of different lengths (compared, reported, never a crash)."""

import types

import numpy as np
import pytest
import tensorflow as tf

from tfspeech import export

SIGNATURE = types.SimpleNamespace(name="infer", input_specs=[tf.TensorSpec([4], tf.float32, name="x")])
SAMPLES = [{"x": np.linspace(-1, 1, 4).astype(np.float32)}]


def compare(keras_out, exported_out, quantize=None):
    (parity,) = export._compare(SIGNATURE, lambda x: {"y": tf.constant(keras_out)},
                                lambda inputs: {"y": np.asarray(exported_out)}, SAMPLES,
                                export.DEFAULT_TOLERANCES[quantize])
    return parity


@pytest.mark.parametrize("keras_out, exported_out", [
    ([1.0, np.nan, 3.0], [1.0, 2.0, 3.0]),          # NaN in Keras only
    ([1.0, 2.0, 3.0], [1.0, -np.inf, 3.0]),          # -inf in the export only
    ([1.0, np.nan, 3.0], [1.0, -np.inf, 3.0]),       # the gmm-digits case: NaN vs -inf
    ([1.0, np.inf, 3.0], [1.0, -np.inf, 3.0]),       # infinities of opposite sign
])
@pytest.mark.parametrize("quantize", [None, "dynamic"])
def test_nan_or_inf_on_one_side_fails_whatever_the_tolerance(keras_out, exported_out, quantize):
    parity = compare(np.float32(keras_out), np.float32(exported_out), quantize)
    assert parity.nonfinite_differ == 1
    assert not parity.passed and "NaN/inf on one side only" in parity.status


def test_an_all_nan_reference_is_not_a_pass():
    parity = compare(np.full(3, np.nan, np.float32), np.full(3, np.nan, np.float32))
    assert parity.no_finite_reference and not parity.passed
    assert "no finite value" in parity.status


def test_matching_nonfinite_values_and_finite_errors_are_compared_as_before():
    parity = compare(np.float32([1.0, np.nan, -np.inf]), np.float32([1.0 + 1e-6, np.nan, -np.inf]))
    assert parity.passed and parity.nonfinite_differ == 0 and parity.max_abs_error < 1e-5


def frames(n, value=0.5):
    return np.full((1, n, 80), value, np.float32)


@pytest.mark.parametrize("quantize, passes", [(None, False), ("dynamic", True)])
def test_outputs_of_different_length_are_compared_over_their_common_frames(quantize, passes):
    parity = compare(frames(207), frames(204, 0.5 + 1e-3), quantize)  # a stop decided one step apart (r = 3)
    assert parity.length_difference == 3 and parity.passed is passes
    assert parity.max_abs_error == pytest.approx(1e-3, rel=1e-2)
    assert "lengths differ by 3" in parity.status


def test_a_length_difference_beyond_the_tolerance_fails_quantized_too():
    parity = compare(frames(200), frames(120), "dynamic")
    assert parity.length_difference == 80 and not parity.passed


def test_the_report_says_whether_it_passes():
    report = export.ExportReport("tflite", "m.tflite", 10, "dynamic", export.DEFAULT_TOLERANCES["dynamic"],
                                 (compare(frames(207), frames(204), "dynamic"),))
    assert report.passed and "lengths differ by 3" in str(report) and "parity: passed" in str(report)
    report = export.ExportReport("tflite", "m.tflite", 10, None, export.DEFAULT_TOLERANCES[None],
                                 (compare(np.float32([np.nan]), np.float32([0.0])),))
    assert not report.passed and "parity: FAILED" in str(report)


def test_a_model_ruined_by_a_nan_row_does_not_pass_export(tmp_path):
    """gmm-digits fitted on data with one NaN row: Keras gives NaN, LiteRT -inf; it used to pass."""
    from sklearn.datasets import load_digits

    from tfspeech import zoo

    model = zoo.load("gmm-digits")
    pixels = load_digits().data[:64].astype("float32")
    pixels[3] = np.nan
    type(model).fit(model, pixels, epochs=1, batch_size=64, verbose=0)  # past zoo.load's NaN guard
    with pytest.raises(export.ParityError) as error:
        export.tflite(model, tmp_path / "ruined.tflite", representative_data=[pixels[:2]])
    assert not error.value.report.passed
    assert "NaN/inf on one side only" in str(error.value) or "no finite value" in str(error.value)


def test_unwritable_export_locations_are_export_errors(tmp_path):
    import keras

    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(export.ExportError, match="cannot write the SavedModel"):
        export.saved_model(model, tmp_path / "a-file" / "models")
    with pytest.raises(export.ExportError, match="cannot write"):
        export.tflite(model, tmp_path / "a-file" / "m.tflite")
