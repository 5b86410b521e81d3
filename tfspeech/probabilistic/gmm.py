"""Gaussian mixture models fitted by EM in TensorFlow, shaped like scikit-learn's ``GaussianMixture``.

The E-step runs as a compiled graph on blocks of rows in the exponential-family form of
:mod:`tfspeech.probabilistic.gaussian`. Each row's features ``[φ(x), x, 1]`` are computed
once per fit; then one matrix product with the stacked natural parameters gives every
component's log-joint, and one product of the responsibilities with the same features
gives all sufficient statistics ``[Rᵀφ, RᵀX, Rᵀ1]``. The data are centred on their mean
first, and float32 partial sums go into float64 every ``CHUNK_ROWS`` rows; parameters,
sufficient statistics and the M-step are float64.

:class:`GaussianMixtureDensity` is the same density as a Keras model (gradient training,
``.keras`` files, SavedModel/TFLite export); ``GaussianMixture.to_keras`` /
``GaussianMixture.from_keras`` convert between the two.
"""

import functools
import math
import warnings
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from tfspeech.losses.replicas import replica_share
from tfspeech.probabilistic import gaussian

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
BLOCK_ROWS = 65_536  # rows per compiled E-step call; bounds its temporaries (~50 MB at D=16, K=32)
CHUNK_ROWS = 1_024  # rows summed in float32 before the partial sum is added in float64
SCORE_BLOCK_ROWS = 8_192  # rows per scoring call; its (K, rows, D) residuals take ~17 MB at D=16, K=32
FEATURE_CACHE_BYTES = 1 << 30  # φ(X) is kept across EM iterations when it takes less than this
DATASET_INIT_ROWS = 65_536  # a tf.data fit initializes on the first batches up to this many rows


