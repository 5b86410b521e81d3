"""Hidden Markov models fitted by Baum-Welch EM, hmmlearn-shaped: GaussianHMM, CategoricalHMM, GMMHMM.

The E-step is the lane-packed scaled forward-backward of :mod:`hmm_inference` (XLA, with an
exact log-space fallback), or for fits too small to repay a compilation the same recursion in
numpy (:mod:`hmm_numpy`); the M-step is closed form. Start probabilities, transition rows and mixture weights
maximize ``Σᵢ (nᵢ + aᵢ − 1) log pᵢ`` under ``Σᵢ pᵢ = 1`` (expected counts ``nᵢ``, Dirichlet
prior ``aᵢ``): the Lagrangian ``Σᵢ (nᵢ + aᵢ − 1) log pᵢ + λ (1 − Σᵢ pᵢ)`` is stationary at
``pᵢ = (nᵢ + aᵢ − 1) / λ`` with ``λ = Σⱼ (nⱼ + aⱼ − 1)``; negative numerators are clipped to
zero (the maximum on the simplex's boundary) and zero entries stay zero, as in hmmlearn; a
row with no expected counts at all keeps its previous values (hmmlearn zeroes it).
Gaussian emissions use the MAP forms of hmmlearn's Normal / inverse-gamma /
inverse-Wishart priors; the defaults give maximum likelihood plus a small variance floor.

The estimators are scikit-learn estimators (``get_params``/``set_params``, ``clone``,
``Pipeline``, ``GridSearchCV`` scored by held-out log-likelihood). As hmmlearn, they log
(``logging``, logger ``tfspeech.probabilistic.hmm``) a parameter set by the user that
``init_params`` overwrites, too little data for the free parameters, and a covariance that
a state with too few frames left singular, which is regularized so that EM carries on.

Parameters are float64 numpy arrays with hmmlearn's names and shapes (``startprob_``,
``transmat_``, ``means_``, ``covars_``, ``emissionprob_``, ``weights_``); ``dtype`` picks
the precision of the compiled inference (float64 by default; float32 runs the recursions
about twice as fast on CPU and halves their memory, log-likelihoods still sum in float64).
"""

import logging
import math
import sys

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import NotFittedError
from tqdm.auto import tqdm

from tfspeech.probabilistic import gaussian, hmm_inference, hmm_numpy
from tfspeech.probabilistic.hmm_data import DatasetSequences, PackedSequences
from tfspeech.probabilistic.hmm_keras import DiagonalGMMHMMDensity, GaussianHMMDensity

tfd = tfp.distributions
_log = logging.getLogger(__name__)

DECODER_ALGORITHMS = ("viterbi", "map")

#: ``jit_compile=None`` compiles a pass with XLA when ``passes × frames × K²`` reaches this: an
#: XLA compilation costs ≈ 1–3 s once per shape signature; against the numpy pass it saves
#: nothing at K = 8 and ≈ 1.5e-9 (float64) to 3e-9 s (float32) per unit of this work at K = 32
#: (measured on 2 busy CPU cores, D = 4, 20,000 frames; benchmarks/README.md).
XLA_MIN_WORK = 1e9
_COMPILED = set()  # shape signatures that already have XLA executables in this process


class ConvergenceMonitor:
    """EM progress: ``history`` (log-likelihood per iteration), ``iter`` and ``converged``.

    Converged when ``n_iter`` iterations ran or the last gain is below ``tol`` (hmmlearn's rule).
    A decrease larger than ``sqrt(eps)`` (relative) is recorded in ``decreases``.
    """

    def __init__(self, tol, n_iter, verbose=False):
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self._reset()

    def _reset(self):
        """Forget the history (a fit starts with this; hmmlearn's name, so custom monitors work)."""
        self.history = []
        self.decreases = []
        self.iter = 0

    def report(self, log_prob):
        """Record one iteration's log-likelihood (printed to stderr when ``verbose``)."""
        delta = log_prob - self.history[-1] if self.history else math.nan
        if self.verbose:
            print(f"{self.iter + 1:>10d} {log_prob:>16.8f} {delta:>+16.8f}", file=sys.stderr)
        if delta < -np.sqrt(np.finfo(float).eps) * max(1.0, abs(log_prob)):
            self.decreases.append(self.iter)
        self.history.append(float(log_prob))
        self.iter += 1

    @property
    def converged(self):
        return self.iter == self.n_iter or (
            len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol)

    def __repr__(self):
        return (f"ConvergenceMonitor(tol={self.tol}, n_iter={self.n_iter}, iter={self.iter}, "
                f"converged={self.converged}, history={self.history})")


def _nonfinite_rows_error(X):
    bad = np.flatnonzero(~np.all(np.isfinite(X), axis=1))
    shown = ", ".join(map(str, bad[:10])) + (", ..." if len(bad) > 10 else "")
    return ValueError(f"X has NaN or inf in {len(bad)} row(s): [{shown}]. "
                      "Remove or impute those rows (and adjust lengths) before calling.")


def _check_lengths(lengths, n_samples):
    """Sequence lengths as an int64 array; one sequence of all rows when ``lengths`` is None."""
    if lengths is None:
        return np.array([n_samples], np.int64)
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or len(lengths) == 0 or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"lengths must be a 1-D sequence of integers, got {lengths!r}.")
    if np.any(lengths < 1):
        raise ValueError(f"lengths must be positive; got {lengths[lengths < 1][:5].tolist()} "
                         f"at positions {np.flatnonzero(lengths < 1)[:5].tolist()}.")
    if lengths.sum() != n_samples:
        raise ValueError(f"lengths sum to {int(lengths.sum())} but X has {n_samples} rows; "
                         "lengths must list the length of each sequence in X, in order.")
    return lengths.astype(np.int64)


def _normalize(counts, axis=-1):
    """Divide by the sum along ``axis``, leaving all-zero rows at zero."""
    total = counts.sum(axis=axis, keepdims=True)
    return counts / np.where(total == 0, 1, total)


def _dirichlet_map(current, prior, counts):
    """Lagrange-multiplier M-step of a probability vector/rows (see module docstring).

    A row with nothing to normalize (no expected counts, e.g. no transition ever leaves the
    state) keeps its previous values; hmmlearn leaves it all zero, an invalid model.
    """
    numerator = np.where(current == 0, 0, np.maximum(prior - 1 + counts, 0))
    empty = numerator.sum(axis=-1, keepdims=True) == 0
    return np.where(empty, current, _normalize(numerator))


def _add_emission_statistics(first, second):
    """Sum of two chunks' emission statistics (moments about the same shift, or counts)."""
    if isinstance(first, gaussian.SufficientStatistics):
        return gaussian.add_statistics(first, second)
    return first + second


