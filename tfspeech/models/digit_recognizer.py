"""Isolated-word recognizer: one GMM-HMM per word over MFCC frames, as one Keras model.

:func:`digit_features` turns a waveform into the frames the model reads (13 MFCCs from a
40-band log-mel spectrogram plus their deltas, 10 ms hop, per-utterance mean removed);
:class:`DigitRecognizer` scores them under every word's HMM, whose states emit a mixture of
``n_mix`` diagonal Gaussians (:class:`~tfspeech.probabilistic.hmm_keras.DiagonalGMMHMMDensity`; ``n_mix=1`` is the
single-Gaussian :class:`~tfspeech.probabilistic.hmm_keras.GaussianHMMDensity`). The
recognized word is the argmax of the per-word log-likelihoods (equal word priors).
"""

import keras
import librosa
import numpy as np
import tensorflow as tf

from tfspeech.audio import MelConfig, log_mel_spectrogram
from tfspeech.losses.replicas import replica_share
from tfspeech.probabilistic.hmm_keras import DiagonalGMMHMMDensity, GaussianHMMDensity

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: 23 ms windows, 10 ms hop at the corpus rate (22,050 Hz), 40 mel bands up to 8 kHz.
FEATURE_MEL = MelConfig(sample_rate=22050, n_fft=512, hop_length=220, win_length=512, n_mels=40)
N_MFCC = 13
N_FEATURES = 2 * N_MFCC  # MFCCs and their deltas
#: Leading/trailing audio quieter than this (dB below the peak) is cut before analysis.
TRIM_TOP_DB = 30


def digit_features(waveform, sample_rate=FEATURE_MEL.sample_rate):
    """``waveform (samples,)`` float in [-1, 1] → frames ``(T, 26)`` float32.

    Silence at both ends is trimmed (librosa), then 13 MFCCs
    (``tf.signal.mfccs_from_log_mel_spectrograms``) and their deltas
    (``(c[t+1] - c[t-1]) / 2``, edges repeated) are stacked, and each dimension's mean over
    the utterance is subtracted (cepstral mean normalization).
    """
    if sample_rate != FEATURE_MEL.sample_rate:
        raise ValueError(f"digit_features needs {FEATURE_MEL.sample_rate} Hz audio, got {sample_rate} Hz; "
                         "resample it first (tfspeech.audio.load(path, sample_rate=22050))")
    waveform = np.asarray(waveform, np.float32)
    if waveform.ndim != 1 or not np.isfinite(waveform).all():
        raise ValueError(f"expected a finite mono waveform of shape (samples,), got shape {waveform.shape}")
    trimmed, _ = librosa.effects.trim(waveform, top_db=TRIM_TOP_DB)
    if len(trimmed) < FEATURE_MEL.min_samples:
        raise ValueError(f"the waveform holds {len(trimmed)} non-silent samples; a spoken word needs "
                         f"at least {FEATURE_MEL.min_samples}")
    mfcc = tf.signal.mfccs_from_log_mel_spectrograms(log_mel_spectrogram(trimmed, FEATURE_MEL))[:, :N_MFCC]
    padded = tf.concat([mfcc[:1], mfcc, mfcc[-1:]], axis=0)
    frames = tf.concat([mfcc, (padded[2:] - padded[:-2]) / 2], axis=-1)
    return (frames - tf.reduce_mean(frames, axis=0)).numpy()


