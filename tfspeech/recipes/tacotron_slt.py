"""Recipe of the ``tacotron-slt`` preset: Tacotron on the Festival HTS slt voice, character input.

    python -m tfspeech.recipes.tacotron_slt --corpus <built corpus> --steps 6000

Sized for CPU training and the zoo's 15 MB weight limit (3.3 M parameters): the paper's
layout (content attention, r = 2, residual GRU decoder, post-CBHG to a linear
spectrogram) with conv banks of width 1..8 and 64 channels, and the guided-attention loss.
6,000 steps (≈1.3 s each on 2 CPU cores: 2.2 h), the last 40% with a decaying learning rate.
"""

import sys

from tfspeech.audio.features import MelConfig
from tfspeech.models.tacotron import Tacotron
from tfspeech.recipes import tts_training

CONFIG = {
    "symbols": "characters",
    "mel_config": MelConfig().to_dict(),
    "reduction_factor": 2,
    "embedding_dim": 128,
    "encoder_prenet_units": [128, 128],
    "encoder_prenet_dropout": 0.5,
    "encoder_bank_size": 8,
    "encoder_bank_filters": 64,
    "encoder_highway_layers": 4,
    "encoder_highway_units": 128,
    "encoder_rnn_units": 128,
    "attention": "content",
    "attention_units": 128,
    "prenet_units": [256, 128],
    "prenet_dropout": 0.5,
    "attention_rnn_units": 256,
    "decoder_units": 256,
    "decoder_layers": 2,
    "postnet_bank_size": 8,
    "postnet_bank_filters": 64,
    "postnet_projection_units": 128,
    "postnet_highway_layers": 4,
    "postnet_highway_units": 128,
    "postnet_rnn_units": 128,
    "max_frames": 1000,
    "guided_attention_weight": 1.0,
    "learning_rate": 1e-3,
}

RECIPE = tts_training.Recipe(
    preset="tacotron-slt", module="tfspeech.recipes.tacotron_slt",
    model_class=Tacotron, config=CONFIG, voice="festival:cmu_us_slt_arctic_hts",
    steps=6000, batch_size=16, checkpoint_every=250, linear=True)


def main(argv=None) -> int:
    return tts_training.main(RECIPE, argv)


if __name__ == "__main__":
    sys.exit(main())
