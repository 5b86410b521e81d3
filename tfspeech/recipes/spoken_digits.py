"""Recipe for the ``spoken-digits`` preset: "zero" … "nine" recognized by one GMM-HMM per word.

    python -m tfspeech.recipes.spoken_digits                    # synthesize, cross-validate, train, evaluate, save
    python -m tfspeech.recipes.spoken_digits --evaluate         # re-measure the saved preset
    python -m tfspeech.recipes.spoken_digits --cross-validate   # only the model-selection table

Data: ``tfspeech.data.corpus.build_corpus`` has every voice of ``TRAIN_VOICES`` and
``HELD_OUT_VOICES`` speak the ten words once (a sentences file of ten lines). Features are
:func:`~tfspeech.models.digit_recognizer.digit_features` (MFCC + deltas, mean removed).
Model selection: the number of states and of Gaussians per state (``N_STATES_GRID`` x
``N_MIX_GRID``) by leave-voices-out cross-validation over ``TRAIN_VOICES`` alone
(:func:`cross_validate`); ``HELD_OUT_VOICES`` only measure the final model.
Each word's :class:`~tfspeech.probabilistic.GMMHMM` (diagonal covariances, left-to-right:
state 0 first, self-loop or next state) starts from a uniform segmentation of its
utterances with k-means inside each state and is refined by EM; the ten HMMs become one
:class:`~tfspeech.models.digit_recognizer.DigitRecognizer`.
"""

import argparse
import hashlib
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

PRESET_NAME = "spoken-digits"
ZOO = Path(__file__).resolve().parents[2] / "zoo"
TRAIN_COMMAND = "python -m tfspeech.recipes.spoken_digits"
EVALUATE_COMMAND = "python -m tfspeech.recipes.spoken_digits --evaluate"
CROSS_VALIDATE_COMMAND = "python -m tfspeech.recipes.spoken_digits --cross-validate"
CONFUSION_FILE = "confusion.png"
#: Model selection grid (states per word HMM x Gaussians per state) and its voice folds.
N_STATES_GRID = (4, 6, 8)
N_MIX_GRID = (1, 2, 3, 4)
N_FOLDS = 5
#: ``covars_prior=-1.5, covars_weight=0.005`` make GMMHMM's diagonal M-step
#: ``σ² = (Σ γ (x − μ)² + 0.01) / Σ γ``: GaussianHMM's default prior, which trained the
#: single-Gaussian preset, so ``n_mix=1`` repeats that fit.
EM_SETTINGS = dict(covariance_type="diag", n_iter=30, tol=1e-3, min_covar=1e-3, covars_prior=-1.5,
                   covars_weight=0.005, random_state=0, dtype="float64")

#: The 18 voices of the first (single-Gaussian) preset, then 20 more: Festival's diphone voices,
#: flite's 8 kHz kal, new pitch/speed settings, and espeak dialects and variants. None is a
#: held-out voice or a variant of a held-out espeak dialect (en-gb-x-rp, en-us-nyc).
TRAIN_VOICES = (
    "festival:cmu_us_slt_arctic_hts",
    "festival:cmu_us_slt_arctic_hts:pitch=-5:speed=1.1",
    "flite:kal16", "flite:awb", "flite:rms", "flite:slt",
    "flite:kal16:pitch=-3:speed=1.2", "flite:slt:pitch=3:speed=0.85", "flite:awb:pitch=4:speed=0.9",
    "flite:rms:pitch=2:speed=1.15",
    "espeak:en-us", "espeak:en-gb", "espeak:en-us+m3", "espeak:en-gb-scotland", "espeak:en-029",
    "espeak:en-us+f2:pitch=2:speed=0.8", "espeak:en-gb+m3:pitch=-4:speed=1.3",
    "espeak:en-us+f3:pitch=3:speed=1.1",
    # Festival diphone voices take pitch only: a speed setting fails in tfspeech.data.voices
    # (it sets hts_engine_params, which only HTS voices define).
    "festival:kal_diphone", "festival:ked_diphone", "festival:kal_diphone:pitch=3", "festival:ked_diphone:pitch=-2",
    "festival:cmu_us_slt_arctic_hts:pitch=-2:speed=0.9",
    "flite:kal", "flite:kal:pitch=-2:speed=1.1", "flite:rms:pitch=-4:speed=0.95",
    "flite:slt:pitch=-3:speed=1.2", "flite:awb:pitch=-3:speed=1.05",
    "espeak:en-gb-x-gbclan", "espeak:en-gb-x-gbcwmd", "espeak:en-us+m1", "espeak:en-us+f1:speed=0.9",
    "espeak:en-gb+f4:pitch=-2", "espeak:en-gb-scotland+m2:speed=1.1", "espeak:en-029+f3:pitch=-3:speed=0.95",
    "espeak:en-us+klatt:pitch=1", "espeak:en-gb-x-gbclan+m5:speed=0.85", "espeak:en-us+m7:pitch=-2:speed=1.2",
)
#: Never seen in training: two espeak dialects absent from ``TRAIN_VOICES`` and two
#: pitch/speed settings of trained base voices that no training voice uses.
HELD_OUT_VOICES = (
    "espeak:en-gb-x-rp:pitch=1",
    "espeak:en-us-nyc:speed=1.2",
    "flite:kal16:pitch=5:speed=0.9",
    "festival:cmu_us_slt_arctic_hts:pitch=2:speed=1.25",
)