@keras.saving.register_keras_serializable(package="tfspeech")
class DigitRecognizer(keras.Model):
    """``call(features (batch, T, n_features), mask=None) -> log p(features | word) (batch, n_words)``.

    Holds one HMM per word, in the order of ``words``: ``n_states`` states each emitting a
    mixture of ``n_mix`` Gaussians. ``n_mix=1``: a
    :class:`~tfspeech.probabilistic.hmm_keras.GaussianHMMDensity` (``covariance_type`` emissions;
    the layout of presets saved before ``n_mix`` existed); ``n_mix > 1``: a
    :class:`DiagonalGMMHMMDensity` (``covariance_type`` must be ``"diag"``). A ``mask``
    (batch, T) skips padding frames. ``model.fit(features, word_index)`` lowers each
    utterance's negative log-likelihood per frame under its own word's HMM (maximum
    likelihood, as EM; not discriminative).
    """

    def __init__(self, words=DIGITS, n_states=6, n_features=N_FEATURES, covariance_type="diag", n_mix=1,
                 **kwargs):
        super().__init__(**kwargs)
        self.words = tuple(str(word) for word in words)
        if len(self.words) < 2 or len(set(self.words)) != len(self.words):
            raise ValueError(f"words must be at least two distinct labels, got {self.words}")
        self.n_states = int(n_states)
        self.n_features = int(n_features)
        self.covariance_type = covariance_type
        self.n_mix = int(n_mix)
        if self.n_mix < 1:
            raise ValueError(f"n_mix must be a positive number of mixture components, got {n_mix}")
        if self.n_mix > 1 and covariance_type != "diag":
            raise ValueError(f"mixtures (n_mix={self.n_mix}) need covariance_type='diag', got "
                             f"{covariance_type!r}; use n_mix=1 for other covariance types")
        if self.n_mix == 1:
            self.word_hmms = [GaussianHMMDensity(self.n_states, self.n_features, covariance_type, name=f"hmm_{i}")
                              for i in range(len(self.words))]
        else:
            self.word_hmms = [DiagonalGMMHMMDensity(self.n_states, self.n_mix, self.n_features, name=f"hmm_{i}")
                              for i in range(len(self.words))]
        self.supports_masking = True
        self.built = True

    def set_word_hmms(self, hmms):
        """Copies fitted estimators, one per word in order: :class:`~tfspeech.probabilistic.GMMHMM`
        (``n_mix`` components, diag), or :class:`~tfspeech.probabilistic.GaussianHMM` when ``n_mix=1``."""
        if len(hmms) != len(self.words):
            raise ValueError(f"got {len(hmms)} HMMs for {len(self.words)} words {self.words}")
        for density, hmm in zip(self.word_hmms, hmms):
            n_mix = getattr(hmm, "n_mix", 1)
            if (hmm.n_components, n_mix, hmm.n_features, hmm.covariance_type) != (
                    self.n_states, self.n_mix, self.n_features, self.covariance_type):
                raise ValueError(f"an HMM has {hmm.n_components} states, {n_mix} mixture components, "
                                 f"{hmm.n_features} features, {hmm.covariance_type!r} covariances; this model "
                                 f"needs {self.n_states}, {self.n_mix}, {self.n_features}, {self.covariance_type!r}")
            if hasattr(hmm, "n_mix") and hmm.covariance_type != "diag":
                raise ValueError(f"GMMHMM estimators must have covariance_type='diag', got {hmm.covariance_type!r}")
            if not hasattr(hmm, "n_mix"):
                density.set_hmm(hmm.startprob_, hmm.transmat_, hmm.means_, hmm._covars_)
            elif self.n_mix == 1:
                density.set_hmm(hmm.startprob_, hmm.transmat_, hmm.means_[:, 0], hmm.covars_[:, 0])
            else:
                density.set_gmm_hmm(hmm.startprob_, hmm.transmat_, hmm.weights_, hmm.means_, hmm.covars_)

    def _check_features(self, features):
        features = tf.convert_to_tensor(features, tf.float32)
        if features.shape.rank != 3 or features.shape[-1] not in (None, self.n_features):
            raise ValueError(f"expected features (batch, T, {self.n_features}) from digit_features, "
                             f"got shape {features.shape}")
        return features

    def call(self, features, mask=None):
        features = self._check_features(features)
        return tf.stack([hmm(features, mask=mask) for hmm in self.word_hmms], axis=-1)

    def compute_mask(self, inputs, mask=None):
        """The output (scores per word) carries no mask."""
        return None

    def viterbi(self, features):
        """Best word and its state path: ``(word (batch,) int32, states (batch, T) int32,
        log_prob (batch, n_words))``, ``log_prob`` being each word's best-path log-probability."""
        features = self._check_features(features)
        paths = [hmm.viterbi(features) for hmm in self.word_hmms]
        log_prob = tf.stack([log_p for log_p, _ in paths], axis=-1)
        states = tf.stack([path for _, path in paths], axis=1)  # (batch, n_words, T)
        word = tf.argmax(log_prob, axis=-1, output_type=tf.int32)
        return word, tf.gather(states, word, batch_dims=1), log_prob

    def predict_words(self, features, mask=None):
        """Recognized word labels, a list of ``batch`` strings."""
        scores = self(features, mask=mask)
        return [self.words[i] for i in np.argmax(np.asarray(scores), axis=-1)]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Negative log-likelihood per frame under the true word's HMM (``y``: word indices (batch,))."""
        if y is None:
            raise ValueError("fit needs the word index of every utterance as y, e.g. model.fit(features, word_ids)")
        true_word = tf.gather(y_pred, tf.cast(tf.reshape(y, [-1]), tf.int32), batch_dims=1)
        nll = -true_word / tf.cast(tf.shape(x)[1], y_pred.dtype)
        if sample_weight is not None:
            sample_weight = tf.cast(tf.reshape(sample_weight, [-1]), nll.dtype)
            return replica_share(tf.reduce_sum(nll * sample_weight) / tf.reduce_sum(sample_weight))
        return replica_share(tf.reduce_mean(nll))

    def default_compile_args(self):
        """How ``tfspeech.zoo.load`` compiles it for fine-tuning."""
        return {"optimizer": keras.optimizers.Adam(1e-3)}

    def export_signatures(self):
        """``score``: ``features (None, None, n_features) -> log_likelihood (None, n_words)``;
        ``viterbi``: ``features -> word (None,), states (None, None), log_prob (None, n_words)``."""
        spec = tf.TensorSpec([None, None, self.n_features], tf.float32, name="features")

        def viterbi(features):
            word, states, log_prob = self.viterbi(features)
            return {"word": word, "states": states, "log_prob": log_prob}

        return {"score": tf.function(lambda features: {"log_likelihood": self(features)}, input_signature=[spec]),
                "viterbi": tf.function(viterbi, input_signature=[spec])}

    def representative_data(self):
        """``{signature: features}`` walking each word's states in order, for export parity checks."""
        rng = np.random.default_rng(0)
        samples = []
        for hmm in self.word_hmms[:4]:
            means = np.asarray(hmm.means).reshape(self.n_states, -1, self.n_features)[:, 0]  # first component
            states = np.repeat(np.arange(self.n_states), 5)
            samples.append((means[states] + 0.3 * rng.standard_normal((1, len(states), self.n_features)))
                           .astype(np.float32))
        return {"score": samples, "viterbi": samples}

    def get_config(self):
        return {**super().get_config(), "words": list(self.words), "n_states": self.n_states,
                "n_features": self.n_features, "covariance_type": self.covariance_type, "n_mix": self.n_mix}
