"""HMM fitting from a tf.data.Dataset of sequences: the same EM as the in-memory fit, in chunks."""

import numpy as np
import pytest
import tensorflow as tf

from tfspeech.probabilistic import CategoricalHMM, GaussianHMM, GMMHMM, hmm_data

K, D = 3, 2
LENGTHS = [50, 80, 30, 45]


@pytest.fixture()
def small_chunks(monkeypatch):
    """Chunks of about 60 frames, so the four sequences stream in three E-step passes."""
    monkeypatch.setattr(hmm_data, "DATASET_CHUNK_FRAMES", 60)


def _sequences(X):
    return np.split(X, np.cumsum(LENGTHS)[:-1])


def _dataset(X, with_labels=False):
    sequences = _sequences(X)

    def generate():
        for i, sequence in enumerate(sequences):
            yield (sequence, i) if with_labels else sequence

    spec = tf.TensorSpec((None,) + X.shape[1:], tf.as_dtype(X.dtype))
    signature = (spec, tf.TensorSpec((), tf.int32)) if with_labels else spec
    return tf.data.Dataset.from_generator(generate, output_signature=signature)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(sum(LENGTHS), D))
    X[:60] += 2.0
    X[130:170] -= 1.5
    return X


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_gaussian_dataset_fit_equals_array_fit(covariance_type, data, small_chunks):
    kwargs = dict(n_components=K, covariance_type=covariance_type, random_state=3, n_iter=6,
                  tol=-np.inf)
    in_memory = GaussianHMM(**kwargs).fit(data, LENGTHS)
    streamed = GaussianHMM(**kwargs).fit(_dataset(data, with_labels=True))
    np.testing.assert_allclose(streamed.monitor_.history, in_memory.monitor_.history, rtol=0, atol=1e-8)
    np.testing.assert_allclose(streamed.means_, in_memory.means_, atol=1e-10)
    np.testing.assert_allclose(streamed.covars_, in_memory.covars_, atol=1e-10)
    np.testing.assert_allclose(streamed.transmat_, in_memory.transmat_, atol=1e-10)


def test_initialization_uses_only_the_first_sequences(data, monkeypatch):
    """With 100 init frames, k-means sees the first two sequences (130 frames), not all of them."""
    monkeypatch.setattr(hmm_data, "DATASET_INIT_FRAMES", 100)
    kwargs = dict(n_components=K, random_state=3, n_iter=1)
    streamed = GaussianHMM(**kwargs, params="").fit(_dataset(data))
    from_first = GaussianHMM(**kwargs, params="").fit(data[:130], LENGTHS[:2])
    np.testing.assert_allclose(streamed.means_, from_first.means_)


def test_categorical_dataset_fit_equals_array_fit(small_chunks):
    X = np.random.default_rng(4).integers(0, 4, size=(sum(LENGTHS), 1))
    kwargs = dict(n_components=K, n_features=4, random_state=0, n_iter=6, tol=-np.inf)
    in_memory = CategoricalHMM(**kwargs).fit(X, LENGTHS)
    streamed = CategoricalHMM(**kwargs).fit(_dataset(X[:, 0]))
    np.testing.assert_allclose(streamed.monitor_.history, in_memory.monitor_.history, rtol=0, atol=1e-8)
    np.testing.assert_allclose(streamed.emissionprob_, in_memory.emissionprob_, atol=1e-10)


def test_gmmhmm_dataset_fit_equals_array_fit(data, small_chunks):
    kwargs = dict(n_components=2, n_mix=2, random_state=1, n_iter=5, tol=-np.inf)
    in_memory = GMMHMM(**kwargs).fit(data, LENGTHS)
    streamed = GMMHMM(**kwargs).fit(_dataset(data))
    np.testing.assert_allclose(streamed.monitor_.history, in_memory.monitor_.history, rtol=0, atol=1e-8)
    np.testing.assert_allclose(streamed.weights_, in_memory.weights_, atol=1e-10)


def test_dataset_bad_input_gets_clear_errors(data):
    model = GaussianHMM(K, n_iter=2)
    with pytest.raises(ValueError, match="lengths must be None"):
        model.fit(_dataset(data), lengths=LENGTHS)
    with pytest.raises(ValueError, match="sequence 0: .*2-D.*unbatch"):
        model.fit(_dataset(data).padded_batch(2))
    broken = data.copy()
    broken[140] = np.nan  # in the third sequence (frames 130..159)
    with pytest.raises(ValueError, match="dataset sequence 2: X has NaN"):
        GaussianHMM(K, n_iter=2).fit(_dataset(broken))
    with pytest.raises(ValueError, match="empty"):
        model.fit(_dataset(data).take(0))
    fitted = GaussianHMM(K, n_iter=1, random_state=0).fit(data, LENGTHS)
    resumed = GaussianHMM(K, n_iter=1, init_params="")
    resumed.startprob_, resumed.transmat_, resumed.means_, resumed.covars_ = (
        fitted.startprob_, fitted.transmat_, fitted.means_, fitted._covars_)
    resumed.n_features = fitted.n_features
    with pytest.raises(ValueError, match="sequence 0: X has 3 features but this model has n_features=2"):
        resumed.fit(tf.data.Dataset.from_tensor_slices(np.zeros((2, 5, 3))))
