"""Recipe of the ``gst-tacotron2-slt`` preset: Tacotron 2 with Global Style Tokens on nine styles of slt.

    python -m tfspeech.recipes.gst_tacotron2_slt                 # train (run again to resume)
    python -m tfspeech.recipes.gst_tacotron2_slt --evaluate      # figures, preset, card

Data: the Festival HTS slt voice at pitch −3/0/+3 semitones × speed 0.85/1.0/1.15
(``STYLE_VOICES``; 1,000 WordNet sentences each, ``tfspeech corpus build``). The voice spec
of each utterance records its setting; training never reads it (the style is learned without
labels: the reference is the target utterance itself), evaluation does. The split is by
sentence text, so a test sentence is held out in every style and was never trained on by
tacotron2-slt either.

Warm start: every weight of the ``tacotron2-slt`` preset (``GSTTacotron2.from_tacotron2``); the
reference encoder, the tokens and the style projection start fresh, the projection at zero, so
step 0 is exactly tacotron2-slt. Peak learning rate 5e-4 (half of tacotron2-slt's): the model is
trained already; the fresh layers catch up within the first few hundred steps.

At every checkpoint ``MeanStyle`` sets the model's ``mean_style_weights`` (the style used when
none is given) to the mean token weights of training references, so any checkpoint is a usable
model and a preview preset.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from tfspeech import zoo
from tfspeech.models.gst_tacotron2 import GSTTacotron2
from tfspeech.recipes import tacotron2_slt, tts_training

BASE_PRESET = "tacotron2-slt"
NEUTRAL_VOICE = "festival:cmu_us_slt_arctic_hts"
PITCHES = (-3, 0, 3)  # semitones
SPEEDS = (0.85, 1.0, 1.15)  # speaking-rate factors
STYLE_SENTENCES = 1000
MEAN_STYLE_BATCHES = 16  # training batches whose references make the mean style


def style_voice(pitch: int, speed: float) -> str:
    """The corpus voice spec of one style (``festival:cmu_us_slt_arctic_hts:pitch=3:speed=0.85``)."""
    return NEUTRAL_VOICE + (f":pitch={pitch}" if pitch else "") + (f":speed={speed:g}" if speed != 1.0 else "")


STYLE_VOICES = tuple(style_voice(p, s) for p in PITCHES for s in SPEEDS)

STYLE_OPTIONS = {
    "style_tokens": 10,
    "style_units": 128,
    "style_heads": 4,
    "reference_filters": [32, 32, 64, 64, 64, 64],  # the paper's ends in 128, 128: over the zoo's 15 MB here
    "reference_rnn_units": 128,
}
CONFIG = {**tacotron2_slt.CONFIG, **STYLE_OPTIONS, "learning_rate": 5e-4}


@dataclass(frozen=True)
class StyleRecipe(tts_training.Recipe):
    """A GST recipe: the model warm-starts from ``base_preset``; checkpoints carry the mean style."""

    base_preset: str = BASE_PRESET
    base_zoo: str | None = None  # the zoo folder holding base_preset (None: the installed zoo)

    def build_model(self) -> GSTTacotron2:
        base = zoo.load(self.base_preset, root=self.base_zoo, compile=False)
        return GSTTacotron2.from_tacotron2(base, **self.config)

    def callbacks(self, train_data) -> list:
        return [MeanStyle(train_data.take(MEAN_STYLE_BATCHES))]


class MeanStyle(keras.callbacks.Callback):
    """At every epoch end (before the checkpoint is written), sets ``mean_style_weights`` to the
    mean token weights of the references in ``batches`` (``tts_dataset`` batches)."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_end(self, epoch, logs=None):
        set_mean_style(self.model, self.batches)


def set_mean_style(model: GSTTacotron2, batches) -> np.ndarray:
    """Sets and returns ``model.mean_style_weights`` ``(heads, tokens)``: the mean over every
    utterance of ``batches`` of its reference's token weights."""
    total, count = 0.0, 0
    for inputs, _ in batches:
        weights = model.reference_weights(inputs["mels"], inputs["mel_lengths"], training=False)
        total += tf.reduce_sum(weights, axis=0).numpy()
        count += int(weights.shape[0])
    if count == 0:
        raise ValueError("no reference to average: the batches are empty")
    mean = (total / count).astype(np.float32)
    model.mean_style_weights.assign(mean)
    return mean


RECIPE = StyleRecipe(
    preset="gst-tacotron2-slt", module="tfspeech.recipes.gst_tacotron2_slt",
    model_class=GSTTacotron2, config=CONFIG, voice=NEUTRAL_VOICE, voices=STYLE_VOICES,
    corpus_sentences=STYLE_SENTENCES, steps=2000, batch_size=16, checkpoint_every=250)


def main(argv=None) -> int:
    """Trains (``tts_training.main``); with ``--evaluate``, measures the run and writes the preset
    (``tfspeech.recipes.gst_evaluation``: style transfer, token control, intelligibility)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--evaluate" in argv:
        from tfspeech.recipes import gst_evaluation

        return gst_evaluation.main(RECIPE, argv)
    return tts_training.main(RECIPE, argv, own_evaluation=True)


if __name__ == "__main__":
    sys.exit(main())