class _Parameters(NamedTuple):
    """float64 tensors; ``means`` relative to the fit's centre."""

    weights: tf.Tensor
    means: tf.Tensor
    covariances: tf.Tensor
    prec_chol: tf.Tensor


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by EM; arguments and attributes as scikit-learn's ``GaussianMixture``.

    A scikit-learn estimator (``get_params``/``set_params``, ``clone``, ``Pipeline``,
    ``GridSearchCV``, where ``score`` is the mean held-out log-likelihood); methods that need a
    fit raise ``sklearn.exceptions.NotFittedError`` before one.

    Arguments as scikit-learn (``n_components``, ``covariance_type``, ``tol``, ``reg_covar``,
    ``max_iter``, ``n_init``, ``init_params``, ``weights_init``, ``means_init``,
    ``precisions_init``, ``random_state``, ``warm_start``), and:
        verbose: show a tqdm bar per initialization with the lower bound and its change.
        dtype: ``"float32"`` (default, fast) or ``"float64"``: the precision of the E-step.
        jit_compile: compile the E-step with XLA. Off by default: on CPU the XLA kernel ran
            single-threaded and used ~15% more CPU time than TensorFlow's kernels (measured on
            2 cores, N=200,000, D=16, K=32), and each block shape costs a ~0.4 s compilation.

    Fitted attributes (float64 numpy): ``weights_`` ``(K,)``, ``means_`` ``(K, D)``,
    ``covariances_``, ``precisions_``, ``precisions_cholesky_`` (shapes in
    :mod:`~tfspeech.probabilistic.gaussian`), ``converged_``, ``n_iter_``, ``lower_bound_``
    (mean log-likelihood per sample in nats, from the E-step before the last M-step, as
    scikit-learn), ``lower_bounds_`` (one per iteration of the best initialization),
    ``n_features_in_``.
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6,
                 max_iter=100, n_init=1, init_params="kmeans", weights_init=None, means_init=None,
                 precisions_init=None, random_state=None, warm_start=False, verbose=0,
                 dtype="float32", jit_compile=False):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.dtype = dtype
        self.jit_compile = jit_compile

    # ---------------------------------------------------------------- fitting

    def fit(self, X, y=None):
        """Fit by EM and return ``self``.

        ``X``: an array ``(N, D)``, or a ``tf.data.Dataset`` of ``(batch, D)`` batches (or of
        tuples whose first element is such a batch), read once per EM iteration; its
        initialization uses the first ``DATASET_INIT_ROWS`` rows.
        """
        self._check_parameters()
        if isinstance(X, tf.data.Dataset):
            sample = _check_array(_first_rows(X, DATASET_INIT_ROWS), "the dataset's first batches")
            self._check_enough_samples(len(sample), "the dataset")
            data = _DatasetBlocks(X, sample.mean(axis=0), self.covariance_type, self._compute_dtype)
        else:
            sample = _check_array(X)
            self._check_enough_samples(len(sample), "X")
            data = _ArrayBlocks(sample, sample.mean(axis=0), self.covariance_type, self._compute_dtype)
        if self.warm_start and self._fitted() and sample.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {sample.shape[1]} features but warm_start continues a model "
                             f"fitted on {self.n_features_in_}; set warm_start=False to refit.")
        self._check_initial_parameters(sample.shape[1])
        self._run_em(sample, data)
        return self

    def fit_predict(self, X, y=None):
        """``fit(X)``, then the labels ``predict(X)`` ``(N,)`` (arrays only)."""
        return self.fit(X).predict(X)

    def _run_em(self, sample, data):
        do_init = not (self.warm_start and self._fitted())
        n_init = self.n_init if do_init else 1
        random_state = _random_state(self.random_state)
        best, max_lower_bound = None, -np.inf
        for init in range(n_init):
            if do_init:
                params = self._initial_parameters(sample, data.center, random_state)
                lower_bound = -np.inf
            else:
                params = self._centred_parameters(data.center)
                lower_bound = self.lower_bound_
            lower_bounds, converged, n_iter = [], False, 0
            bar = tqdm(total=self.max_iter, desc=f"GaussianMixture EM, init {init + 1}/{n_init}",
                       unit="iter", disable=not self.verbose, leave=False)
            for n_iter in range(1, self.max_iter + 1):
                previous = lower_bound
                lower_bound, params = self._em_step(params, data)
                lower_bounds.append(lower_bound)
                bar.set_postfix(lower_bound=f"{lower_bound:.6f}", change=f"{lower_bound - previous:.2e}")
                bar.update()
                if abs(lower_bound - previous) < self.tol:
                    converged = True
                    break
            bar.close()
            if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                max_lower_bound = lower_bound
                best = (params, n_iter, lower_bounds, converged)
        params, self.n_iter_, self.lower_bounds_, self.converged_ = best
        if not self.converged_ and self.max_iter > 0:
            from sklearn.exceptions import ConvergenceWarning  # scikit-learn's, so user filters apply

            warnings.warn("Best performing initialization did not converge. Try different init "
                          "parameters, or increase max_iter, tol, or check for degenerate data.",
                          ConvergenceWarning, stacklevel=3)
        self.lower_bound_ = max_lower_bound
        self._set_parameters(params, data.center)

    def _em_step(self, params, data):
        """One E-step over all blocks and one M-step: ``(mean log-likelihood, new parameters)``."""
        natural = _compiled(_natural_parameters, self.covariance_type, self._compute_dtype)(
            params.weights, params.means, params.prec_chol)
        moments, log_likelihood, n_rows = data.expected_moments(natural, self.jit_compile)
        lower_bound = float(log_likelihood) / n_rows
        if not math.isfinite(lower_bound):
            data.raise_for_nonfinite_rows()
        params = _Parameters(*_compiled(_m_step, self.covariance_type, float(self.reg_covar))(moments))
        gaussian.check_finite_precision(params.prec_chol)
        return lower_bound, params

    def _initial_parameters(self, X, center, random_state):
        """Initial :class:`_Parameters` from ``init_params`` and any ``*_init`` given (as scikit-learn)."""
        centred = X - center
        if self.weights_init is None or self.means_init is None or self.precisions_init is None:
            resp = _initial_responsibilities(X, self.n_components, self.init_params, random_state)
            moments = _array_moments(centred, resp, self.covariance_type)
            params = _Parameters(*_compiled(_m_step, self.covariance_type, float(self.reg_covar))(moments))
            params = params._replace(weights=params.weights * resp.sum() / len(X))
        else:
            params = _Parameters(None, None, None, None)
        if self.weights_init is not None:
            params = params._replace(weights=tf.constant(self.weights_init, tf.float64))
        if self.means_init is not None:
            params = params._replace(means=tf.constant(np.asarray(self.means_init) - center, tf.float64))
        if self.precisions_init is not None:
            prec_chol = gaussian.precision_cholesky_from_precisions(
                tf.constant(self.precisions_init, tf.float64), self.covariance_type)
            gaussian.check_finite_precision(prec_chol)
            params = params._replace(
                prec_chol=prec_chol,
                covariances=gaussian.covariances_from_precision_cholesky(prec_chol, self.covariance_type))
        gaussian.check_finite_precision(params.prec_chol)
        return params

    # ---------------------------------------------------------------- inference

    def score_samples(self, X):
        """Log-density ``log p(x)`` of each row, ``(N,)`` nats."""
        return self._log_resp_and_norm(X)[1]

    def score(self, X, y=None):
        """Mean log-density per row (nats)."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X):
        """Posterior component probabilities ``(N, K)``."""
        return np.exp(self._log_resp_and_norm(X)[0])

    def predict(self, X):
        """Most probable component of each row, ``(N,)``."""
        return np.argmax(self._log_resp_and_norm(X)[0], axis=1)

    def sample(self, n_samples=1):
        """``(X (n, D), labels (n,))`` drawn with ``random_state``; rows grouped by component, as scikit-learn."""
        self._check_fitted()
        if n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples}. The sampling requires at "
                             "least one sample.")
        rng = _random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        labels = np.repeat(np.arange(self.n_components), counts)
        noise = rng.standard_normal(size=(n_samples, self.means_.shape[1]))
        if self.covariance_type in ("full", "tied"):
            scale = np.broadcast_to(np.linalg.cholesky(self.covariances_), (self.n_components,) +
                                    self.means_.shape[1:] * 2)
            draws = np.einsum("nde,ne->nd", scale[labels], noise)
        elif self.covariance_type == "diag":
            draws = noise * np.sqrt(self.covariances_[labels])
        else:
            draws = noise * np.sqrt(self.covariances_[labels])[:, np.newaxis]
        return self.means_[labels] + draws, labels

    def bic(self, X):
        """Bayesian information criterion on ``X`` (lower is better)."""
        X = self._check_predict_input(X)
        return -2 * self.score(X) * len(X) + self._n_parameters() * math.log(len(X))

    def aic(self, X):
        """Akaike information criterion on ``X`` (lower is better)."""
        X = self._check_predict_input(X)
        return -2 * self.score(X) * len(X) + 2 * self._n_parameters()

    def distribution(self):
        """The fitted mixture as ``tfp.distributions.MixtureSameFamily`` (in ``dtype``)."""
        self._check_fitted()
        dtype = self._compute_dtype
        mixture = tfp.distributions.Categorical(probs=tf.constant(self.weights_, dtype))
        means = tf.constant(self.means_, dtype)
        if self.covariance_type in ("full", "tied"):
            scale = np.broadcast_to(np.linalg.cholesky(self.covariances_), self.means_.shape + self.means_.shape[1:])
            components = tfp.distributions.MultivariateNormalTriL(means, tf.constant(scale, dtype))
        else:
            scale = np.sqrt(self.covariances_)
            if self.covariance_type == "spherical":
                scale = np.repeat(scale[:, np.newaxis], self.means_.shape[1], axis=1)
            components = tfp.distributions.MultivariateNormalDiag(means, tf.constant(scale, dtype))
        return tfp.distributions.MixtureSameFamily(mixture, components)

    def _log_resp_and_norm(self, X):
        """``(log rₙₖ (N, K), log p(xₙ) (N,))`` in float64 numpy, from the residual form
        (more accurate in float32 than the expanded form the fit uses for speed)."""
        X = self._check_predict_input(X)
        dtype = self._compute_dtype.as_numpy_dtype
        center = self.weights_ @ self.means_
        parameters = [tf.constant(np.log(self.weights_), dtype), tf.constant(self.means_ - center, dtype),
                      tf.constant(self.precisions_cholesky_, dtype)]
        log_resp, log_norm = [], []
        log_responsibilities = _compiled(_log_responsibilities, self.covariance_type, any_shape=True)
        for start in range(0, len(X), SCORE_BLOCK_ROWS):
            x = tf.constant((X[start: start + SCORE_BLOCK_ROWS] - center).astype(dtype))
            block_resp, block_norm = log_responsibilities(x, *parameters)
            log_resp.append(block_resp.numpy())
            log_norm.append(block_norm.numpy())
        return np.concatenate(log_resp).astype(np.float64), np.concatenate(log_norm).astype(np.float64)

    # ---------------------------------------------------------------- Keras

    def to_keras(self, input_projection=None):
        """A :class:`GaussianMixtureDensity` holding these parameters (float32).

        ``input_projection``: optional ``(mean (P,), matrix (P, D))``; the model then takes
        ``P``-dimensional inputs and maps them by ``(x − mean) @ matrix`` first (e.g.
        scikit-learn PCA's ``mean_`` and ``components_.T``).
        """
        self._check_fitted()
        input_dim = None if input_projection is None else len(input_projection[0])
        model = GaussianMixtureDensity(self.n_components, self.means_.shape[1], self.covariance_type,
                                       input_dim=input_dim)
        model.set_mixture(self.weights_, self.means_, self.precisions_cholesky_)
        if input_projection is not None:
            model.set_input_projection(*input_projection)
        return model

    @classmethod
    def from_keras(cls, model, **kwargs):
        """A fitted ``GaussianMixture`` with a :class:`GaussianMixtureDensity`'s parameters (in the
        space after its input projection, if any); ``kwargs`` go to the constructor (e.g.
        ``max_iter`` for a later ``warm_start`` fit)."""
        gmm = cls(model.n_components, covariance_type=model.covariance_type, **kwargs)
        weights, means, prec_chol = (np.asarray(v, np.float64) for v in model.mixture())
        gmm._set_parameters(_Parameters(
            tf.constant(weights), tf.constant(means), gaussian.covariances_from_precision_cholesky(
                tf.constant(prec_chol), model.covariance_type), tf.constant(prec_chol)),
            np.zeros(means.shape[1]))
        gmm.converged_, gmm.n_iter_, gmm.lower_bound_, gmm.lower_bounds_ = False, 0, -np.inf, []
        return gmm

    # ---------------------------------------------------------------- state and checks

    @property
    def _compute_dtype(self):
        return tf.as_dtype(self.dtype)

    def _fitted(self):
        return hasattr(self, "means_")

    def _check_fitted(self):
        check_is_fitted(self, "means_")  # NotFittedError, a ValueError, with scikit-learn's message

    def _check_predict_input(self, X):
        self._check_fitted()
        X = _check_array(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but this GaussianMixture was fitted "
                             f"on {self.n_features_in_} features.")
        return X

    def _check_parameters(self):
        gaussian.check_covariance_type(self.covariance_type)
        if self.init_params not in INIT_PARAMS:
            raise ValueError(f"init_params must be one of {INIT_PARAMS}, got {self.init_params!r}.")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}.")
        for name, minimum in (("n_components", 1), ("n_init", 1), ("max_iter", 0)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
        if self.tol < 0 or self.reg_covar < 0:
            raise ValueError(f"tol and reg_covar must be >= 0, got tol={self.tol}, reg_covar={self.reg_covar}.")

    def _check_enough_samples(self, n_samples, what):
        if n_samples < max(2, self.n_components):
            raise ValueError(f"{what} has {n_samples} samples, fewer than n_components="
                             f"{self.n_components} (and at least 2 are needed): use fewer "
                             "components or more data.")

    def _check_initial_parameters(self, n_features):
        """``weights_init``, ``means_init``, ``precisions_init`` checked as scikit-learn checks
        them, with its messages."""
        K, D = self.n_components, n_features
        if self.weights_init is not None:
            weights = np.asarray(self.weights_init, np.float64)
            _check_shape(weights, (K,), "weights")
            if np.any(weights < 0) or np.any(weights > 1):
                raise ValueError("The parameter 'weights' should be in the range [0, 1], but got "
                                 f"min value {weights.min():.5f}, max value {weights.max():.5f}")
            if not np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-6):
                raise ValueError("The parameter 'weights' should be normalized, but got "
                                 f"sum(weights) = {weights.sum():.5f}")
        if self.means_init is not None:
            _check_shape(np.asarray(self.means_init), (K, D), "means")
        if self.precisions_init is not None:
            precisions = np.asarray(self.precisions_init, np.float64)
            name = f"{self.covariance_type} precision"
            _check_shape(precisions, gaussian.covariance_shape(self.covariance_type, K, D), name)
            if self.covariance_type in ("diag", "spherical"):
                if np.any(precisions <= 0):
                    raise ValueError(f"'{name}' should be positive")
            else:
                matrices = precisions.reshape((-1, D, D))
                if not (np.allclose(matrices, np.swapaxes(matrices, 1, 2))
                        and np.all(np.linalg.eigvalsh(matrices) > 0)):
                    raise ValueError(f"'{name}' should be symmetric, positive-definite")

    def _centred_parameters(self, center):
        return _Parameters(tf.constant(self.weights_, tf.float64),
                           tf.constant(self.means_ - center, tf.float64),
                           tf.constant(self.covariances_, tf.float64),
                           tf.constant(self.precisions_cholesky_, tf.float64))

    def _set_parameters(self, params, center):
        self.weights_ = params.weights.numpy()
        self.means_ = params.means.numpy() + center
        self.covariances_ = params.covariances.numpy()
        self.precisions_cholesky_ = params.prec_chol.numpy()
        self.precisions_ = gaussian.precisions_from_precision_cholesky(
            params.prec_chol, self.covariance_type).numpy()
        self.n_features_in_ = self.means_.shape[1]

    def _n_parameters(self):
        K, D = self.means_.shape
        return gaussian.n_covariance_parameters(self.covariance_type, K, D) + K * D + K - 1


# -------------------------------------------------------------------- data in blocks


class _ArrayBlocks:
    """Centred rows in equal blocks of ``≤ BLOCK_ROWS`` rows (the last one padded with rows
    of zero features, so every block has one shape); yields ``(features, n_padding)``."""

    def __init__(self, X, center, covariance_type, dtype):
        self.center = center
        self.covariance_type = covariance_type
        self.n_rows = len(X)
        n_blocks = -(-self.n_rows // BLOCK_ROWS)
        block = -(-self.n_rows // n_blocks)
        block = _round_up(block, CHUNK_ROWS) if block > CHUNK_ROWS else block
        padded = np.zeros((block * n_blocks, X.shape[1]), dtype.as_numpy_dtype)
        padded[: self.n_rows] = X - center
        self.blocks = [tf.constant(padded[i: i + block]) for i in range(0, len(padded), block)]
        self.n_valid = [min(block, self.n_rows - i) for i in range(0, len(padded), block)]
        n_columns = _n_feature_columns(X.shape[1], covariance_type)
        if len(padded) * n_columns * dtype.size <= FEATURE_CACHE_BYTES:
            self.features = [_features(x, covariance_type, n) for x, n in zip(self.blocks, self.n_valid)]
        else:
            self.features = None

    def __iter__(self):
        for i, (x, n_valid) in enumerate(zip(self.blocks, self.n_valid)):
            features = self.features[i] if self.features else _features(x, self.covariance_type, n_valid)
            yield features, len(x) - n_valid

    def expected_moments(self, natural, jit_compile):
        return _sum_block_moments(self, natural, jit_compile)

    def raise_for_nonfinite_rows(self):
        raise FloatingPointError(_NONFINITE_LOG_LIKELIHOOD)


class _DatasetBlocks:
    """A ``tf.data.Dataset``'s batches, centred; yields ``(features, 0)`` per batch (no
    padding rows); ``n_rows`` is known after the first pass."""

    def __init__(self, dataset, center, covariance_type, dtype):
        self.dataset = dataset
        self.center = center
        self.covariance_type = covariance_type
        self.dtype = dtype
        self.n_features = len(center)
        self.n_rows = None

    def __iter__(self):
        center = tf.constant(self.center, tf.float64)
        n_rows = 0
        for batch in self.dataset:
            x = _batch_rows(batch)
            if x.shape.rank != 2 or x.shape[1] != self.n_features:
                raise ValueError(f"dataset batch {tuple(x.shape)} after {n_rows} rows: every batch must "
                                 f"be (batch, {self.n_features}) like the first ones.")
            x = tf.cast(tf.cast(x, tf.float64) - center, self.dtype)
            n_rows += int(x.shape[0])
            yield _features(x, self.covariance_type), 0
        self.n_rows = n_rows

    def expected_moments(self, natural, jit_compile):
        return _sum_block_moments(self, natural, jit_compile)

    def raise_for_nonfinite_rows(self):
        offset, bad = 0, []
        for batch in self.dataset:
            x = np.asarray(_batch_rows(batch))
            bad.extend((offset + np.flatnonzero(~np.isfinite(x).all(axis=1))).tolist())
            offset += len(x)
        if bad:
            raise ValueError(_nonfinite_rows_message(bad, "the dataset"))
        raise FloatingPointError(_NONFINITE_LOG_LIKELIHOOD)


def _batch_rows(batch):
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def _features(x, covariance_type, n_valid=None):
    """``[φ(x), x, 1]``, shape ``(N, T + D + 1)``: the columns that the stacked natural
    parameters multiply, and whose responsibility-weighted sums are the moments.

    Rows from ``n_valid`` on are padding (zero ``x``) and get 0 in the last column too:
    all-zero rows add nothing to the moments and exactly ``log K`` to the log-likelihood.
    """
    ones = tf.ones_like(x[:, :1])
    if n_valid is not None:
        ones = tf.cast(tf.range(x.shape[0])[:, tf.newaxis] < n_valid, x.dtype)
    return tf.concat([gaussian.moment_features(x, covariance_type), x, ones], axis=1)


def _n_feature_columns(n_features, covariance_type):
    return len(gaussian.second_moment_pairs(n_features, covariance_type)[0]) + n_features + 1


def _sum_block_moments(blocks, natural, jit_compile):
    """E-step over all blocks: ``(moments (K, T + D + 1), Σ log p(x), n_rows)``, float64."""
    block_moments = _compiled(_block_moments, jit_compile=jit_compile, any_shape=True)
    moments = log_likelihood = 0.0
    for features, n_padding in blocks:
        block, block_log_likelihood = block_moments(features, tf.constant(n_padding), natural)
        moments += block
        log_likelihood += block_log_likelihood
    return moments, log_likelihood, blocks.n_rows


def _block_moments(features, n_padding, natural):
    """E-step on one block: ``(Rᵀ [φ, x, 1] (K, T + D + 1), Σ log p(x) ())`` in float64.

    ``features`` ``(rows, T + D + 1)`` of which the last ``n_padding`` are all-zero padding
    rows; ``natural`` ``(T + D + 1, K)`` (log weights in its last row). Sums run in
    ``features.dtype`` over chunks of ``CHUNK_ROWS`` rows and in float64 across chunks.
    """
    rows, columns = tf.unstack(tf.shape(features))
    chunk = tf.minimum(CHUNK_ROWS, rows)
    pad = -rows % chunk
    features = tf.reshape(tf.pad(features, [[0, pad], [0, 0]]), [-1, chunk, columns])
    log_joint = tf.einsum("cnt,tk->cnk", features, natural)
    peak = tf.reduce_max(log_joint, axis=-1, keepdims=True)
    joint = tf.exp(log_joint - peak)
    total = tf.reduce_sum(joint, axis=-1, keepdims=True)
    moments = tf.einsum("cnk,cnt->ckt", joint / total, features)
    log_norm = tf.reduce_sum(tf.squeeze(peak + tf.math.log(total), -1), axis=1)
    log_k = tf.math.log(tf.cast(tf.shape(natural)[1], features.dtype))  # what each all-zero row added
    padding = tf.cast(n_padding + pad, tf.float64) * tf.cast(log_k, tf.float64)
    return (tf.reduce_sum(tf.cast(moments, tf.float64), axis=0),
            tf.reduce_sum(tf.cast(log_norm, tf.float64)) - padding)


@functools.cache
def _compiled(function, *settings, jit_compile=False, any_shape=False):
    """``function`` with its leading ``settings`` (covariance type, dtype, ...) fixed, as a
    ``tf.function``: one per configuration, so fitting several kinds of mixture does not
    retrace one function over and over. ``any_shape``: trace with unknown dimensions after
    a second shape (for functions written with dynamic shapes)."""
    return tf.function(functools.partial(function, *settings), autograph=False, reduce_retracing=any_shape,
                       jit_compile=jit_compile)


def _log_responsibilities(covariance_type, x, log_weights, means, prec_chol):
    """``(log rₙₖ (N, K), log p(xₙ) (N,))`` for rows ``x`` ``(N, D)``."""
    log_joint = gaussian.log_prob_from_precision_cholesky(x, means, prec_chol, covariance_type) + log_weights
    log_norm = tf.reduce_logsumexp(log_joint, axis=-1)
    return log_joint - log_norm[:, tf.newaxis], log_norm


def _natural_parameters(covariance_type, dtype, weights, means, prec_chol):
    """Stacked ``[quadratic; linear; bias + log πₖ]`` ``(T + D + 1, K)`` in ``dtype``: the matrix
    that ``[φ(x), x, 1]`` multiplies to give ``log πₖ + log N(x | μₖ, Σₖ)``."""
    quadratic, linear, bias = gaussian.natural_parameters(means, prec_chol, covariance_type)
    return tf.cast(tf.concat([quadratic, linear, (bias + tf.math.log(weights))[tf.newaxis]], axis=0), dtype)


def _m_step(covariance_type, reg_covar, moments):
    """Closed-form M-step (:func:`gaussian.m_step`) from ``Rᵀ [φ, x, 1]`` about the centre:
    ``(weights, means, covariances, precision Cholesky)``; NaN where a covariance is singular."""
    n_features = (math.isqrt(8 * moments.shape[1] + 1) - 3) // 2 if covariance_type in ("full", "tied") \
        else (moments.shape[1] - 1) // 2
    n_pairs = moments.shape[1] - n_features - 1
    stats = gaussian.statistics_from_moments(moments[:, -1], moments[:, n_pairs:-1], moments[:, :n_pairs],
                                             covariance_type)
    weights, means, covariances = gaussian.m_step(stats, covariance_type, reg_covar)
    return weights, means, covariances, gaussian.precision_cholesky(covariances, covariance_type)


def _array_moments(X, resp, covariance_type):
    """``Rᵀ [φ(x), x, 1]`` ``(K, T + D + 1)`` of float64 ``X`` under ``resp``, in blocks of rows."""
    moments = 0.0
    for start in range(0, len(X), BLOCK_ROWS):
        features = _features(tf.constant(X[start: start + BLOCK_ROWS]), covariance_type)
        moments += tf.matmul(resp[start: start + BLOCK_ROWS], features, transpose_a=True)
    return moments


def _initial_responsibilities(X, n_components, init_params, random_state):
    """``(N, K)`` initial responsibilities, drawn as scikit-learn draws them from ``random_state``."""
    n_samples = len(X)
    resp = np.zeros((n_samples, n_components))
    if init_params == "kmeans":
        from sklearn.cluster import KMeans  # a well-kept k-means; the same labels as scikit-learn

        labels = KMeans(n_clusters=n_components, n_init=1, random_state=random_state).fit(X).labels_
        resp[np.arange(n_samples), labels] = 1
    elif init_params == "k-means++":
        from sklearn.cluster import kmeans_plusplus

        _, indices = kmeans_plusplus(X, n_components, random_state=random_state)
        resp[indices, np.arange(n_components)] = 1
    elif init_params == "random":
        resp = random_state.uniform(size=(n_samples, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
    else:
        indices = random_state.choice(n_samples, size=n_components, replace=False)
        resp[indices, np.arange(n_components)] = 1
    return resp


# -------------------------------------------------------------------- input checks

_NONFINITE_LOG_LIKELIHOOD = (
    "The log-likelihood became NaN or inf although the data are finite: the data's scale is "
    "extreme for dtype='float32'; use dtype='float64' or standardize the data.")


def _check_array(X, what="X"):
    """``X`` as a float64 ``(N, D)`` array, or a ``ValueError`` saying what is wrong."""
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} must be a numeric array (n_samples, n_features): {error}") from error
    if X.ndim != 2:
        hint = " Reshape with X.reshape(-1, 1) for one feature." if X.ndim == 1 else ""
        raise ValueError(f"{what} must be 2-D (n_samples, n_features), got shape {X.shape}.{hint}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{what} is empty: shape {X.shape}.")
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if len(bad):
        raise ValueError(_nonfinite_rows_message(bad, what))
    return X


def _nonfinite_rows_message(rows, what):
    shown = ", ".join(str(int(r)) for r in rows[:10])
    more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
    return (f"{what} has NaN or inf in {len(rows)} row(s): {shown}{more}. Drop or impute those "
            "rows first.")


def _first_rows(dataset, n_rows):
    """The dataset's first batches as one float64 array of up to about ``n_rows`` rows."""
    batches, count = [], 0
    for batch in dataset:
        batch = np.asarray(_batch_rows(batch), np.float64)
        batches.append(batch)
        count += len(batch)
        if count >= n_rows:
            break
    if not batches:
        raise ValueError("The dataset is empty.")
    return np.concatenate(batches)