class _BaseHMM(DensityMixin, BaseEstimator):
    """Shared EM loop, inference and checks. Subclasses define the emission model.

    ``monitor_``: a :class:`ConvergenceMonitor` made anew by each ``fit``; a monitor of
    another class assigned by the user (e.g. a subclass of hmmlearn's) is kept and reset.

    ``jit_compile``: ``None`` (default) runs a pass as an XLA program when its shapes were
    compiled already in this process or when the fit is large enough to repay a compilation
    (``n_iter × frames × K² ≥`` :data:`XLA_MIN_WORK`), else in numpy (:mod:`hmm_numpy`, the same
    scaled recursion, nothing to trace or compile); ``True``/``False`` force either. Compiled
    passes are module-level functions, so every estimator with the same shapes shares them.

    Subclass hooks: ``_emission_letters``; ``_check_X``; ``_init_emissions(X, lengths)``;
    ``_check_emissions()``; ``_log_frameprob(X tensor) -> (N, K)``;
    ``_emission_statistics(X, posteriors)``; ``_emission_m_step(stats)``;
    ``_emission_parameter_counts()``; ``_sample_emissions(states, rng)``;
    ``_observation_distribution()``; optionally ``_numpy_log_frameprob(data)`` and
    ``_numpy_emission_statistics(data, posteriors)`` in the slots of ``data.layout(K)`` (the
    defaults go through rows; GaussianHMM's diagonal forms work in the slots directly).
    """

    _emission_letters = ""

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0,
                 algorithm="viterbi", random_state=None, n_iter=10, tol=1e-2, verbose=False,
                 params=None, init_params=None, dtype="float64", jit_compile=None):
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        letters = "st" + self._emission_letters
        self.params = letters if params is None else params
        self.init_params = letters if init_params is None else init_params
        self.dtype = dtype
        self.jit_compile = jit_compile
        self.monitor_ = ConvergenceMonitor(tol, n_iter, verbose)

    # ----------------------------------------------------------------------------- checks
    @property
    def _tf_dtype(self):
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}.")
        return tf.float32 if self.dtype == "float32" else tf.float64

    def _check_fitted(self):
        if not hasattr(self, "startprob_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' "
                                 "with appropriate arguments before using this estimator (or set "
                                 "startprob_, transmat_ and the emission parameters).")

    def _check_hyperparameters(self):
        """Constructor arguments that ``fit`` cannot start without (subclasses add theirs)."""
        self._tf_dtype  # noqa: B018  (raises for a bad dtype)
        if self.jit_compile not in (None, True, False):
            raise ValueError(f"jit_compile must be None (choose by size), True or False, got {self.jit_compile!r}.")

    def _check_n_features(self, n_features):
        expected = getattr(self, "n_features", None)
        if expected is not None and n_features != expected:
            raise ValueError(f"X has {n_features} features but this model has n_features="
                             f"{expected}; pass data with the same features as in fit.")

    def _check(self):
        """Validate shapes and normalization of all parameters (clear errors)."""
        self._check_hyperparameters()
        K = self.n_components
        self.startprob_ = np.asarray(self.startprob_, np.float64)
        self.transmat_ = np.asarray(self.transmat_, np.float64)
        if self.startprob_.shape != (K,):
            raise ValueError(f"startprob_ must have shape ({K},), got {self.startprob_.shape}.")
        if self.transmat_.shape != (K, K):
            raise ValueError(f"transmat_ must have shape ({K}, {K}), got {self.transmat_.shape}.")
        for name in ("startprob_", "transmat_"):
            values = getattr(self, name)
            sums = values.sum(axis=-1)
            if np.any(values < 0) or not np.allclose(sums, 1):
                raise ValueError(f"{name} must be non-negative and sum to 1 along its last axis "
                                 f"(got sums {np.round(sums, 6)}).")
        self._check_emissions()

    def _validate(self, X, lengths, fitting=False):
        X = self._check_X(X)
        if not fitting:
            self._check_fitted()
            self._check()
        self._check_n_features(X.shape[1])
        return X, _check_lengths(lengths, len(X))

    # ------------------------------------------------------------------------- inference
    def _log_startprob(self, dtype):
        with np.errstate(divide="ignore"):
            return tf.constant(np.log(self.startprob_), dtype)

    def _chain(self):
        """(startprob, transmat) as tensors of the compute dtype."""
        dtype = self._tf_dtype
        return tf.constant(self.startprob_, dtype), tf.constant(self.transmat_, dtype)

    def _use_xla(self, data, n_passes):
        """Whether passes over ``data`` run as XLA programs (compiled once per shape signature,
        shared by all estimators in the process) or in numpy and TensorFlow's eager ops
        (:mod:`hmm_numpy`, nothing to compile). ``jit_compile=None`` picks XLA when this shape
        signature is compiled already or the work repays a compilation (:data:`XLA_MIN_WORK`)."""
        signature = (type(self).__name__, self.n_components, getattr(self, "covariance_type", None),
                     getattr(self, "n_mix", None), getattr(self, "n_features", None), data.signature)
        use = self.jit_compile if self.jit_compile is not None else (
            signature in _COMPILED or n_passes * data.n_frames * self.n_components ** 2 >= XLA_MIN_WORK)
        if use:
            _COMPILED.add(signature)
        self._xla_pass = bool(use)
        return self._xla_pass

    def _run(self, function, *args):
        """An emission function: its XLA-compiled ``tf.function``, or its body op by op."""
        if getattr(self, "_xla_pass", True):
            return function(*args)
        return function.python_function(*args)

    def _numpy_log_frameprob(self, data):
        """Log-densities ``(L, K, P)`` float64 in the slots of ``data.layout`` (numpy passes)."""
        rows = np.asarray(self._log_frameprob(data.X[:data.n_frames]), np.float64)
        return data.layout(self.n_components).from_rows(rows)

    def _numpy_emission_statistics(self, data, posteriors):
        """Emission statistics from posteriors ``(L, K, P)`` in the slots of ``data.layout``."""
        return self._emission_statistics(data.X[:data.n_frames], data.layout(self.n_components).to_rows(posteriors))

    def _forward_backward(self, data, n_passes=1):
        """E-step of all sequences: ``(log_likelihood, posteriors, start_counts,
        transition_counts, in_slots)``; posteriors ``(n_padded, K)`` in the rows of ``data.X``,
        or with ``in_slots`` ``(L, K, P)`` in the slots of ``data.layout`` (numpy passes)."""
        if not self._use_xla(data, n_passes):
            log_likelihood, posteriors, start_counts, transitions, ok = hmm_numpy.forward_backward(
                self.startprob_, self.transmat_, self._numpy_log_frameprob(data),
                data.layout(self.n_components), self.dtype, overwrite=True)
            if ok:
                return log_likelihood, posteriors, start_counts, transitions, True
            # underflow: the compiled pass, which falls back to exact log space
        return (*hmm_inference.forward_backward(*self._chain(), self._log_frameprob(data.X), *data.lanes,
                                                data.position), False)

    def _sequence_log_likelihoods(self, data):
        if not self._use_xla(data, 1):
            log_likelihoods, ok = hmm_numpy.sequence_log_likelihoods(
                self.startprob_, self.transmat_, self._numpy_log_frameprob(data),
                data.layout(self.n_components), self.dtype, overwrite=True)
            if ok:
                return log_likelihoods
        increments = hmm_inference.frame_log_likelihoods(
            *self._chain(), self._log_frameprob(data.X), *data.lanes, data.position)
        offsets = np.concatenate([[0], np.cumsum(data.lengths)[:-1]])
        return np.add.reduceat(increments.numpy()[:data.n_frames], offsets)

    def score_samples(self, X, lengths=None):
        """``(log_likelihood, posteriors (n_samples, n_components))`` of all sequences in X."""
        X, lengths = self._validate(X, lengths)
        data = PackedSequences(X, lengths, self._tf_dtype)
        log_likelihood, posteriors, _, _, in_slots = self._forward_backward(data)
        posteriors = data.layout(self.n_components).to_rows(posteriors) if in_slots else np.asarray(posteriors)[:len(X)]
        return float(log_likelihood), posteriors.astype(np.float64)

    def score(self, X, lengths=None):
        """Log-likelihood (nats) of all sequences in X (sum over sequences)."""
        return float(self.score_sequences(X, lengths).sum())

    def score_sequences(self, X, lengths=None):
        """Log-likelihood of each sequence, shape ``(n_sequences,)``."""
        X, lengths = self._validate(X, lengths)
        return self._sequence_log_likelihoods(PackedSequences(X, lengths, self._tf_dtype))

    def predict_proba(self, X, lengths=None):
        """State posteriors ``p(zₜ = k | sequence)``, shape ``(n_samples, n_components)``."""
        return self.score_samples(X, lengths)[1]

    def decode(self, X, lengths=None, algorithm=None):
        """``(log_prob, states (n_samples,))``.

        ``"viterbi"``: the most likely state path and its joint log-probability with X (sum
        over sequences). ``"map"``: the most probable state of each frame under the
        posteriors, and ``Σₜ log maxₖ γₜ(k)`` (hmmlearn returns ``Σₜ maxₖ γₜ(k)`` here).
        """
        algorithm = algorithm or self.algorithm
        if algorithm not in DECODER_ALGORITHMS:
            raise ValueError(f"algorithm must be one of {DECODER_ALGORITHMS}, got {algorithm!r}.")
        if algorithm == "map":
            _, posteriors = self.score_samples(X, lengths)
            with np.errstate(divide="ignore"):
                return float(np.log(posteriors.max(axis=1)).sum()), posteriors.argmax(axis=1)
        X, lengths = self._validate(X, lengths)
        data = PackedSequences(X, lengths, self._tf_dtype)
        self._use_xla(data, 1)  # the Viterbi pass is compiled; the emission densities may not be
        dtype = self._tf_dtype
        with np.errstate(divide="ignore"):
            log_transmat = tf.constant(np.log(self.transmat_), dtype)
        log_probs, states = hmm_inference.viterbi(
            self._log_startprob(dtype), log_transmat, self._log_frameprob(data.X),
            *data.lanes, data.position)
        total = float(log_probs.numpy().ravel()[data.packing.last_position].sum())
        return total, states.numpy()[:len(X)].astype(np.int64)

    def predict(self, X, lengths=None):
        """Most likely states, shape ``(n_samples,)`` (decoder: ``self.algorithm``)."""
        return self.decode(X, lengths)[1]

    # ------------------------------------------------------------------------------- fit
    def _rng(self):
        if isinstance(self.random_state, np.random.RandomState):
            return self.random_state
        return np.random.RandomState(self.random_state)

    def _needs_init(self, letter, attribute):
        """Whether ``attribute`` gets initialized: its letter is in ``init_params`` (a value the
        user set is then overwritten, which is logged as hmmlearn logs it) or it is not set."""
        if letter in self.init_params:
            if hasattr(self, attribute):
                _log.warning("Even though the %r attribute is set, it will be overwritten during "
                             "initialization because 'init_params' contains %r",
                             attribute.lstrip("_"), letter)
            return True
        return not hasattr(self, attribute)

    def _init(self, X, lengths):
        """hmmlearn's initialization: Dirichlet(1/K) start and transition rows, then emissions;
        logs a warning when X has fewer values than the parameters in ``params`` to fit."""
        self.n_features = X.shape[1] if getattr(self, "n_features", None) is None else self.n_features
        rng = self._rng()
        K = self.n_components
        if self._needs_init("s", "startprob_"):
            self.startprob_ = rng.dirichlet(np.full(K, 1.0 / K))
        if self._needs_init("t", "transmat_"):
            self.transmat_ = rng.dirichlet(np.full(K, 1.0 / K), size=K)
        counts = self._parameter_counts()
        n_fit_scalars = sum(counts.get(letter, 0) for letter in set(self.params))
        if np.size(X) < n_fit_scalars:
            _log.warning("Fitting a model with %d free scalar parameters with only %d data points "
                         "will result in a degenerate solution.", n_fit_scalars, np.size(X))
        self._init_emissions(X, lengths)

    def fit(self, X, lengths=None):
        """Estimate parameters by Baum-Welch EM over the sequences of X.

        ``X``: (n_samples, n_features) rows of all sequences back to back, with ``lengths``
        each sequence's length (``sum(lengths) == n_samples``) or None for one sequence; or a
        ``tf.data.Dataset`` yielding one sequence ``(T, n_features)`` per element, read once per
        EM iteration in chunks (:mod:`hmm_data`) so that data larger than memory fits; its first
        sequences (``hmm_data.DATASET_INIT_FRAMES`` frames) initialize the parameters.
        Parameters named in ``init_params`` (or not yet set) are initialized first; those in
        ``params`` are updated. Log-likelihood per iteration: ``monitor_.history``.
        """
        self._check_hyperparameters()
        if isinstance(X, tf.data.Dataset):
            if lengths is not None:
                raise ValueError("lengths must be None when X is a tf.data.Dataset: each element "
                                 "is one sequence.")
            chunks = DatasetSequences(X, self._check_sequence, self._tf_dtype)
            X, lengths = chunks.first()
        else:
            X, lengths = self._validate(X, lengths, fitting=True)
            chunks = None
        if self.n_components > len(X):
            raise ValueError(f"n_components={self.n_components} is more than the {len(X)} "
                             "samples in X; use fewer components or more data.")
        self._init(X, lengths)
        self._check()
        if chunks is None:
            chunks = [PackedSequences(X, lengths, self._tf_dtype)]
        if type(getattr(self, "monitor_", None)) is ConvergenceMonitor:
            self.monitor_ = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        else:
            self.monitor_._reset()  # the user's own monitor
        bar = tqdm(total=self.n_iter, desc=f"{type(self).__name__} EM", unit="iter",
                   disable=None, leave=False)
        with bar, hmm_numpy.one_blas_thread():  # the numpy passes' products are small
            for _ in range(self.n_iter):
                log_likelihood, start_counts, transition_counts, emission_stats = (
                    self._expected_statistics(chunks))
                if np.isnan(log_likelihood):
                    raise ValueError(
                        f"EM iteration {self.monitor_.iter + 1} gave a NaN log-likelihood; the "
                        "parameters degenerated. Use a larger covariance prior (covars_prior) "
                        "or min_covar, fewer components, or scaled data.")
                if "s" in self.params:
                    self.startprob_ = _dirichlet_map(self.startprob_, self.startprob_prior, start_counts)
                if "t" in self.params:
                    self.transmat_ = _dirichlet_map(self.transmat_, self.transmat_prior, transition_counts)
                self._emission_m_step(emission_stats)
                self.monitor_.report(log_likelihood)
                bar.update(1)
                bar.set_postfix(log_likelihood=f"{log_likelihood:.6g}")
                if self.monitor_.converged:
                    break
        self._check()
        return self

    def _check_sequence(self, X):
        X = self._check_X(X)
        self._check_n_features(X.shape[1])
        return X

    def _expected_statistics(self, chunks):
        """E-step summed over chunks of sequences: ``(log_likelihood, start_counts (K,),
        transition_counts (K, K), emission statistics)``; every term is a sum over sequences."""
        total = None
        for data in chunks:
            log_likelihood, posteriors, start_counts, transition_counts, in_slots = self._forward_backward(
                data, self.n_iter)
            terms = (float(log_likelihood), np.asarray(start_counts), np.asarray(transition_counts),
                     self._numpy_emission_statistics(data, posteriors) if in_slots
                     else self._emission_statistics(data.X, posteriors))
            total = terms if total is None else (
                total[0] + terms[0], total[1] + terms[1], total[2] + terms[2],
                _add_emission_statistics(total[3], terms[3]))
        return total

    # -------------------------------------------------------------- criteria and sampling
    def _parameter_counts(self):
        K = self.n_components
        return {"s": K - 1, "t": K * (K - 1), **self._emission_parameter_counts()}

    def aic(self, X, lengths=None):
        """Akaike information criterion ``−2 log L + 2 p`` (p: free scalar parameters)."""
        self._check_fitted()
        return -2 * self.score(X, lengths) + 2 * sum(self._parameter_counts().values())

    def bic(self, X, lengths=None):
        """Bayesian information criterion ``−2 log L + p log n_samples``."""
        self._check_fitted()
        n_parameters = sum(self._parameter_counts().values())
        return -2 * self.score(X, lengths) + n_parameters * np.log(len(X))

    def sample(self, n_samples=1, random_state=None, currstate=None):
        """Draw one sequence: ``(X (n_samples, ...), states (n_samples,))``.

        ``currstate`` fixes the first state (to continue a previous sample).
        """
        self._check_fitted()
        self._check()
        seed = self.random_state if random_state is None else random_state
        if isinstance(seed, np.random.RandomState):
            seed = seed.randint(2 ** 31)
        rng = np.random.default_rng(seed)
        states = np.empty(n_samples, np.int64)
        state = rng.choice(self.n_components, p=self.startprob_) if currstate is None else currstate
        uniforms = rng.random(n_samples)
        cumulative = np.cumsum(self.transmat_, axis=1)
        for t in range(n_samples):
            if t:
                state = min(int(np.searchsorted(cumulative[state], uniforms[t], side="right")),
                            self.n_components - 1)
            states[t] = state
        return self._sample_emissions(states, rng), states

    def distribution(self, num_steps):
        """``tfp.distributions.HiddenMarkovModel`` over sequences of ``num_steps`` frames."""
        self._check_fitted()
        self._check()
        dtype = self._tf_dtype
        return tfd.HiddenMarkovModel(
            initial_distribution=tfd.Categorical(probs=tf.constant(self.startprob_, dtype)),
            transition_distribution=tfd.Categorical(probs=tf.constant(self.transmat_, dtype)),
            observation_distribution=self._observation_distribution(),
            num_steps=num_steps)

    def get_stationary_distribution(self):
        """Stationary state distribution: left eigenvector of ``transmat_`` for eigenvalue 1."""
        self._check_fitted()
        values, vectors = np.linalg.eig(self.transmat_.T)
        vector = np.real_if_close(vectors[:, np.argmax(values.real)])
        return vector / vector.sum()


