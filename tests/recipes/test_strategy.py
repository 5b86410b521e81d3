"""tfspeech.recipes.strategy: one --strategy option in every gradient-trained recipe, the chief's
and the workers' paths, and (slow) every such zoo model taking the same SGD step on two replicas
as on one device (the losses' replica shares, the codebook's and ActNorm's global statistics)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from tfspeech.recipes import (ctc_multivoice, flow_digits, istft_vocoder_slt, polisher_slt, strategy, student_slt,
                              tacotron2_slt, tacotron_slt, vae_digits, vqvae_multivoice, wavenet_slt)

RECIPES = {
    "ctc_multivoice": ctc_multivoice.main,
    "vqvae_multivoice": vqvae_multivoice.main,
    "flow_digits": flow_digits.main,
    "vae_digits": vae_digits.main,
    "wavenet_slt": lambda argv: wavenet_slt.main(["--run-dir", "unused", *argv]),
    "tacotron2_slt": tacotron2_slt.main,
    "tacotron_slt": tacotron_slt.main,
    "student_slt": student_slt.main,
    "istft_vocoder_slt": istft_vocoder_slt.main,
    "polisher_slt": polisher_slt.main,
}  # gmm_digits and spoken_digits fit by EM, not by gradient: they have no strategy to choose


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_gradient_trained_recipe_takes_the_same_strategy_option(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        RECIPES[name](["--strategy", "several-gpus"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "--strategy: invalid choice: 'several-gpus'" in error
    assert all(f"'{choice}'" in error for choice in strategy.STRATEGIES)


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        strategy.make_strategy("multi-worker")
    with pytest.raises(ValueError, match="choose one of"):
        strategy.make_strategy("several-gpus")


def test_one_process_is_the_chief_and_keeps_its_paths():
    default = strategy.make_strategy("default")
    assert default is tf.distribute.get_strategy() and strategy.is_chief(default)
    assert strategy.worker_path(Path("runs/backup"), default) == Path("runs/backup")


@pytest.mark.slow
def test_zoo_models_take_the_same_step_on_two_replicas_as_on_one_device():
    script = Path(__file__).with_name("replica_steps.py")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=1200,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    differences = json.loads(result.stdout.splitlines()[-1])
    deterministic = {name: value for name, value in differences.items() if value is not None}
    assert set(deterministic) == {"CTCRecognizer", "GaussianMixtureDensity", "GaussianHMMDensity", "Glow", "VQVAE",
                                  "ISTFTVocoder", "VocoderGAN"}
    # float32 sums in another order; a replica share forgotten or taken twice gives 0.5
    assert max(deterministic.values()) < 1e-5, differences
    assert set(differences) - set(deterministic) == {"VariationalAutoencoder", "WassersteinGAN"}  # ran, finite