def _random_state(seed):
    """A ``np.random.RandomState`` as scikit-learn's ``check_random_state`` gives it."""
    if seed is None:
        return np.random.mtrand._rand
    if isinstance(seed, np.random.RandomState):
        return seed
    return np.random.RandomState(seed)


def _check_shape(array, shape, name):
    """scikit-learn's shape check of an ``*_init`` parameter, with its message."""
    if array.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, but got {array.shape}")


def _round_up(n, multiple):
    return -(-n // multiple) * multiple


# -------------------------------------------------------------------- Keras


@keras.saving.register_keras_serializable(package="tfspeech")
class GaussianMixtureDensity(keras.Model):
    """A Gaussian mixture as a Keras model: ``call(x (N, D)) -> log p(x) (N,)`` nats.

    Variables: ``logits`` ``(K,)`` (softmax → weights), ``means`` ``(K, D)``, and
    ``precision_factor``, the precision Cholesky ``P`` of :mod:`~tfspeech.probabilistic.gaussian`
    (``Λ = P Pᵀ``; upper triangle used, diagonal stored as ``log P_ii`` so it stays
    positive under gradient steps). ``model.fit(x)`` minimizes the mean negative
    log-likelihood. The graph uses only matrix products and elementwise ops, so it
    converts to TFLite builtins.

    With ``input_dim`` set, inputs are ``(N, input_dim)`` and go through a fixed
    (non-trainable) affine map ``(x − input_mean) @ input_projection`` to the mixture's
    ``n_features`` first, e.g. a PCA (:meth:`set_input_projection`); ``log p`` is then the
    density of the projected point.
    """

    def __init__(self, n_components, n_features, covariance_type="full", input_dim=None, **kwargs):
        super().__init__(**kwargs)
        gaussian.check_covariance_type(covariance_type)
        self.n_components = int(n_components)
        self.n_features = int(n_features)
        self.covariance_type = covariance_type
        self.input_dim = None if input_dim is None else int(input_dim)
        if self.input_dim is not None:
            self.input_mean = self.add_weight(shape=(self.input_dim,), initializer="zeros", trainable=False,
                                              name="input_mean")
            self.input_projection = self.add_weight(shape=(self.input_dim, self.n_features), initializer="zeros",
                                                    trainable=False, name="input_projection")
        shape = gaussian.covariance_shape(covariance_type, self.n_components, self.n_features)
        self.logits = self.add_weight(shape=(self.n_components,), initializer="zeros", name="logits")
        self.means = self.add_weight(shape=(self.n_components, self.n_features),
                                     initializer="random_normal", name="means")
        self.precision_factor = self.add_weight(shape=shape, initializer="zeros", name="precision_factor")
        if covariance_type in ("full", "tied"):
            eye = np.eye(self.n_features, dtype=np.float32)
            self._diagonal = tf.constant(eye)
            self._strict_upper = tf.constant(np.triu(np.ones_like(eye), 1))
        self.built = True

    def precision_cholesky(self):
        """``P`` from ``precision_factor`` (shapes as :mod:`~tfspeech.probabilistic.gaussian`)."""
        factor = self.precision_factor
        if self.covariance_type in ("full", "tied"):
            # exp of the diagonal only: exp of a large off-diagonal entry would overflow and
            # inf * 0 would make the whole matrix NaN.
            return factor * self._strict_upper + tf.exp(factor * self._diagonal) * self._diagonal
        return tf.exp(factor)

    def call(self, x):
        x = tf.convert_to_tensor(x, self.means.dtype)
        if self.input_dim is not None:
            x = tf.matmul(x - self.input_mean, self.input_projection)
        prec_chol = self.precision_cholesky()
        residuals = x[tf.newaxis, :, :] - self.means[:, tf.newaxis, :]  # (K, N, D)
        if self.covariance_type == "full":
            whitened = tf.matmul(residuals, prec_chol)
            log_det = tf.reduce_sum(self.precision_factor * self._diagonal, axis=[-2, -1])
        elif self.covariance_type == "tied":
            whitened = tf.reshape(tf.matmul(tf.reshape(residuals, [-1, self.n_features]), prec_chol),
                                  tf.shape(residuals))
            log_det = tf.reduce_sum(self.precision_factor * self._diagonal)
        elif self.covariance_type == "diag":
            whitened = residuals * prec_chol[:, tf.newaxis, :]
            log_det = tf.reduce_sum(self.precision_factor, axis=-1)
        else:
            whitened = residuals * prec_chol[:, tf.newaxis, tf.newaxis]
            log_det = self.n_features * self.precision_factor
        log_density = (-0.5 * tf.reduce_sum(tf.square(whitened), axis=-1) + log_det[..., tf.newaxis]
                       - 0.5 * self.n_features * math.log(2.0 * math.pi))  # (K, N)
        log_weights = tf.nn.log_softmax(self.logits)
        return tf.reduce_logsumexp(log_density + log_weights[:, tf.newaxis], axis=0)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean negative log-likelihood of the batch (``y`` is ignored)."""
        nll = -y_pred
        if sample_weight is not None:
            sample_weight = tf.cast(tf.reshape(sample_weight, [-1]), nll.dtype)
            return replica_share(tf.reduce_sum(nll * sample_weight) / tf.reduce_sum(sample_weight))
        return replica_share(tf.reduce_mean(nll))

    def default_compile_args(self):
        """How ``tfspeech.zoo.load`` compiles it for fine-tuning."""
        return {"optimizer": keras.optimizers.Adam(1e-3)}

    def export_signatures(self):
        """``{"score_samples": x (None, input_dim or D) float32 -> log p(x) (None,)}`` for ``tfspeech.export``."""
        spec = tf.TensorSpec([None, self.input_dim or self.n_features], tf.float32, name="x")
        return {"score_samples": tf.function(lambda x: {"log_prob": self(x)}, input_signature=[spec])}

    def mixture(self):
        """``(weights (K,), means (K, D), precision Cholesky)`` as numpy arrays."""
        return (tf.nn.softmax(self.logits).numpy(), self.means.numpy(), self.precision_cholesky().numpy())

    def set_mixture(self, weights, means, precisions_cholesky):
        """Sets the variables from mixture parameters (``P`` upper triangular for full/tied)."""
        prec_chol = np.asarray(precisions_cholesky, np.float64)
        if self.covariance_type in ("full", "tied"):
            diagonal = np.log(np.diagonal(prec_chol, axis1=-2, axis2=-1))
            factor = np.triu(prec_chol, 1) + diagonal[..., np.newaxis] * np.eye(self.n_features)
            if not np.allclose(np.tril(prec_chol, -1), 0.0):
                raise ValueError("precisions_cholesky must be upper triangular (scikit-learn's layout).")
        else:
            factor = np.log(prec_chol)
        self.logits.assign(np.log(np.asarray(weights, np.float64)).astype(np.float32))
        self.means.assign(np.asarray(means, np.float32))
        self.precision_factor.assign(factor.astype(np.float32))

    def set_input_projection(self, mean, matrix):
        """Sets the input map ``(x − mean) @ matrix``: ``mean`` ``(input_dim,)``, ``matrix`` ``(input_dim, D)``."""
        if self.input_dim is None:
            raise ValueError("This GaussianMixtureDensity has no input projection; build it with input_dim=P.")
        self.input_mean.assign(np.asarray(mean, np.float32))
        self.input_projection.assign(np.asarray(matrix, np.float32))

    def get_config(self):
        return {**super().get_config(), "n_components": self.n_components, "n_features": self.n_features,
                "covariance_type": self.covariance_type, "input_dim": self.input_dim}