# ----------------------------------------------------------------------------- Gaussian
def _check_float_X(X):
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}.")
    if X.shape[0] == 0:
        raise ValueError("X has no rows.")
    if not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"X must be numeric, got dtype {X.dtype}.")
    X = X.astype(np.float64)
    if not np.all(np.isfinite(X)):
        raise _nonfinite_rows_error(X)
    return X


@tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
def _gaussian_log_prob(X, means, covariances, covariance_type):
    return gaussian.log_prob(X, means, covariances, covariance_type)


@tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
def _gaussian_statistics(X, posteriors, shift, covariance_type):
    return gaussian.sufficient_statistics(X, posteriors, covariance_type, shift)


def _kmeans_centers(X, n_clusters, random_state):
    """k-means centres as hmmlearn initializes means (scikit-learn KMeans, n_init=10)."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=n_clusters, random_state=random_state, n_init=10).fit(X).cluster_centers_


def _check_covariances(covariances, covariance_type, shape, name="covars_"):
    covariances = np.asarray(covariances, np.float64)
    if covariances.shape != shape:
        raise ValueError(f"{name} for covariance_type={covariance_type!r} must have shape "
                         f"{shape}, got {covariances.shape}.")
    if covariance_type in ("spherical", "diag"):
        if np.any(covariances <= 0):
            raise ValueError(f"{name} ({covariance_type}) must be positive.")
    else:
        matrices = covariances.reshape((-1,) + covariances.shape[-2:])
        if not np.allclose(matrices, np.swapaxes(matrices, -1, -2)) or np.any(
                np.linalg.eigvalsh(matrices) <= 0):
            raise ValueError(f"{name} ({covariance_type}) must be symmetric positive definite; "
                             "raise the covariance prior or min_covar, or use fewer components.")
    return covariances


def _regularized(covariances, covariance_type, min_covar, dtype):
    """Covariances from an M-step, usable for the next E-step: where a state (or mixture
    component) collected too few frames for its covariance type, a variance that is not
    positive becomes ``min_covar`` and a matrix that is not positive definite, or too
    ill-conditioned for a Cholesky in ``dtype``, gets ``min_covar`` (×10 until it is) added to
    its diagonal, as hmmlearn retries its Cholesky with a ridge; each fix is logged.

    Shapes as the covariance type's (leading state / mixture axes, then the variances or the
    ``(D, D)`` matrix); well-defined covariances come back unchanged.
    """
    covariances = np.array(covariances, np.float64)
    floor = min_covar if min_covar > 0 else 1e-3
    if covariance_type in ("diag", "spherical"):
        bad = ~(covariances > 0) | ~np.isfinite(covariances)
        if np.any(bad):
            where = np.argwhere(bad)[:, :-1] if covariance_type == "diag" else np.argwhere(bad)
            _log.warning("Covariance of %s has variances that are not positive (too few frames or a "
                         "constant feature); they are set to min_covar=%g.", _which(where), floor)
            covariances = np.where(bad, floor, covariances)
        return covariances
    matrices = covariances.reshape((-1,) + covariances.shape[-2:])
    rtol = matrices.shape[-1] * np.finfo(dtype.as_numpy_dtype).eps
    bad = ~_well_conditioned(matrices, rtol)
    if np.any(bad):
        where = np.argwhere(bad.reshape(covariances.shape[:-2]))
        _log.warning("Covariance of %s is not positive definite (too few frames for a %s covariance); "
                     "min_covar=%g is added to its diagonal.", _which(where), covariance_type, floor)
        for index in np.flatnonzero(bad):
            ridge = floor
            while True:
                matrices[index] += ridge * np.eye(matrices.shape[-1])
                if _well_conditioned(matrices[index], rtol):
                    break
                ridge *= 10
    return matrices.reshape(covariances.shape)


def _well_conditioned(matrices, rtol):
    """``(...)`` bool: finite, positive definite, smallest eigenvalue above ``rtol`` × the largest."""
    finite = np.all(np.isfinite(matrices), axis=(-2, -1))
    eigenvalues = np.linalg.eigvalsh(np.where(finite[..., None, None], matrices, 0.0))
    return finite & (eigenvalues[..., 0] > rtol * np.maximum(eigenvalues[..., -1], np.finfo(float).tiny))


def _which(indices):
    """``"state #0, state #2 mixture #1"`` for rows of (state[, mixture]) indices; the tied matrix."""
    names = sorted({" mixture ".join(f"#{i}" for i in row) for row in np.atleast_2d(indices).tolist()})
    return ", ".join(f"state {name}" for name in names if name) or "the tied covariance"


def _scatter(stats, means, covariance_type):
    """``Σₙ rₙₖ (xₙ − μₖ)(xₙ − μₖ)ᵀ`` (diagonal for diag/spherical) from moments about a shift."""
    nk, sum_x, sum_xx, shift = (np.asarray(s, np.float64) for s in stats)
    d = means - shift
    if covariance_type in ("diag", "spherical"):
        return sum_xx - 2 * d * sum_x + nk[..., None] * d ** 2
    outer_dx = d[..., :, None] * sum_x[..., None, :]
    return (sum_xx - outer_dx - np.swapaxes(outer_dx, -1, -2)
            + nk[..., None, None] * d[..., :, None] * d[..., None, :])


class GaussianHMM(_BaseHMM):
    """HMM with a Gaussian emission per state.

    ``means_`` (K, D); ``covars_`` set in the compact shape of ``covariance_type``
    (spherical (K,), diag (K, D), full (K, D, D), tied (D, D)) and read back as full
    matrices (K, D, D), as hmmlearn. Priors (MAP M-step, hmmlearn's forms): means
    ``N(means_prior, covars / means_weight)``; diag/spherical variances inverse-gamma via
    ``covars_prior``, ``covars_weight``; full/tied inverse-Wishart. ``params`` /
    ``init_params`` letters: s (start), t (transitions), m (means), c (covariances).
    """

    _emission_letters = "mc"

    def __init__(self, n_components=1, covariance_type="diag", min_covar=1e-3,
                 startprob_prior=1.0, transmat_prior=1.0, means_prior=0, means_weight=0,
                 covars_prior=1e-2, covars_weight=1, algorithm="viterbi", random_state=None,
                 n_iter=10, tol=1e-2, verbose=False, params="stmc", init_params="stmc",
                 dtype="float64", jit_compile=None):
        super().__init__(n_components, startprob_prior, transmat_prior, algorithm, random_state,
                         n_iter, tol, verbose, params, init_params, dtype, jit_compile)
        self.covariance_type = covariance_type
        self.min_covar = min_covar
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight

    @property
    def covars_(self):
        """Covariance matrices of all states, shape (K, D, D)."""
        covars, K = self._covars_, self.n_components
        if self.covariance_type == "full":
            return covars
        if self.covariance_type == "tied":
            return np.broadcast_to(covars, (K,) + covars.shape).copy()
        D = self.means_.shape[1]
        variances = covars if self.covariance_type == "diag" else covars[:, None] * np.ones(D)
        return variances[:, :, None] * np.eye(D)

    @covars_.setter
    def covars_(self, covars):
        covars = np.array(covars, np.float64)
        if self.covariance_type == "spherical" and covars.ndim > 1 and covars.size == self.n_components:
            covars = covars.reshape(self.n_components)  # K variances in any shape, as hmmlearn
        self._covars_ = covars

    def _check_hyperparameters(self):
        super()._check_hyperparameters()
        gaussian.check_covariance_type(self.covariance_type)

    def _check_X(self, X):
        return _check_float_X(X)

    def _init_emissions(self, X, lengths):
        if self._needs_init("m", "means_"):
            self.means_ = _kmeans_centers(X, self.n_components, self.random_state)
        if self._needs_init("c", "_covars_"):
            cv = np.atleast_2d(np.cov(X.T)) + self.min_covar * np.eye(X.shape[1])
            K = self.n_components
            self._covars_ = {"full": np.tile(cv, (K, 1, 1)), "tied": cv,
                             "diag": np.tile(np.diag(cv), (K, 1)),
                             "spherical": np.full(K, np.diag(cv).mean())}[self.covariance_type]

    def _check_emissions(self):
        if not hasattr(self, "means_") or not hasattr(self, "_covars_"):
            raise ValueError("means_ and covars_ must be set (or 'm'/'c' in init_params).")
        self.means_ = np.asarray(self.means_, np.float64)
        if self.means_.ndim != 2 or self.means_.shape[0] != self.n_components:
            raise ValueError(f"means_ must have shape (n_components={self.n_components}, "
                             f"n_features), got {self.means_.shape}.")
        self.n_features = self.means_.shape[1]
        shape = gaussian.covariance_shape(self.covariance_type, self.n_components, self.n_features)
        self._covars_ = _check_covariances(self._covars_, self.covariance_type, shape)

    def _variances(self):
        """``(K, D)`` variances of diagonal or spherical covariances."""
        if self.covariance_type == "diag":
            return self._covars_
        return np.repeat(self._covars_[:, None], self.means_.shape[1], axis=1)

    def _log_frameprob(self, X):
        if not getattr(self, "_xla_pass", True) and self.covariance_type in ("diag", "spherical"):
            design = hmm_numpy.diagonal_design_rows(X)
            log_prob = hmm_numpy.diagonal_gaussian_log_prob(design.T, self.means_, self._variances())
            return log_prob.T.astype(X.dtype)
        return self._run(_gaussian_log_prob, X, tf.constant(self.means_, X.dtype),
                         tf.constant(self._covars_, X.dtype), self.covariance_type)

    def _numpy_log_frameprob(self, data):
        if self.covariance_type not in ("diag", "spherical"):
            return super()._numpy_log_frameprob(data)
        return hmm_numpy.diagonal_gaussian_log_prob(data.diagonal_design(self.n_components), self.means_,
                                                    self._variances())

    def _numpy_emission_statistics(self, data, posteriors):
        if self.covariance_type not in ("diag", "spherical"):
            return super()._numpy_emission_statistics(data, posteriors)
        return gaussian.SufficientStatistics(*hmm_numpy.diagonal_statistics(
            data.diagonal_design(self.n_components), posteriors, self.means_), self.means_)

    def _statistics_type(self):
        return "diag" if self.covariance_type == "spherical" else self.covariance_type

    def _emission_statistics(self, X, posteriors):
        if not getattr(self, "_xla_pass", True) and self.covariance_type in ("diag", "spherical"):
            design = hmm_numpy.diagonal_design_rows(X)  # rows as one slot per piece: (1, C, N)
            return gaussian.SufficientStatistics(*hmm_numpy.diagonal_statistics(
                design.T[np.newaxis], np.asarray(posteriors).T[np.newaxis], self.means_), self.means_)
        stats = self._run(_gaussian_statistics, X, posteriors, tf.constant(self.means_, X.dtype),
                          self._statistics_type())
        return gaussian.SufficientStatistics(*(np.asarray(s, np.float64) for s in stats))

    def _emission_m_step(self, stats):
        """MAP means and covariances (hmmlearn's forms; see Huang, Acero & Hon, pp. 443-445).

        ``μₖ = (w₀ m₀ + Σₙ γₙₖ xₙ) / (w₀ + Nₖ)``; diag: ``σ²ₖ = (c₀ + w₀ (μₖ − m₀)² +
        Σₙ γₙₖ (xₙ − μₖ)²) / (max(c_w − 1, 0) + Nₖ)``; spherical averages that over features;
        full: ``Σₖ = (Ψ + w₀ (μₖ − m₀)(μₖ − m₀)ᵀ + Sₖ) / (max(c_w − D, 0) + Nₖ)``; tied sums
        numerator and denominator over states.
        """
        nk = stats.nk
        K, D = self.means_.shape
        means_weight = np.reshape(np.broadcast_to(self.means_weight, (K,)), (K, 1))
        if "m" in self.params:
            means = (means_weight * self.means_prior + stats.sum_x + nk[:, None] * stats.shift) / (
                means_weight + nk[:, None])
            self.means_ = np.where(means_weight + nk[:, None] > 0, means, self.means_)
        if "c" not in self.params:
            return
        scatter = _scatter(stats, self.means_, self._statistics_type())
        offset = self.means_ - self.means_prior
        covars_weight = np.broadcast_to(self.covars_weight, (K,))
        if self.covariance_type in ("diag", "spherical"):
            numerator = self.covars_prior + means_weight * offset ** 2 + scatter
            denominator = np.maximum(np.maximum(covars_weight - 1, 0)[:, None] + nk[:, None], 1e-5)
            variances = numerator / denominator
            covars = variances if self.covariance_type == "diag" else variances.mean(axis=1)
        else:
            numerator = (means_weight[:, :, None] * offset[:, :, None] * offset[:, None, :] + scatter)
            weight = np.maximum(covars_weight - D, 0)
            if self.covariance_type == "tied":
                covars = (self.covars_prior + numerator.sum(0)) / (weight.mean() + nk.sum())
            else:
                covars = (self.covars_prior + numerator) / (weight + nk)[:, None, None]
        self._covars_ = _regularized(covars, self.covariance_type, self.min_covar, self._tf_dtype)

    def _emission_parameter_counts(self):
        K, D = self.n_components, self.n_features
        return {"m": K * D,
                "c": gaussian.n_covariance_parameters(self.covariance_type, K, D)}

    def _sample_emissions(self, states, rng):
        chol = np.linalg.cholesky(self.covars_)
        noise = rng.standard_normal((len(states), self.n_features))
        return self.means_[states] + np.einsum("nij,nj->ni", chol[states], noise)

    def to_keras(self):
        """This HMM as a :class:`~tfspeech.probabilistic.hmm_keras.GaussianHMMDensity` (float32)."""
        self._check_fitted()
        self._check()
        model = GaussianHMMDensity(self.n_components, self.n_features, self.covariance_type)
        model.set_hmm(self.startprob_, self.transmat_, self.means_, self._covars_)
        return model

    @classmethod
    def from_keras(cls, model, **kwargs):
        """A GaussianHMM with the parameters of a ``GaussianHMMDensity`` (``kwargs`` go to the
        constructor; ``init_params`` defaults to ``""`` so a later ``fit`` starts from them)."""
        hmm = cls(model.n_components, model.covariance_type, **{"init_params": "", **kwargs})
        hmm.startprob_, hmm.transmat_, hmm.means_, hmm.covars_ = model.hmm()
        hmm._check()
        return hmm

    def _observation_distribution(self):
        dtype = self._tf_dtype
        return tfd.MultivariateNormalTriL(loc=tf.constant(self.means_, dtype),
                                          scale_tril=tf.constant(np.linalg.cholesky(self.covars_), dtype))


# -------------------------------------------------------------------------- Categorical
@tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
def _categorical_log_prob(X, log_emissionprob):
    return tf.gather(tf.transpose(log_emissionprob), X[:, 0])


@tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
def _categorical_counts(X, posteriors, n_symbols):
    return tf.transpose(tf.math.unsorted_segment_sum(posteriors, X[:, 0], n_symbols))


class CategoricalHMM(_BaseHMM):
    """HMM with categorical (discrete symbol) emissions; X is (n_samples, 1) of ints 0..n_features−1.

    ``emissionprob_`` (K, n_features), Dirichlet prior ``emissionprob_prior`` (MAP M-step by
    the same Lagrange-multiplier form as the transition rows). Letters: s, t, e.
    """

    _emission_letters = "e"

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0, *,
                 emissionprob_prior=1.0, n_features=None, algorithm="viterbi",
                 random_state=None, n_iter=10, tol=1e-2, verbose=False, params="ste",
                 init_params="ste", dtype="float64", jit_compile=None):
        super().__init__(n_components, startprob_prior, transmat_prior, algorithm, random_state,
                         n_iter, tol, verbose, params, init_params, dtype, jit_compile)
        self.emissionprob_prior = emissionprob_prior
        self.n_features = n_features

    def _check_X(self, X):
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[1] != 1:
            raise ValueError(f"CategoricalHMM takes X of shape (n_samples, 1), got {X.shape}.")
        if X.shape[0] == 0:
            raise ValueError("X has no rows.")
        if not np.issubdtype(X.dtype, np.integer):
            raise ValueError(f"CategoricalHMM symbols must be integers, got dtype {X.dtype}; "
                             "map labels to 0..n-1 (e.g. sklearn's LabelEncoder).")
        if X.min() < 0:
            raise ValueError(f"Symbols must be non-negative; rows {np.flatnonzero(X[:, 0] < 0)[:10].tolist()} are not.")
        if self.n_features is not None and X.max() >= self.n_features:
            raise ValueError(f"Largest symbol is {X.max()} but the model emits symbols up to "
                             f"{self.n_features - 1} (n_features={self.n_features}).")
        return X.astype(np.int64)

    def _check_n_features(self, n_features):
        """Categorical X always has one column; the symbol range is checked in ``_check_X``."""

    def _init(self, X, lengths):
        if self.n_features is None:
            self.n_features = int(X.max()) + 1
        super()._init(X, lengths)

    def _init_emissions(self, X, lengths):
        if self._needs_init("e", "emissionprob_"):
            self.emissionprob_ = _normalize(self._rng().rand(self.n_components, self.n_features))

    def _check_emissions(self):
        if not hasattr(self, "emissionprob_"):
            raise ValueError("emissionprob_ must be set (or 'e' in init_params).")
        self.emissionprob_ = np.atleast_2d(np.asarray(self.emissionprob_, np.float64))
        if self.n_features is None:
            self.n_features = self.emissionprob_.shape[1]
        if self.emissionprob_.shape != (self.n_components, self.n_features):
            raise ValueError(f"emissionprob_ must have shape ({self.n_components}, "
                             f"{self.n_features}), got {self.emissionprob_.shape}.")
        if np.any(self.emissionprob_ < 0) or not np.allclose(self.emissionprob_.sum(1), 1):
            raise ValueError("emissionprob_ rows must be non-negative and sum to 1.")

    def _log_frameprob(self, X):
        with np.errstate(divide="ignore"):
            return self._run(_categorical_log_prob, X, tf.constant(np.log(self.emissionprob_), self._tf_dtype))

    def _emission_statistics(self, X, posteriors):
        return self._run(_categorical_counts, X, posteriors, self.n_features).numpy().astype(np.float64)

    def _emission_m_step(self, counts):
        if "e" in self.params:
            numerator = np.maximum(self.emissionprob_prior - 1 + counts, 0)
            empty = numerator.sum(axis=1, keepdims=True) == 0  # an unvisited state keeps its row
            self.emissionprob_ = np.where(empty, self.emissionprob_, _normalize(numerator))

    def _emission_parameter_counts(self):
        return {"e": self.n_components * (self.n_features - 1)}

    def _sample_emissions(self, states, rng):
        cumulative = np.cumsum(self.emissionprob_[states], axis=1)
        symbols = (cumulative < rng.random((len(states), 1))).sum(axis=1)
        return np.minimum(symbols, self.n_features - 1)[:, None]

    def _observation_distribution(self):
        return tfd.Categorical(probs=tf.constant(self.emissionprob_, self._tf_dtype))


# ------------------------------------------------------------------------------ GMM-HMM
@tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
def _mixture_log_prob(X, log_weights, means, covariances, covariance_type):
    """(N, K) state log-densities and (N, K, M) within-state component log-posteriors."""
    n_states, n_mix = tf.shape(log_weights)[0], tf.shape(log_weights)[1]
    joint = gaussian.log_prob(X, means, covariances, covariance_type)
    joint = tf.reshape(joint, [-1, n_states, n_mix]) + log_weights
    state = tf.reduce_logsumexp(joint, axis=-1)
    return state, joint - state[..., tf.newaxis]


@tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
def _mixture_statistics(X, posteriors, log_weights, means, covariances, covariance_type,
                        statistics_type):
    _, component = _mixture_log_prob.python_function(X, log_weights, means, covariances,
                                                     covariance_type)
    resp = posteriors[..., tf.newaxis] * tf.exp(component)  # (N, K, M)
    resp = tf.reshape(resp, [tf.shape(X)[0], -1])
    return gaussian.sufficient_statistics(X, resp, statistics_type, means)


class GMMHMM(_BaseHMM):
    """HMM whose states emit Gaussian mixtures of ``n_mix`` components.

    ``weights_`` (K, M), ``means_`` (K, M, D), ``covars_`` spherical (K, M), diag (K, M, D),
    full (K, M, D, D), tied (K, D, D) (one matrix per state shared by its components), as
    hmmlearn. Letters: s, t, m, c, w. Priors as hmmlearn's GMMHMM (Dirichlet on weights,
    Normal on means, inverse-gamma / inverse-Wishart on covariances); the default
    covariance priors give maximum likelihood. Unlike hmmlearn 0.3, the covariance update
    uses the scatter about the *updated* means, which is the exact M-step (hmmlearn uses
    the previous means; trajectories agree whenever means or covariances are held fixed).
    """

    _emission_letters = "mcw"

    def __init__(self, n_components=1, n_mix=1, min_covar=1e-3, startprob_prior=1.0,
                 transmat_prior=1.0, weights_prior=1.0, means_prior=0.0, means_weight=0.0,
                 covars_prior=None, covars_weight=None, algorithm="viterbi",
                 covariance_type="diag", random_state=None, n_iter=10, tol=1e-2,
                 verbose=False, params="stmcw", init_params="stmcw", dtype="float64", jit_compile=None):
        super().__init__(n_components, startprob_prior, transmat_prior, algorithm, random_state,
                         n_iter, tol, verbose, params, init_params, dtype, jit_compile)
        self.n_mix = n_mix
        self.min_covar = min_covar
        self.covariance_type = covariance_type
        self.weights_prior = weights_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight

    def _check_X(self, X):
        return _check_float_X(X)

    def _check_hyperparameters(self):
        super()._check_hyperparameters()
        gaussian.check_covariance_type(self.covariance_type)

    def _covariance_shape(self):
        K, M, D = self.n_components, self.n_mix, self.n_features
        return {"spherical": (K, M), "diag": (K, M, D), "full": (K, M, D, D),
                "tied": (K, D, D)}[self.covariance_type]

    def _init_emissions(self, X, lengths):
        K, M, D = self.n_components, self.n_mix, self.n_features
        rng = self._rng()
        cv = np.atleast_2d(np.cov(X.T)) + self.min_covar * np.eye(D)
        if self._needs_init("m", "means_"):
            from sklearn.cluster import KMeans

            labels = KMeans(n_clusters=K, random_state=self.random_state, n_init=10).fit_predict(X)
            centre = X.mean(axis=0)
            self.means_ = np.stack([
                _kmeans_centers(X[labels == k], M, self.random_state) if np.sum(labels == k) >= M
                else rng.multivariate_normal(centre, cv, size=M) for k in range(K)])
        if self._needs_init("w", "weights_"):
            self.weights_ = np.full((K, M), 1.0 / M)
        if self._needs_init("c", "covars_"):
            self.covars_ = {"spherical": np.full((K, M), cv.mean()),
                            "diag": np.broadcast_to(np.diag(cv), (K, M, D)).copy(),
                            "full": np.broadcast_to(cv, (K, M, D, D)).copy(),
                            "tied": np.broadcast_to(cv, (K, D, D)).copy()}[self.covariance_type]

    def _check_emissions(self):
        for name in ("weights_", "means_", "covars_"):
            if not hasattr(self, name):
                raise ValueError(f"{name} must be set (or its letter in init_params).")
        K, M = self.n_components, self.n_mix
        self.means_ = np.asarray(self.means_, np.float64)
        if self.means_.ndim != 3 or self.means_.shape[:2] != (K, M):
            raise ValueError(f"means_ must have shape (n_components={K}, n_mix={M}, n_features), "
                             f"got {self.means_.shape}.")
        self.n_features = self.means_.shape[2]
        self.weights_ = np.asarray(self.weights_, np.float64)
        if self.weights_.shape != (K, M) or np.any(self.weights_ < 0) or not np.allclose(
                self.weights_.sum(1), 1):
            raise ValueError(f"weights_ must have shape ({K}, {M}) with non-negative rows "
                             "summing to 1.")
        self.covars_ = _check_covariances(self.covars_, self.covariance_type,
                                          self._covariance_shape())

    def _priors(self):
        """Priors broadcast to parameter shapes; defaults give maximum likelihood."""
        K, M, D = self.n_components, self.n_mix, self.n_features
        default_prior, default_weight = {
            "full": (0.0, -(1.0 + D + 1.0)), "tied": (0.0, -(M + D + 1.0)),
            "diag": (-1.5, 0.0), "spherical": (-(D + 2.0) / 2.0, 0.0)}[self.covariance_type]
        prior = default_prior if self.covars_prior is None else self.covars_prior
        weight = default_weight if self.covars_weight is None else self.covars_weight
        prior_shape, weight_shape = {
            "full": ((K, M, D, D), (K, M)), "tied": ((K, D, D), (K,)),
            "diag": ((K, M, D), (K, M, D)), "spherical": ((K, M), (K, M))}[self.covariance_type]
        return (np.broadcast_to(self.weights_prior, (K, M)),
                np.broadcast_to(self.means_prior, (K, M, D)),
                np.broadcast_to(self.means_weight, (K, M)),
                np.broadcast_to(prior, prior_shape), np.broadcast_to(weight, weight_shape))

    def _flat_components(self, dtype):
        """Means (K·M, D) and covariances of all components as one Gaussian family."""
        K, M, D = self.n_components, self.n_mix, self.n_features
        covars = self.covars_
        if self.covariance_type == "tied":
            covars = np.broadcast_to(covars[:, None], (K, M, D, D))
        flat_type = "full" if self.covariance_type == "tied" else self.covariance_type
        covars = np.reshape(covars, (K * M,) + np.shape(covars)[2:])
        with np.errstate(divide="ignore"):
            log_weights = tf.constant(np.log(self.weights_), dtype)
        return (log_weights, tf.constant(self.means_.reshape(K * M, D), dtype),
                tf.constant(covars, dtype), flat_type)

    def _log_frameprob(self, X):
        return self._run(_mixture_log_prob, X, *self._flat_components(X.dtype))[0]

    def _emission_statistics(self, X, posteriors):
        log_weights, means, covars, flat_type = self._flat_components(X.dtype)
        statistics_type = "diag" if flat_type == "spherical" else flat_type
        stats = self._run(_mixture_statistics, X, posteriors, log_weights, means, covars, flat_type,
                          statistics_type)
        K, M = self.n_components, self.n_mix
        return gaussian.SufficientStatistics(
            *(np.asarray(s, np.float64).reshape((K, M) + tuple(s.shape[1:])) for s in stats))

    def _emission_m_step(self, stats):
        """MAP weights (Lagrange multipliers), means and covariances, hmmlearn's prior forms."""
        weights_prior, means_prior, means_weight, covars_prior, covars_weight = self._priors()
        nk = stats.nk  # (K, M)
        D, M = self.n_features, self.n_mix
        if "w" in self.params:
            numerator = nk + weights_prior - 1
            total = numerator.sum(axis=1, keepdims=True)  # 0 for an unvisited state: keep its row
            self.weights_ = np.where(total > 0, numerator / np.where(total > 0, total, 1), self.weights_)
        if "m" in self.params:
            denominator = nk + means_weight
            numerator = means_weight[..., None] * means_prior + stats.sum_x + nk[..., None] * stats.shift
            self.means_ = np.where(denominator[..., None] > 0,
                                   numerator / np.where(denominator > 0, denominator, 1)[..., None],
                                   self.means_)
        if "c" not in self.params:
            return
        statistics_type = {"spherical": "diag", "tied": "full"}.get(self.covariance_type,
                                                                     self.covariance_type)
        scatter = _scatter(stats, self.means_, statistics_type)
        offset = self.means_ - means_prior
        # With the default (maximum-likelihood) priors a denominator is the component's expected
        # count, 0 for a component no frame visits: it keeps its covariance, as its mean is kept.
        if self.covariance_type == "full":
            numerator = (covars_prior + means_weight[..., None, None] * offset[..., :, None]
                         * offset[..., None, :] + scatter)
            denominator = (nk + 1 + covars_weight + D + 1)[..., None, None]
        elif self.covariance_type == "tied":
            numerator = covars_prior + np.einsum(
                "km,kmi,kmj->kij", means_weight, offset, offset) + scatter.sum(axis=1)
            denominator = (nk.sum(1) + M + covars_weight + D + 1)[:, None, None]
        elif self.covariance_type == "diag":
            numerator = means_weight[..., None] * offset ** 2 + 2 * covars_weight + scatter
            denominator = nk[..., None] + 1 + 2 * (covars_prior + 1)
        else:
            numerator = (means_weight * (offset ** 2).sum(-1) + 2 * covars_weight
                         + scatter.sum(-1))
            denominator = D * (nk + 1) + 2 * (covars_prior + 1)
        denominator = np.broadcast_to(denominator, numerator.shape)
        covars = np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), self.covars_)
        self.covars_ = _regularized(covars, self.covariance_type, self.min_covar, self._tf_dtype)

    def _emission_parameter_counts(self):
        K, M, D = self.n_components, self.n_mix, self.n_features
        return {"m": K * M * D,
                "c": {"spherical": K * M, "diag": K * M * D, "full": K * M * D * (D + 1) // 2,
                      "tied": K * D * (D + 1) // 2}[self.covariance_type],
                "w": K * (M - 1)}

    def _full_covariances(self):
        """(K, M, D, D) covariance matrices of every component."""
        K, M, D = self.n_components, self.n_mix, self.n_features
        covars = self.covars_
        if self.covariance_type == "tied":
            return np.broadcast_to(covars[:, None], (K, M, D, D))
        if self.covariance_type == "full":
            return covars
        variances = covars if self.covariance_type == "diag" else covars[..., None] * np.ones(D)
        return variances[..., :, None] * np.eye(D)

    def to_keras(self):
        """This HMM as a :class:`~tfspeech.probabilistic.hmm_keras.DiagonalGMMHMMDensity` (float32);
        ``"diag"`` and ``"spherical"`` covariances only."""
        self._check_fitted()
        self._check()
        if self.covariance_type not in ("diag", "spherical"):
            raise ValueError(f"to_keras supports diagonal covariances; this GMMHMM has covariance_type="
                             f"{self.covariance_type!r} (fit with covariance_type='diag')")
        variances = np.broadcast_to(self.covars_[..., None] if self.covariance_type == "spherical" else self.covars_,
                                    self.means_.shape)
        model = DiagonalGMMHMMDensity(self.n_components, self.n_mix, self.n_features)
        model.set_gmm_hmm(self.startprob_, self.transmat_, self.weights_, self.means_, variances)
        return model

    def _sample_emissions(self, states, rng):
        cumulative = np.cumsum(self.weights_[states], axis=1)
        mix = np.minimum((cumulative < rng.random((len(states), 1))).sum(axis=1), self.n_mix - 1)
        chol = np.linalg.cholesky(self._full_covariances())[states, mix]
        noise = rng.standard_normal((len(states), self.n_features))
        return self.means_[states, mix] + np.einsum("nij,nj->ni", chol, noise)

    def _observation_distribution(self):
        dtype = self._tf_dtype
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(probs=tf.constant(self.weights_, dtype)),
            components_distribution=tfd.MultivariateNormalTriL(
                loc=tf.constant(self.means_, dtype),
                scale_tril=tf.constant(np.linalg.cholesky(self._full_covariances()), dtype)))
