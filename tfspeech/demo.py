"""The end-to-end tour that ``make demo`` runs (``tfspeech demo``).

It walks the best path that exists today: synthesize a small corpus, cache
its log-mels, turn one held-out log-mel back into audio with the zoo's neural vocoder and with
Griffin-Lim (and let the CTC recognizer preset say what it hears), then
load every zoo preset, fine-tune the ones this tour knows data for, and export
each to SavedModel and TFLite with their parity reports. It grows as presets land.
"""

from __future__ import annotations

from pathlib import Path

DEMO_VOICE = "festival:cmu_us_slt_arctic_hts"
DEMO_SENTENCES = 12


def run_demo(out_dir: Path | None = None) -> Path:
    """Runs the tour, writing its files under ``out_dir``; returns that folder."""
    from tfspeech.data.corpus import build_corpus, default_cache_dir

    out_dir = Path(out_dir) if out_dir else default_cache_dir() / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)

    _step(f"1. Synthesize a {DEMO_SENTENCES}-sentence corpus with {DEMO_VOICE}")
    corpus_dir = build_corpus([DEMO_VOICE], DEMO_SENTENCES)
    print(f"corpus: {corpus_dir}")

    _step("2. Cache log-mel spectrograms (tf.signal, exportable)")
    from tfspeech.audio.features import MelConfig
    from tfspeech.data.features import cache_log_mels

    config = MelConfig()
    print(f"log-mels: {cache_log_mels(corpus_dir, config)}")

    _step("3. Back to audio: the neural vocoder and Griffin-Lim from a held-out log-mel")
    _vocode_held_out(corpus_dir, config, out_dir)

    _step("4. Text front end")
    _show_text()

    _step("5. The zoo: load -> fine-tune -> export with parity checks")
    _tour_zoo(out_dir)
    print(f"\nDemo files are in {out_dir}")
    return out_dir


def _step(title: str) -> None:
    print(f"\n== {title}")


def _vocode_held_out(corpus_dir: Path, config, out_dir: Path) -> None:
    import numpy as np

    from tfspeech import zoo
    from tfspeech.audio.griffin_lim import griffin_lim, mel_to_magnitude
    from tfspeech.audio.io import save
    from tfspeech.data.features import load_log_mel
    from tfspeech.data.layout import read_corpus
    from tfspeech.decoding import transcribe_file

    held_out = read_corpus(corpus_dir, "test") or read_corpus(corpus_dir, "validation")
    utterance = (held_out or read_corpus(corpus_dir))[0]
    log_mel = load_log_mel(corpus_dir, utterance.id, config)
    magnitude = mel_to_magnitude(np.exp(log_mel), config)
    waveform, convergence = griffin_lim(magnitude, config, n_iter=60)
    path = save(out_dir / f"{utterance.id}-griffin-lim.wav", waveform.numpy(), config.sample_rate)
    print(f'"{utterance.text}" ({utterance.split} split)')
    print(f"Griffin-Lim spectral convergence: {float(convergence[0]):.3f} after 1 iteration, "
          f"{float(convergence[-1]):.3f} after {len(convergence)}")
    print(f"wrote {path}")
    vocoded = None
    if "istft-vocoder-slt" in zoo.list():
        vocoder = zoo.load("istft-vocoder-slt", compile=False)
        vocoded = save(out_dir / f"{utterance.id}-istft-vocoder.wav",
                       np.clip(vocoder.generate(log_mel)[0], -1.0, 1.0), config.sample_rate)
        print(f"wrote {vocoded}")
    if "ctc-multivoice" in zoo.list():
        print("heard by the ctc-multivoice recognizer:")
        print(f"  original wav:  {transcribe_file(utterance.wav_path(corpus_dir))}")
        if vocoded is not None:
            print(f"  vocoder:       {transcribe_file(vocoded)}")
        print(f"  Griffin-Lim:   {transcribe_file(path)}")


def _show_text() -> None:
    from tfspeech.text import TextEncoder, normalize, phonemize

    sentence = "Dr. Smith paid $3.50 for 2 apples on the 21st."
    print(f"text:       {sentence}")
    print(f"normalized: {normalize(sentence)}")
    print(f"phonemes:   {phonemize(normalize(sentence))}")
    print(f"ids:        {TextEncoder('characters').encode(sentence)[:16]} ...")


def _tour_zoo(out_dir: Path) -> None:
    from tfspeech import export, zoo

    names = zoo.list()
    if not names:
        print("The zoo has no trained presets yet; model issues add them.")
        return
    for name in names:
        model = zoo.load(name)
        print(f"\n{name}: loaded {type(model).__name__} ({model.count_params():,} parameters)")
        if name in FINE_TUNING:
            FINE_TUNING[name](model)
        print(export.saved_model(model, out_dir / name / "saved_model"))
        print(export.tflite(model, out_dir / name / f"{name}.tflite"))


def _fine_tune_gmm_digits(model) -> None:
    """Adapts the digits density to one digit: the preset's training 3s in, held-out 3s scored."""
    import numpy as np
    from sklearn.datasets import load_digits

    from tfspeech.recipes.gmm_digits import SPLIT_SEED, TEST_FRACTION

    images, labels = load_digits(return_X_y=True)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    n_test = int(round(TEST_FRACTION * len(images)))
    test, train = order[:n_test], order[n_test:]
    train_threes = images[train][labels[train] == 3].astype("float32")
    held_out_threes = images[test][labels[test] == 3].astype("float32")

    def mean_log_likelihood():
        return float(np.mean(model.predict(held_out_threes, verbose=0)))

    before = mean_log_likelihood()
    model.fit(train_threes, epochs=30, batch_size=32, verbose=0)
    print(f"fine-tuned on {len(train_threes)} training 3s with model.fit: mean log-likelihood of "
          f"{len(held_out_threes)} held-out 3s {before:.2f} -> {mean_log_likelihood():.2f} nats")


FINE_TUNING = {"gmm-digits": _fine_tune_gmm_digits}
