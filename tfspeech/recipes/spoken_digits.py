"""Recipe for the ``spoken-digits`` preset: "zero" … "nine" recognized by one Gaussian HMM per word.

    python -m tfspeech.recipes.spoken_digits              # synthesize, train, evaluate, save zoo/spoken-digits
    python -m tfspeech.recipes.spoken_digits --evaluate   # re-measure the saved preset on the held-out voices

Data: ``tfspeech.data.corpus.build_corpus`` has every voice of ``TRAIN_VOICES`` and
``HELD_OUT_VOICES`` speak the ten words once (a sentences file of ten lines). Training
sees only ``TRAIN_VOICES``; accuracy is measured on ``HELD_OUT_VOICES`` alone. Features
are :func:`~tfspeech.models.digit_recognizer.digit_features` (MFCC + deltas, mean removed).
Each word's :class:`~tfspeech.probabilistic.GaussianHMM` (diagonal covariances, left-to-right
start: state 0, self-loop or next state) starts from a uniform segmentation of its
utterances and is refined by EM; the ten HMMs become one
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
CONFUSION_FILE = "confusion.png"
N_STATES = 6
EM_SETTINGS = dict(covariance_type="diag", n_iter=30, tol=1e-3, min_covar=1e-3, random_state=0, dtype="float64")

TRAIN_VOICES = (
    "festival:cmu_us_slt_arctic_hts",
    "festival:cmu_us_slt_arctic_hts:pitch=-5:speed=1.1",
    "flite:kal16", "flite:awb", "flite:rms", "flite:slt",
    "flite:kal16:pitch=-3:speed=1.2", "flite:slt:pitch=3:speed=0.85", "flite:awb:pitch=4:speed=0.9",
    "flite:rms:pitch=2:speed=1.15",
    "espeak:en-us", "espeak:en-gb", "espeak:en-us+m3", "espeak:en-gb-scotland", "espeak:en-029",
    "espeak:en-us+f2:pitch=2:speed=0.8", "espeak:en-gb+m3:pitch=-4:speed=1.3",
    "espeak:en-us+f3:pitch=3:speed=1.1",
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


def left_to_right_hmm(sequences, n_states=N_STATES):
    """A diag :class:`~tfspeech.probabilistic.GaussianHMM` fitted by EM to one word's ``sequences``
    (list of ``(T, D)``), started left-to-right from a uniform segmentation."""
    from tfspeech.probabilistic import GaussianHMM

    segments = [np.array_split(sequence, n_states) for sequence in sequences]
    by_state = [np.concatenate([parts[k] for parts in segments]) for k in range(n_states)]
    hmm = GaussianHMM(n_states, init_params="", **EM_SETTINGS)
    hmm.startprob_ = np.eye(n_states)[0]
    hmm.transmat_ = 0.5 * (np.eye(n_states) + np.eye(n_states, k=1))
    hmm.transmat_[-1, -1] = 1.0
    hmm.means_ = np.stack([frames.mean(axis=0) for frames in by_state])
    hmm.covars_ = np.stack([frames.var(axis=0) + EM_SETTINGS["min_covar"] for frames in by_state])
    return hmm.fit(np.concatenate(sequences), [len(s) for s in sequences])


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


def train(zoo=ZOO, overwrite=False, work_dir=None):
    """Synthesizes, fits, evaluates and saves the preset; returns the saved folder."""
    from tqdm.auto import tqdm

    from tfspeech import zoo as registry
    from tfspeech.data.voices import parse_voice
    from tfspeech.models.digit_recognizer import DIGITS, DigitRecognizer

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        features, fingerprint = corpus(TRAIN_VOICES + HELD_OUT_VOICES, work_dir or scratch)
    held_out_specs = {parse_voice(spec).spec for spec in HELD_OUT_VOICES}
    training = {spec: words for spec, words in features.items() if spec not in held_out_specs}
    held_out = {spec: words for spec, words in features.items() if spec in held_out_specs}
    hmms = [left_to_right_hmm([words[word] for words in training.values() if word in words])
            for word in tqdm(DIGITS, desc="EM per word")]
    model = DigitRecognizer(DIGITS, n_states=N_STATES)
    model.set_word_hmms(hmms)
    matrix, accuracy = confusion(model, held_out)
    _, train_accuracy = confusion(model, training)
    seconds = time.perf_counter() - started

    folder = registry.save_preset(
        model, PRESET_NAME, root=zoo, overwrite=overwrite,
        card=_card(accuracy, train_accuracy, matrix, hmms, held_out, training, seconds, fingerprint),
        data={"source": "tfspeech.data.corpus.build_corpus, sentences file: the ten words zero..nine",
              "train_voices": list(TRAIN_VOICES), "held_out_voices": list(HELD_OUT_VOICES),
              "utterances": {"train": sum(map(len, training.values())), "held_out": sum(map(len, held_out.values()))},
              "features": "tfspeech.models.digit_recognizer.digit_features (13 MFCC + deltas, CMN)",
              "fingerprint": fingerprint},
        training={"command": TRAIN_COMMAND, "method": "EM per word (tfspeech.probabilistic.GaussianHMM, "
                  f"{N_STATES} states, left-to-right start from a uniform segmentation)",
                  "settings": dict(EM_SETTINGS), "em_iterations": [hmm.monitor_.iter for hmm in hmms],
                  "wall_seconds": round(seconds, 1),
                  "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"},
        metrics={"held_out_voice_accuracy": {"value": round(accuracy, 4), "command": EVALUATE_COMMAND},
                 "train_voice_accuracy": {"value": round(train_accuracy, 4), "command": EVALUATE_COMMAND}},
    )
    confusion_plot(matrix, DIGITS, folder / CONFUSION_FILE,
                   f"held-out voices ({len(held_out)}): accuracy {accuracy:.1%}")
    return folder


def _card(accuracy, train_accuracy, matrix, hmms, held_out, training, seconds, fingerprint):
    n_held_out = int(matrix.sum())
    return f"""# {PRESET_NAME}

