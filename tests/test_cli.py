"""The command line: help, and clear errors instead of tracebacks."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tfspeech.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("zoo", "export", "corpus", "features", "synthesize", "transcribe", "train", "demo"):
        assert command in result.stdout


def test_missing_subcommand_is_a_usage_error():
    result = run_cli()
    assert result.returncode == 2
    assert "COMMAND" in result.stderr


def test_unknown_voice_is_one_clear_line(tmp_path):
    result = run_cli("corpus", "build", "--voices", "festival:no_such_voice", "--n", "1",
                     "--out", str(tmp_path / "corpus"))
    assert result.returncode == 2
    assert "no_such_voice" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_preset_lists_the_zoo():
    result = run_cli("zoo", "info", "no-such-preset")
    assert result.returncode == 2
    assert "no preset named 'no-such-preset'" in result.stderr


@pytest.mark.parametrize("command", [
    ("transcribe", "speech.wav", "--preset", "gmm-digits"),
    ("convert", "speech.wav", "--to", "flite:rms", "-o", "out.wav", "--preset", "gmm-digits"),
    ("synthesize", "Hello.", "-o", "out.wav", "--preset", "gmm-digits"),
])
def test_a_preset_of_the_wrong_kind_is_one_clear_line(command, tmp_path):
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(11025) / 22050)
    soundfile.write(tmp_path / "speech.wav", tone, 22050, subtype="PCM_16")
    result = subprocess.run([sys.executable, "-m", "tfspeech.cli", *command], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "preset 'gmm-digits' is a GaussianMixtureDensity; this needs a" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_recipe_lists_the_recipes():
    result = run_cli("train", "no-such-recipe")
    assert result.returncode == 2
    assert "no recipe named 'no-such-recipe'" in result.stderr
    assert "tacotron2" in result.stderr and "gmm_digits" in result.stderr
