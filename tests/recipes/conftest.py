"""Fixtures of the student recipe's slow tests: a 10-sentence corpus of its voice, a tiny teacher
preset (r = 3 like tacotron2-slt, half the student's)."""

import keras
import pytest

from tests.voices import require_voice
from tfspeech import zoo
from tfspeech.data.corpus import build_corpus
from tfspeech.models.tacotron2 import Tacotron2
from tfspeech.recipes import student_slt

VOICE = student_slt.RECIPE.voice
TINY_TEACHER = {**student_slt.CONFIG, "reduction_factor": 3, "embedding_dim": 8, "encoder_filters": 8,
                "encoder_layers": 1, "encoder_rnn_units": 4, "attention_units": 8,
                "attention_options": {"filters": 2, "kernel_size": 3}, "prenet_units": [8, 8],
                "attention_rnn_units": 8, "decoder_rnn_units": 8, "postnet_filters": 8, "postnet_layers": 2}


@pytest.fixture(scope="session")
def slt10_corpus(tmp_path_factory):
    require_voice(VOICE)
    return build_corpus([VOICE], n=10, out_dir=tmp_path_factory.mktemp("slt10"), progress=False)


@pytest.fixture(scope="session")
def tiny_teacher_zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    keras.utils.set_random_seed(3)
    teacher = Tacotron2(**TINY_TEACHER)
    teacher.build()
    zoo.save_preset(teacher, "tiny-teacher", root=root, data={"fingerprint": "none"},
                    training={"command": "none"}, metrics={})
    return root