def corpus(voices, out_dir):
    """Synthesizes the ten words in every voice → ``{voice spec: {word: features (T, 26)}}`` and the
    corpus manifest's sha256."""
    from tfspeech.audio import load
    from tfspeech.data import layout
    from tfspeech.data.corpus import build_corpus
    from tfspeech.models.digit_recognizer import DIGITS, FEATURE_MEL, digit_features

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sentences_file = out_dir / "digits.txt"
    sentences_file.write_text("\n".join(DIGITS) + "\n", encoding="utf-8")
    corpus_dir = build_corpus(list(voices), n=None, sentences_file=sentences_file, out_dir=out_dir / "corpus")
    features = {}
    for utterance in layout.read_corpus(corpus_dir):
        word = utterance.text.strip().lower().rstrip(".")
        if word not in DIGITS:
            raise RuntimeError(f"{utterance.id}: unexpected text {utterance.text!r} in the digits corpus")
        waveform, _ = load(utterance.wav_path(corpus_dir), sample_rate=FEATURE_MEL.sample_rate)
        features.setdefault(utterance.speaker, {})[word] = digit_features(waveform)
    fingerprint = hashlib.sha256((corpus_dir / layout.MANIFEST).read_bytes()).hexdigest()
    return features, fingerprint


def left_to_right_gmm_hmm(sequences, n_states, n_mix):
    """A diag :class:`~tfspeech.probabilistic.GMMHMM` fitted by EM to one word's ``sequences``
    (list of ``(T, D)``), left-to-right (start in state 0; self-loop or next state).

    Start: each sequence cut into ``n_states`` equal segments; a state's frames split into
    ``n_mix`` components by k-means (scikit-learn), whose shares, means and variances
    (+ ``min_covar``) are the initial weights, means and variances. Zero transitions stay zero
    under EM, so the topology holds.
    """
    from sklearn.cluster import KMeans

    from tfspeech.probabilistic import GMMHMM

    segments = [np.array_split(sequence, n_states) for sequence in sequences]
    by_state = [np.concatenate([parts[k] for parts in segments]) for k in range(n_states)]
    if min(map(len, by_state)) < 2 * n_mix:
        raise ValueError(f"{min(map(len, by_state))} frames in a state cannot start {n_mix} mixture "
                         f"components; use fewer states or components, or more utterances")
    weights, means, variances = [], [], []
    for frames in by_state:
        labels = (np.zeros(len(frames), int) if n_mix == 1 else
                  KMeans(n_mix, n_init=1, random_state=EM_SETTINGS["random_state"]).fit_predict(frames))
        clusters = [frames[labels == m] for m in range(n_mix)]
        weights.append([len(cluster) / len(frames) for cluster in clusters])
        means.append([cluster.mean(axis=0) for cluster in clusters])
        variances.append([cluster.var(axis=0) + EM_SETTINGS["min_covar"] for cluster in clusters])
    hmm = GMMHMM(n_states, n_mix, init_params="", **EM_SETTINGS)
    hmm.startprob_ = np.eye(n_states)[0]
    hmm.transmat_ = 0.5 * (np.eye(n_states) + np.eye(n_states, k=1))
    hmm.transmat_[-1, -1] = 1.0
    hmm.weights_, hmm.means_, hmm.covars_ = np.array(weights), np.array(means), np.array(variances)
    hmm.fit(np.concatenate(sequences), [len(s) for s in sequences])
    # A component that EM left with no frames gets weight 0 and variance 0.01 / 0 = inf (GMMHMM
    # divides by its zero count); it adds nothing to the density, so any finite variance will do.
    hmm.covars_ = np.where((hmm.weights_ == 0)[..., None], 1.0, hmm.covars_)
    return hmm


