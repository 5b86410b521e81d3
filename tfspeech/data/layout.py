"""The on-disk corpus layout (LJSpeech style), shared by the builder and the readers.

::

    <corpus>/
      wavs/<id>.wav     mono 16-bit PCM at 22,050 Hz
      metadata.csv      ``id|text|phonemes`` per line, UTF-8, no header
      manifest.json     engines, exact arguments, seed, and per utterance:
                        speaker, split, sha256 of its wav (see ``tfspeech.data.corpus``)

Splits are ``"train"``, ``"validation"`` and ``"test"``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "validation", "test")
METADATA = "metadata.csv"
MANIFEST = "manifest.json"
WAVS = "wavs"


@dataclass(frozen=True)
class Utterance:
    """One corpus entry: ``id`` names ``wavs/<id>.wav``; ``phonemes`` is ARPAbet text."""

    id: str
    text: str
    phonemes: str
    speaker: str
    split: str

    def wav_path(self, corpus_dir: str | Path) -> Path:
        return Path(corpus_dir) / WAVS / f"{self.id}.wav"


def write_metadata(path: str | Path, utterances) -> None:
    """Writes ``id|text|phonemes`` lines (LJSpeech's separator, no quoting)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        for u in utterances:
            for field in (u.id, u.text, u.phonemes):
                if "|" in field or "\n" in field:
                    raise ValueError(f"utterance {u.id!r}: '|' or a newline in {field!r}")
            f.write(f"{u.id}|{u.text}|{u.phonemes}\n")


def read_corpus(corpus_dir: str | Path, split: str | None = None) -> list[Utterance]:
    """Reads a built corpus; ``split`` keeps only ``"train"``, ``"validation"`` or ``"test"``.

    Raises ``FileNotFoundError`` naming the missing file and the command that builds it.
    """
    corpus_dir = Path(corpus_dir)
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    for name in (METADATA, MANIFEST):
        if not (corpus_dir / name).is_file():
            raise FileNotFoundError(
                f"{corpus_dir / name} is missing: {corpus_dir} is not a built corpus "
                "(build one with `tfspeech corpus build`)"
            )
    manifest = json.loads((corpus_dir / MANIFEST).read_text(encoding="utf-8"))
    info = {entry["id"]: entry for entry in manifest["utterances"]}
    utterances = []
    with open(corpus_dir / METADATA, encoding="utf-8", newline="") as f:
        for row in csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE):
            utt_id, text, phonemes = row
            entry = info[utt_id]
            if split is None or entry["split"] == split:
                utterances.append(Utterance(utt_id, text, phonemes, entry["speaker"], entry["split"]))
    return utterances
