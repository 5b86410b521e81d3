"""What a TTS recipe is (``Recipe``) and how a run names its data (``corpus_fingerprint``).

Shared by training (``tts_training``) and evaluation (``tts_evaluation``): the import
runs one way, ``tts_training`` → ``tts_evaluation`` → this module, so neither of the
two needs the other at import time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from tfspeech.data.layout import MANIFEST


@dataclass(frozen=True)
class Recipe:
    """A preset's training: model class and exact config, voice, schedule."""

    preset: str
    module: str
    model_class: type
    config: dict = field(repr=False)
    voice: str
    steps: int
    batch_size: int
    checkpoint_every: int
    linear: bool = False  # Tacotron's linear-spectrogram targets
    voices: tuple[str, ...] = ()  # the voices trained on (default: ``voice`` alone)
    corpus_sentences: int | None = None  # sentences of the default corpus (None: every WordNet sentence)
    command_options: str = ""  # the module's own options of this run, recorded in its training command

    @property
    def training_voices(self) -> tuple[str, ...]:
        """The corpus voices the model trains on; ``voice`` is the one it is evaluated on."""
        return self.voices or (self.voice,)

    def build_model(self):
        """A new, built ``model_class(**config)``."""
        model = self.model_class(**self.config)
        model.build()
        return model

    def callbacks(self, train_data) -> list:
        """Extra ``fit`` callbacks of this recipe's training (none by default)."""
        return []


def corpus_fingerprint(corpus_dir) -> str:
    """sha256 of the corpus manifest (engines, arguments, every wav's sha256)."""
    return hashlib.sha256((Path(corpus_dir) / MANIFEST).read_bytes()).hexdigest()