Isolated-word recognizer for the spoken digits "zero" … "nine": a `DigitRecognizer` holding one
Gaussian HMM per word ({N_STATES} states, diagonal covariances, left-to-right) over 13 MFCCs +
deltas (10 ms hop, per-utterance mean removed). Trained by EM on synthesized speech.

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
log_prob). `model.fit(features, word_ids)` fine-tunes by gradient on the true word's NLL.

## Metrics

Measured by `{EVALUATE_COMMAND}`:

| metric | value |
|---|---:|
| accuracy, held-out voices ({n_held_out} utterances, {len(held_out)} voices) | **{accuracy:.1%}** |
| accuracy, training voices ({sum(map(len, training.values()))} utterances) | {train_accuracy:.1%} |

Confusion matrix on the held-out voices (rows: spoken, columns: recognized):

![confusion matrix]({CONFUSION_FILE})

## Data

`tfspeech.data.corpus.build_corpus` with a sentences file of the ten words; every voice
speaks each word once, so each word HMM is trained on {len(training)} utterances. Small data:
with {n_held_out} held-out utterances, one error moves the accuracy by {1 / n_held_out:.1%}.
Manifest sha256: `{fingerprint[:16]}…`.

Training voices ({len(TRAIN_VOICES)}):
{_bullets(TRAIN_VOICES)}

Held-out voices ({len(HELD_OUT_VOICES)}; never seen in training; two espeak dialects absent
from training, and two new pitch/speed settings of base voices that training does use):
{_bullets(HELD_OUT_VOICES)}

## Training

`{TRAIN_COMMAND}` ({seconds:.0f} s on {os.cpu_count()} CPUs, corpus synthesis included unless `--work-dir` held it already):
`tfspeech.probabilistic.GaussianHMM` per word ({EM_SETTINGS['covariance_type']}, n_iter={EM_SETTINGS['n_iter']},
tol={EM_SETTINGS['tol']}, min_covar={EM_SETTINGS['min_covar']}, float64), started at state 0 with
self-loop/next-state transitions 0.5/0.5 and means/variances of a uniform segmentation of each
utterance; EM iterations per word: {[hmm.monitor_.iter for hmm in hmms]}. A single Gaussian per
state (`GaussianHMM`), not `GMMHMM`: `GMMHMM` has no Keras conversion yet.
"""


def _bullets(specs):
    return "\n".join(f"- `{spec}`" for spec in specs)


def evaluate(zoo=ZOO):
    """Loads the saved preset and prints its accuracies next to the recorded ones."""
    from tfspeech import zoo as registry
    from tfspeech.data.voices import parse_voice

    model = registry.load(PRESET_NAME, root=zoo)
    recorded = registry.info(PRESET_NAME, root=zoo)
    with tempfile.TemporaryDirectory() as scratch:
        features, fingerprint = corpus(TRAIN_VOICES + HELD_OUT_VOICES, scratch)
    if fingerprint != recorded["data"]["fingerprint"]:
        print("note: the synthesized corpus differs from the one the preset was trained on "
              "(synthesizer versions changed)")
    held_out_specs = {parse_voice(spec).spec for spec in HELD_OUT_VOICES}
    for name, keep in (("held_out_voice_accuracy", True), ("train_voice_accuracy", False)):
        subset = {spec: words for spec, words in features.items() if (spec in held_out_specs) == keep}
        matrix, accuracy = confusion(model, subset)
        print(f"{name}: {accuracy:.4f} (recorded {recorded['metrics'][name]['value']})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluate", action="store_true", help="re-measure the saved preset instead of training")
    parser.add_argument("--zoo", type=Path, default=ZOO, help="zoo folder (default: the repository's zoo/)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing preset")
    parser.add_argument("--work-dir", type=Path, help="keep the synthesized corpus here (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.evaluate:
        evaluate(args.zoo)
    else:
        print(f"saved {train(args.zoo, args.overwrite, args.work_dir)}")


if __name__ == "__main__":
    main()
