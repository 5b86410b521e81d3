"""A resumable cache of log-mel features for a built corpus.

::

    <corpus>/features/<MelConfig.fingerprint()>/
      config.json       the MelConfig the features were computed with
      <id>.npy          float32 (frames, n_mels) log-mel of wavs/<id>.wav

Each file is written atomically, so an interrupted run leaves no partial features and the
next run computes only what is missing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfspeech.audio.features import MelConfig, log_mel_spectrogram
from tfspeech.audio.io import load
from tfspeech.data.layout import read_corpus

FEATURES = "features"
CONFIG = "config.json"


def features_dir(corpus_dir: str | Path, config: MelConfig = MelConfig()) -> Path:
    """The cache folder for ``config``: ``<corpus_dir>/features/<config.fingerprint()>``."""
    return Path(corpus_dir) / FEATURES / config.fingerprint()


def cache_log_mels(
    corpus_dir: str | Path, config: MelConfig = MelConfig(), progress: bool = True
) -> Path:
    """Computes the log-mel of every utterance not cached yet; returns the cache folder.

    Wavs are resampled to ``config.sample_rate`` when their rate differs.
    """
    corpus_dir = Path(corpus_dir)
    utterances = read_corpus(corpus_dir)
    out_dir = features_dir(corpus_dir, config)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_config(out_dir, config)
    pending = [u for u in utterances if not (out_dir / f"{u.id}.npy").is_file()]
    compute = tf.function(
        lambda waveform: log_mel_spectrogram(waveform, config),
        input_signature=[tf.TensorSpec([None], tf.float32)],
    )
    bar = tqdm(
        pending,
        desc=f"log-mels -> {out_dir}",
        unit="utt",
        total=len(utterances),
        initial=len(utterances) - len(pending),
        disable=not progress,
    )
    for utterance in bar:
        waveform, _ = load(utterance.wav_path(corpus_dir), sample_rate=config.sample_rate)
        if waveform.size < config.min_samples:
            raise ValueError(
                f"utterance {utterance.id!r} has {waveform.size} samples, fewer than the "
                f"{config.min_samples} that n_fft={config.n_fft} needs; drop it from the corpus"
            )
        _save_atomically(out_dir / f"{utterance.id}.npy", compute(waveform).numpy())
    return out_dir


def load_log_mel(
    corpus_dir: str | Path, utt_id: str, config: MelConfig = MelConfig()
) -> np.ndarray:
    """The cached float32 ``(frames, n_mels)`` log-mel of utterance ``utt_id``."""
    path = features_dir(corpus_dir, config) / f"{utt_id}.npy"
    if not path.is_file():
        raise FileNotFoundError(
            f"no cached log-mel for {utt_id!r} at {path}; compute the cache with "
            f"tfspeech.data.features.cache_log_mels({str(corpus_dir)!r}, config)"
        )
    return np.load(path)


def _write_config(out_dir: Path, config: MelConfig) -> None:
    path = out_dir / CONFIG
    if path.is_file():
        stored = MelConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
        if stored != config:
            raise ValueError(f"{path} holds {stored}, not {config}; delete {out_dir} and rerun")
        return
    _write_atomically(path, lambda f: f.write(json.dumps(config.to_dict(), indent=2).encode()))


def _save_atomically(path: Path, array: np.ndarray) -> None:
    _write_atomically(path, lambda f: np.save(f, array))


def _write_atomically(path: Path, write) -> None:
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as f:
        write(f)
    os.replace(partial, path)
