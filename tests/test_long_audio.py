"""Long recordings are transcribed in chunks cut at quiet points, with memory bounded
independently of their length; silence gives an empty transcript."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile

from tfspeech import decoding
from tfspeech.metrics import character_error_rate

RATE = 16000


def bursts(seconds, period=3.0, gap=0.3, rate=RATE):
    """A 220 Hz tone, silent for ``gap`` s at the end of every ``period`` s."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) * ((t % period) < period - gap)).astype(np.float32)


def test_the_cut_falls_in_the_quietest_stretch():
    audio = bursts(4.0)  # silent from 2.7 s to 3.0 s
    cut = decoding.quietest_point(audio, RATE)
    assert 2.7 * RATE <= cut <= 3.0 * RATE


def test_chunks_are_bounded_cut_between_bursts_and_lose_nothing():
    audio = bursts(65.0)
    pieces = decoding.chunk_waveform(audio, RATE, chunk_seconds=10.0)
    assert len(pieces) >= 7 and all(len(p) <= 10 * RATE for p in pieces)
    np.testing.assert_array_equal(np.concatenate(pieces), audio)
    ends = np.cumsum([len(p) for p in pieces])[:-1] / RATE
    assert all((end % 3.0) >= 2.7 - 1e-3 or (end % 3.0) < 1e-3 for end in ends), ends


def test_silence_is_detected_and_quiet_speech_is_not():
    assert decoding.is_silence(np.zeros(RATE, np.float32), RATE)
    assert decoding.is_silence(np.full(RATE, 1e-4, np.float32), RATE)
    assert not decoding.is_silence(bursts(1.0) * 0.05, RATE)


def test_a_silent_recording_gives_an_empty_transcript(tmp_path):
    soundfile.write(tmp_path / "silence.wav", np.zeros(30 * RATE), RATE, subtype="PCM_16")
    assert decoding.transcribe_file(tmp_path / "silence.wav") == ""  # it used to say "a"
    assert decoding.transcribe([np.zeros(5 * RATE, np.float32)], RATE) == [""]


def test_a_chunked_file_reads_the_same_words(tmp_path):
    text = "the weather was lovely today so we walked along the river"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(tmp_path / "one.wav"), text], check=True)
    speech, rate = soundfile.read(tmp_path / "one.wav", dtype="float32")
    pause = np.zeros(rate // 2, np.float32)
    soundfile.write(tmp_path / "three.wav", np.concatenate([speech, pause] * 3), rate, subtype="PCM_16")
    chunked = decoding.transcribe_file(tmp_path / "three.wav", chunk_seconds=len(speech) / rate + 1.0)
    assert chunked.count("river") == 3, chunked  # no sentence lost or cut in two at a chunk boundary
    assert float(character_error_rate([" ".join([text] * 3)], [chunked])) < 0.25, chunked


MEMORY_PROBE = """
import resource, sys
from tfspeech.decoding import transcribe_file
text = transcribe_file(sys.argv[1])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, len(text))
"""


@pytest.mark.slow
def test_memory_stays_bounded_for_a_multi_minute_recording(tmp_path):
    """2.8 minutes of speech peak within 100 MB of one chunk's (whole-file decoding: +520 MB)."""
    sentence = "The weather was lovely today, so we walked along the river and watched the boats. "
    for name, repeats in (("short", 1), ("long", 36)):
        (tmp_path / f"{name}.txt").write_text(sentence * repeats)
        subprocess.run(["espeak-ng", "-v", "en-us", "-f", str(tmp_path / f"{name}.txt"), "-w",
                        str(tmp_path / f"{name}.wav")], check=True)
    assert soundfile.info(tmp_path / "long.wav").duration > 120
    peaks = {}
    for name in ("short", "long"):
        result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path / f"{name}.wav")],
                                capture_output=True, text=True, timeout=900, check=True)
        peaks[name], chars = map(int, result.stdout.split())
        assert chars > 0
    assert peaks["long"] - peaks["short"] < 100, peaks