def fit_recognizer(training, n_states, n_mix, words=None, progress=True):
    """One :func:`left_to_right_gmm_hmm` per word of ``words`` (default: the ten digits) on
    ``training`` (``{voice: {word: (T, D)}}``) → ``(DigitRecognizer, fitted GMMHMMs)``."""
    from tqdm.auto import tqdm

    from tfspeech.models.digit_recognizer import DIGITS, DigitRecognizer

    words = DIGITS if words is None else tuple(words)
    hmms = [left_to_right_gmm_hmm([spoken[word] for spoken in training.values() if word in spoken], n_states, n_mix)
            for word in tqdm(words, desc=f"EM per word ({n_states} states, {n_mix} mix)", disable=not progress,
                             leave=False)]
    model = DigitRecognizer(words, n_states=n_states, n_features=hmms[0].n_features, n_mix=n_mix)
    model.set_word_hmms(hmms)
    return model, hmms


def voice_folds(voices, n_folds=N_FOLDS, seed=0):
    """``voices`` shuffled with ``seed`` and dealt into ``n_folds`` disjoint lists."""
    if not 2 <= n_folds <= len(voices):
        raise ValueError(f"n_folds must be between 2 and the {len(voices)} voices, got {n_folds}")
    order = np.random.default_rng(seed).permutation(sorted(voices))
    return [sorted(order[i::n_folds]) for i in range(n_folds)]


def cross_validate(training, n_states_grid=N_STATES_GRID, n_mix_grid=N_MIX_GRID, n_folds=N_FOLDS, words=None):
    """Leave-voices-out accuracy of every ``(n_states, n_mix)``: each fold's voices are recognized
    by word models (``words``, default the digits) fitted on the other folds' voices →
    ``{(n_states, n_mix): accuracy}`` over all utterances of ``training``."""
    from tqdm.auto import tqdm

    folds = voice_folds(list(training), n_folds)
    settings = [(n_states, n_mix) for n_states in n_states_grid for n_mix in n_mix_grid]
    accuracy = {}
    with tqdm(total=len(settings) * len(folds), desc="cross-validation (setting x fold)") as bar:
        for setting in settings:
            correct = total = 0
            for fold in folds:
                fitted = {voice: spoken for voice, spoken in training.items() if voice not in fold}
                model, _ = fit_recognizer(fitted, *setting, words=words, progress=False)
                matrix, _ = confusion(model, {voice: training[voice] for voice in fold})
                correct, total = correct + np.trace(matrix), total + matrix.sum()
                bar.update(1)
            accuracy[setting] = float(correct / total)
    return accuracy


def best_setting(cv_accuracy):
    """The ``(n_states, n_mix)`` of highest accuracy; ties go to the fewest Gaussians
    (``n_states * n_mix``), then to fewer mixture components."""
    return max(cv_accuracy, key=lambda s: (round(cv_accuracy[s], 9), -s[0] * s[1], -s[1]))


def _padded(sequences):
    """``(batch, T_max, D)`` zero-padded and its mask ``(batch, T_max)``."""
    t_max = max(len(s) for s in sequences)
    batch = np.zeros((len(sequences), t_max, sequences[0].shape[1]), np.float32)
    mask = np.zeros((len(sequences), t_max), bool)
    for i, sequence in enumerate(sequences):
        batch[i, :len(sequence)], mask[i, :len(sequence)] = sequence, True
    return batch, mask


