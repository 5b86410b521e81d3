"""`tfspeech export`: int8 calibration from the command line, and the parity report."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits


def export_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "tfspeech.cli", "export", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_int8_takes_calibration_samples_from_a_npy_file(tmp_path):
    np.save(tmp_path / "digits.npy", load_digits().data[:40].astype("float32"))
    result = export_cli("gmm-digits", "--format", "tflite", "--quantize", "int8", "--calibration", "digits.npy",
                        "-o", "gmm.tflite", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "int8" in result.stdout and "parity: passed" in result.stdout
    assert (tmp_path / "gmm.tflite").is_file()
    assert result.stderr == ""  # no C++ logs, no LiteRT notices


def test_int8_without_calibration_says_how_to_give_it(tmp_path):
    result = export_cli("gmm-digits", "--format", "tflite", "--quantize", "int8", "-o", "gmm.tflite", cwd=tmp_path)
    assert result.returncode == 2
    assert "--calibration samples.npy" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tacotron2-slt", "tacotron-slt"])
def test_autoregressive_presets_export_dynamic_with_a_length_aware_report(preset, tmp_path):
    """The quantized decoder may stop a step apart from Keras: reported, not a crash."""
    result = export_cli(preset, "--format", "tflite", "--quantize", "dynamic", "-o", "tts.tflite", cwd=tmp_path)
    assert "could not be broadcast" not in result.stderr
    assert result.returncode in (0, 2), result.stderr
    assert "parity: passed" in result.stdout or "parity: FAILED" in result.stderr
