"""export/transcribe_wav.py: a WAV transcribed by the exported recognizer with no TensorFlow."""

import subprocess
import sys
from pathlib import Path

from tests.no_tensorflow import run_without_tensorflow
from tfspeech.text import CHARACTERS

EXPORT = Path(__file__).resolve().parent.parent / "export"
SCRIPT = EXPORT / "transcribe_wav.py"


def test_alphabet_is_the_recognizers():
    sys.path.insert(0, str(EXPORT))
    try:
        import transcribe_wav
    finally:
        sys.path.remove(str(EXPORT))
    assert transcribe_wav.ALPHABET == "".join(CHARACTERS)


def test_transcribes_a_wav_without_tensorflow(tmp_path):
    from tfspeech import export, zoo
    from tfspeech.metrics import character_error_rate

    model_path = tmp_path / "ctc.tflite"
    export.tflite(zoo.load("ctc-multivoice"), model_path)
    text = "the weather is lovely today so we walked along the river"
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), text], check=True)
    result = run_without_tensorflow(SCRIPT, model_path, wav)
    assert result.returncode == 0, result.stderr[-2000:]
    heard = result.stdout.strip().splitlines()[-1]
    assert float(character_error_rate([text], [heard])) < 0.3, heard


def test_wrong_sample_rate_is_a_clear_error(tmp_path):
    wav = tmp_path / "16k.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-b", "16", "-c", "1", str(wav), "trim", "0", "0.5"],
                   check=True)
    result = subprocess.run([sys.executable, str(SCRIPT), "unused.tflite", str(wav)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "16000 Hz; the model needs 22050 Hz" in result.stderr



def test_every_bad_wav_is_one_clear_line_naming_the_file(tmp_path):
    import numpy as np
    import soundfile

    soundfile.write(tmp_path / "float.wav", np.zeros(22050, np.float32), 22050, subtype="FLOAT")
    (tmp_path / "text.wav").write_text("not a riff file")
    soundfile.write(tmp_path / "short.wav", np.zeros(100, np.int16), 22050, subtype="PCM_16")
    (tmp_path / "cut.wav").write_bytes(b"RIFF")
    files = ["float.wav", "text.wav", "short.wav", "cut.wav", "missing.wav"]
    result = subprocess.run([sys.executable, str(SCRIPT), "unused.tflite", *files], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(files) and "Traceback" not in result.stderr
    for name, line in zip(files, lines):
        assert line.startswith("transcribe_wav: error: ") and name in line
    assert "not a 16-bit PCM WAV file" in lines[0] and "sox" in lines[0]
    assert "the recognizer needs at least 513 samples" in lines[2]


def test_good_files_are_transcribed_past_a_bad_one(tmp_path):
    from tfspeech import export, zoo

    model_path = tmp_path / "ctc.tflite"
    export.tflite(zoo.load("ctc-multivoice"), model_path)
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(tmp_path / "a.wav"), "hello"], check=True)
    subprocess.run(["sox", str(tmp_path / "a.wav"), "-r", "22050", str(tmp_path / "b.wav")], check=True)
    (tmp_path / "bad.wav").write_text("x")
    result = run_without_tensorflow(SCRIPT, model_path, tmp_path / "bad.wav", tmp_path / "b.wav")
    assert result.returncode == 1
    assert result.stdout.strip().startswith(str(tmp_path / "b.wav"))
    assert "bad.wav is not a WAV file" in result.stderr