def confusion(model, features_by_voice):
    """``(confusion (10, 10) int: rows true word, columns recognized, accuracy)`` over the voices."""
    words = model.words
    pairs = [(words.index(word), frames) for voice in features_by_voice.values() for word, frames in voice.items()]
    batch, mask = _padded([frames for _, frames in pairs])
    recognized = np.argmax(np.asarray(model(batch, mask=mask)), axis=-1)
    matrix = np.zeros((len(words), len(words)), int)
    for (truth, _), guess in zip(pairs, recognized):
        matrix[truth, guess] += 1
    return matrix, float(np.trace(matrix) / matrix.sum())


def confusion_plot(matrix, words, path, title):
    """Writes the confusion matrix as a PNG (counts in the cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 5.5))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(words)), words, rotation=45)
    axes.set_yticks(range(len(words)), words)
    axes.set_xlabel("recognized")
    axes.set_ylabel("spoken")
    axes.set_title(title)
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            axes.text(column, row, str(count), ha="center", va="center",
                      color="white" if count > matrix.max() / 2 else "black")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def split_voices(features):
    """``{voice: {word: frames}}`` → ``(training, held_out)`` by ``TRAIN_VOICES`` / ``HELD_OUT_VOICES``."""
    from tfspeech.data.voices import parse_voice

    held_out_specs = {parse_voice(spec).spec for spec in HELD_OUT_VOICES}
    training = {spec: words for spec, words in features.items() if spec not in held_out_specs}
    held_out = {spec: words for spec, words in features.items() if spec in held_out_specs}
    return training, held_out


def cv_table(cv_accuracy, chosen=None):
    """The cross-validation accuracies as a markdown table (rows: states, columns: Gaussians per
    state); ``chosen`` in bold."""
    states = sorted({s for s, _ in cv_accuracy})
    mixes = sorted({m for _, m in cv_accuracy})
    lines = ["| states \\ Gaussians per state | " + " | ".join(map(str, mixes)) + " |",
             "|---|" + "---:|" * len(mixes)]
    for n_states in states:
        cells = [f"{cv_accuracy[n_states, m]:.1%}" if (n_states, m) in cv_accuracy else "" for m in mixes]
        cells = [f"**{cell}**" if (n_states, m) == chosen else cell for m, cell in zip(mixes, cells)]
        lines.append(f"| {n_states} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def train(zoo=ZOO, overwrite=False, work_dir=None):
    """Synthesizes, cross-validates (n_states, n_mix) on the training voices, fits, evaluates on the
    held-out voices and saves the preset; returns the saved folder."""
    from tfspeech import zoo as registry
    from tfspeech.models.digit_recognizer import DIGITS

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        features, fingerprint = corpus(TRAIN_VOICES + HELD_OUT_VOICES, work_dir or scratch)
    training, held_out = split_voices(features)
    cv_accuracy = cross_validate(training)
    n_states, n_mix = best_setting(cv_accuracy)
    model, hmms = fit_recognizer(training, n_states, n_mix)
    matrix, accuracy = confusion(model, held_out)
    _, train_accuracy = confusion(model, training)
    # The single-Gaussian model the same selection would pick, for comparison on the held-out voices.
    single = best_setting({setting: a for setting, a in cv_accuracy.items() if setting[1] == 1})
    single_accuracy = accuracy if single == (n_states, n_mix) else confusion(
        fit_recognizer(training, *single)[0], held_out)[1]
    seconds = time.perf_counter() - started
    results = dict(n_states=n_states, n_mix=n_mix, accuracy=accuracy, train_accuracy=train_accuracy,
                   cv_accuracy=cv_accuracy, single=single, single_accuracy=single_accuracy, hmms=hmms,
                   training=training, held_out=held_out, n_held_out=int(matrix.sum()), seconds=seconds,
                   fingerprint=fingerprint)

    folder = registry.save_preset(
        model, PRESET_NAME, root=zoo, overwrite=overwrite, card=_card(**results),
        data={"source": "tfspeech.data.corpus.build_corpus, sentences file: the ten words zero..nine",
              "train_voices": list(TRAIN_VOICES), "held_out_voices": list(HELD_OUT_VOICES),
              "utterances": {"train": sum(map(len, training.values())), "held_out": sum(map(len, held_out.values()))},
              "features": "tfspeech.models.digit_recognizer.digit_features (13 MFCC + deltas, CMN)",
              "fingerprint": fingerprint},
        training={"command": TRAIN_COMMAND,
                  "method": f"EM per word (tfspeech.probabilistic.GMMHMM, {n_states} states x {n_mix} diagonal "
                            "Gaussians, left-to-right, started from a uniform segmentation + k-means)",
                  "model_selection": {"folds": N_FOLDS, "split": "training voices only (leave-voices-out)",
                                      "chosen": {"n_states": n_states, "n_mix": n_mix},
                                      "accuracy": {f"{s} states, {m} mix": round(a, 4)
                                                   for (s, m), a in cv_accuracy.items()}},
                  "settings": dict(EM_SETTINGS), "em_iterations": [hmm.monitor_.iter for hmm in hmms],
                  "wall_seconds": round(seconds, 1),
                  "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"},
        metrics={"held_out_voice_accuracy": {"value": round(accuracy, 4), "command": EVALUATE_COMMAND},
                 "train_voice_accuracy": {"value": round(train_accuracy, 4), "command": EVALUATE_COMMAND},
                 "cross_validation_accuracy": {"value": round(cv_accuracy[n_states, n_mix], 4),
                                               "command": CROSS_VALIDATE_COMMAND},
                 "single_gaussian_held_out_voice_accuracy": {"value": round(single_accuracy, 4),
                                                             "command": TRAIN_COMMAND}},
    )
    confusion_plot(matrix, DIGITS, folder / CONFUSION_FILE,
                   f"held-out voices ({len(held_out)}): accuracy {accuracy:.1%}")
    return folder


def _card(n_states, n_mix, accuracy, train_accuracy, cv_accuracy, single, single_accuracy, hmms, training,
          held_out, n_held_out, seconds, fingerprint):
    from scipy.stats import binomtest

    interval = binomtest(round(accuracy * n_held_out), n_held_out).proportion_ci(0.95)
    capped = sum(hmm.monitor_.iter == EM_SETTINGS["n_iter"] for hmm in hmms)
    return f"""# {PRESET_NAME}

