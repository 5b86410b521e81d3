"""Recipe of the ``tacotron2-slt`` preset: Tacotron 2 on the Festival HTS slt voice, phoneme input.

    python -m tfspeech.recipes.tacotron2_slt --corpus <built corpus> --steps 20000

Sized for CPU training and the zoo's 15 MB weight limit (3.3 M parameters): the paper's
layout with narrower layers (decoder LSTMs 256, postnet 128 channels), r = 3, and the
guided-attention loss so the alignment forms within the first thousand steps.
"""

import sys

from tfspeech.audio.features import MelConfig
from tfspeech.models.tacotron2 import Tacotron2
from tfspeech.recipes import tts_training

CONFIG = {
    "symbols": "phonemes",
    "mel_config": MelConfig().to_dict(),
    "reduction_factor": 3,
    "embedding_dim": 128,
    "encoder_filters": 256,
    "encoder_kernel_size": 5,
    "encoder_layers": 3,
    "encoder_dropout": 0.5,
    "encoder_rnn_units": 128,
    "attention": "location",
    "attention_units": 128,
    "attention_options": {"filters": 32, "kernel_size": 31},
    "prenet_units": [128, 128],
    "prenet_dropout": 0.5,
    "attention_rnn_units": 256,
    "decoder_rnn_units": 256,
    "decoder_dropout": 0.1,
    "postnet_filters": 128,
    "postnet_kernel_size": 5,
    "postnet_layers": 5,
    "postnet_dropout": 0.5,
    "max_frames": 1000,
    "guided_attention_weight": 1.0,
    "learning_rate": 1e-3,
}

RECIPE = tts_training.Recipe(
    preset="tacotron2-slt", module="tfspeech.recipes.tacotron2_slt",
    model_class=Tacotron2, config=CONFIG, voice="festival:cmu_us_slt_arctic_hts",
    steps=20000, batch_size=16, checkpoint_every=250)


def main(argv=None) -> int:
    return tts_training.main(RECIPE, argv)


if __name__ == "__main__":
    sys.exit(main())
