"""Real speech for the audio tests: one espeak-ng sentence, synthesized once per session."""

import shutil
import subprocess

import pytest
import soundfile


@pytest.fixture(scope="session")
def speech(tmp_path_factory):
    """About 4.5 s of espeak-ng speech at 22,050 Hz, float32 in [-1, 1]."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make debian-packages)")
    path = tmp_path_factory.mktemp("speech") / "sentence.wav"
    text = "The quick brown fox jumps over the lazy dog, while wizards judge the match."
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
    waveform, sample_rate = soundfile.read(path, dtype="float32")
    assert sample_rate == 22050
    return waveform