Isolated-word recognizer for the spoken digits "zero" … "nine": a `DigitRecognizer` holding one
GMM-HMM per word ({n_states} states, each emitting a mixture of {n_mix} diagonal Gaussians,
left-to-right) over 13 MFCCs + deltas (10 ms hop, per-utterance mean removed). Trained by EM on
synthesized speech; states and mixture size chosen by cross-validation over training voices.

```python
import tfspeech.zoo
from tfspeech.audio import load
from tfspeech.models.digit_recognizer import digit_features
model = tfspeech.zoo.load("{PRESET_NAME}")
waveform, _ = load("word.wav", sample_rate=22050)
features = digit_features(waveform)[None]          # (1, T, 26)
print(model.predict_words(features))               # e.g. ['seven']
scores = model(features)                           # (1, 10) log-likelihood per word (nats)
word, states, log_prob = model.viterbi(features)   # best word, its state path, Viterbi scores
```

Export: `tfspeech.export.saved_model(model, dir)` / `tfspeech.export.tflite(model, path)` give the
signatures `score` (features → log_likelihood (batch, 10)) and `viterbi` (features → word, states,
log_prob), builtin TFLite ops only. `model.fit(features, word_ids)` fine-tunes by gradient on the
true word's NLL.

## Metrics

| metric | value | command |
|---|---:|---|
| accuracy, held-out voices ({n_held_out} utterances, {len(held_out)} voices) | **{accuracy:.1%}** | `{EVALUATE_COMMAND}` |
| accuracy, training voices ({sum(map(len, training.values()))} utterances) | {train_accuracy:.1%} | `{EVALUATE_COMMAND}` |
| cross-validation accuracy of the chosen setting | {cv_accuracy[n_states, n_mix]:.1%} | `{CROSS_VALIDATE_COMMAND}` |
| single Gaussian per state ({single[0]} states, CV's best with 1 Gaussian), same data, held-out voices | {single_accuracy:.1%} | `{TRAIN_COMMAND}` |
| previous preset: single Gaussian, 6 states, the first 18 training voices, held-out voices | 95.0% | (git history) |

The held-out voices are the same 4 as the previous preset's, so the figures compare directly.
Small data: with {n_held_out} held-out utterances, one error moves the accuracy by
{1 / n_held_out:.1%}, and the 95% interval (Clopper-Pearson) of the held-out accuracy is
{interval.low:.1%} … {interval.high:.1%}; differences of one or two errors are within noise. The
cross-validation figure of the chosen setting is the best of {len(cv_accuracy)}, so it leans optimistic.

Confusion matrix on the held-out voices (rows: spoken, columns: recognized):

![confusion matrix]({CONFUSION_FILE})

## Model selection

{N_FOLDS}-fold leave-voices-out cross-validation on the {len(training)} training voices only (voices
shuffled with seed 0 and dealt into {N_FOLDS} folds; each fold is recognized by word models
fitted on the other folds' voices). Accuracy over all {sum(map(len, training.values()))} training
utterances; rows: states per word HMM, columns: Gaussians per state. The highest accuracy
wins, ties go to fewer Gaussians; chosen in bold. The held-out voices take no part.

{cv_table(cv_accuracy, (n_states, n_mix))}

## Data

`tfspeech.data.corpus.build_corpus` with a sentences file of the ten words; every voice
speaks each word once, so each word HMM is trained on {len(training)} utterances.
Manifest sha256: `{fingerprint[:16]}…`.

Training voices ({len(TRAIN_VOICES)}; the first 18 trained the previous preset):
{_bullets(TRAIN_VOICES)}

Held-out voices ({len(HELD_OUT_VOICES)}; never seen in training; two espeak dialects absent
from training, and two new pitch/speed settings of base voices that training does use):
{_bullets(HELD_OUT_VOICES)}

## Training

`{TRAIN_COMMAND}` ({seconds:.0f} s on {os.cpu_count()} shared CPUs, cross-validation included; corpus synthesis
too unless `--work-dir` held it already). `tfspeech.probabilistic.GMMHMM` per word
({EM_SETTINGS['covariance_type']}, n_iter={EM_SETTINGS['n_iter']}, tol={EM_SETTINGS['tol']}, float64; variances
`(Σ γ (x − μ)² + 0.01) / Σ γ`), started at state 0 with self-loop/next-state transitions 0.5/0.5
and a uniform segmentation of each utterance, each state's frames split into {n_mix} components by
k-means (weights, means, variances + {EM_SETTINGS['min_covar']}); EM iterations per word:
{[hmm.monitor_.iter for hmm in hmms]} ({capped} of {len(hmms)} words reached the n_iter cap). The fitted `GMMHMM`s are copied into the Keras model by
`DigitRecognizer.set_word_hmms`.
"""


def _bullets(specs):
    return "\n".join(f"- `{spec}`" for spec in specs)


def _features(work_dir=None):
    with tempfile.TemporaryDirectory() as scratch:
        return corpus(TRAIN_VOICES + HELD_OUT_VOICES, work_dir or scratch)


def evaluate(zoo=ZOO, work_dir=None):
    """Loads the saved preset and prints its accuracies next to the recorded ones."""
    from tfspeech import zoo as registry

    model = registry.load(PRESET_NAME, root=zoo)
    recorded = registry.info(PRESET_NAME, root=zoo)
    features, fingerprint = _features(work_dir)
    if fingerprint != recorded["data"]["fingerprint"]:
        print("note: the synthesized corpus differs from the one the preset was trained on "
              "(synthesizer versions changed)")
    training, held_out = split_voices(features)
    for name, subset in (("held_out_voice_accuracy", held_out), ("train_voice_accuracy", training)):
        print(f"{name}: {confusion(model, subset)[1]:.4f} (recorded {recorded['metrics'][name]['value']})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--evaluate", action="store_true", help="re-measure the saved preset instead of training")
    mode.add_argument("--cross-validate", action="store_true",
                      help="only print the cross-validation table over the training voices")
    parser.add_argument("--zoo", type=Path, default=ZOO, help="zoo folder (default: the repository's zoo/)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing preset")
    parser.add_argument("--work-dir", type=Path, help="keep the synthesized corpus here (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.evaluate:
        evaluate(args.zoo, args.work_dir)
    elif args.cross_validate:
        training, _ = split_voices(_features(args.work_dir)[0])
        cv_accuracy = cross_validate(training)
        print(cv_table(cv_accuracy, best_setting(cv_accuracy)))
    else:
        print(f"saved {train(args.zoo, args.overwrite, args.work_dir)}")


if __name__ == "__main__":
    main()
