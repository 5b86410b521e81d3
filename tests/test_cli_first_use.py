"""A new user's first minutes: model-free commands answer at once without TensorFlow,
every input is checked before a model loads, and the terminal shows no C++ log lines."""

import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tfspeech import cli, zoo
from tfspeech.native_logs import is_native_log

ZOO = Path(__file__).resolve().parent.parent / "zoo"
# Runs tfspeech.cli.main in a fresh interpreter and fails if TensorFlow got imported.
PROBE = (
    "import sys\n"
    "from tfspeech.cli import main\n"
    "try:\n"
    "    code = main(sys.argv[1:])\n"
    "except SystemExit as stop:\n"
    "    code = stop.code\n"
    "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    "sys.exit(code)\n"
)


def run_probe(*args, cwd=None, env=None):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120,
                            cwd=cwd, env=env)
    return result, time.perf_counter() - start


def tone(path, seconds=1.0, rate=22050):
    samples = 0.3 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * rate)) / rate)
    soundfile.write(path, samples, rate, subtype="PCM_16")
    return path


@pytest.mark.parametrize("args, code, says", [
    (["--help"], 0, "COMMAND"),
    (["zoo", "list"], 0, "tacotron2-slt"),
    (["zoo", "info", "gmm-digits"], 0, "held_out_mean_log_likelihood"),
    (["zoo", "info", "no-such"], 2, "no preset named 'no-such'"),
    (["no-such-command"], 2, "invalid choice"),
    (["export", "gmm-digits", "--format", "tflite"], 2, "-o/--output"),
    (["export", "gmm-digits", "--format", "saved_model", "--quantize", "int8", "-o", "m"], 2, "tflite only"),
    (["synthesize", "", "-o", "x.wav"], 2, "nothing to speak"),
    (["synthesize", "   ", "-o", "x.wav"], 2, "nothing to speak"),
    (["synthesize", "Hello.", "-o", "x.wav", "--preset", "no-such"], 2, "no preset named 'no-such'"),
    (["transcribe", "missing.wav"], 2, "missing.wav: no such file"),
    (["convert", "missing.wav", "--to", "flite:rms", "-o", "o.wav"], 2, "missing.wav: no such file"),
])
def test_model_free_commands_and_input_errors_answer_without_tensorflow(args, code, says, tmp_path):
    result, seconds = run_probe(*args, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert says in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    # measured ~0.1-0.2 s on 2 shared cores; importing TensorFlow alone takes 4-7 s there
    assert seconds < 2.5, f"{args} took {seconds:.1f} s"


def test_unwritable_outputs_are_refused_before_any_model_loads(tmp_path):
    (tmp_path / "a-file").write_text("x")
    for args in (["synthesize", "Hello.", "-o", "a-file/x.wav"],
                 ["synthesize", "Hello.", "-o", "x.wav", "--plot", "a-file/a.png"],
                 ["export", "gmm-digits", "--format", "saved_model", "-o", "a-file/models"],
                 ["export", "gmm-digits", "--format", "tflite", "-o", "a-file/m.tflite"],
                 ["synthesize", "Hello.", "-o", "."]):
        result, _ = run_probe(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert "cannot write" in result.stderr or "is a folder" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 2  # the error and the TFSPEECH_DEBUG hint


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused_before_synthesis(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o555)
    result, _ = run_probe("synthesize", "Hello.", "-o", "ro/x.wav", cwd=tmp_path)
    assert result.returncode == 2 and "cannot write ro/x.wav" in result.stderr


def test_bad_audio_is_refused_before_the_recognizer_loads(tmp_path):
    (tmp_path / "text.wav").write_text("not audio at all")
    soundfile.write(tmp_path / "empty.wav", np.zeros(0), 22050, subtype="PCM_16")
    (tmp_path / "folder.wav").mkdir()
    result, _ = run_probe("transcribe", "text.wav", "empty.wav", "folder.wav", cwd=tmp_path)
    assert result.returncode == 2
    for name in ("text.wav", "empty.wav", "folder.wav"):
        assert name in result.stderr
    assert "3 file(s) not transcribed" in result.stderr


def test_calibration_needs_int8_and_a_readable_array(tmp_path):
    result, _ = run_probe("export", "gmm-digits", "--format", "tflite", "--calibration", "x.npy", "-o", "m.tflite",
                          cwd=tmp_path)
    assert result.returncode == 2 and "--quantize int8" in result.stderr


def test_one_bad_file_does_not_stop_the_others_and_no_native_logs_show(tmp_path):
    tone(tmp_path / "a.wav")
    (tmp_path / "bad.wav").write_text("not audio")
    tone(tmp_path / "b.wav", rate=16000)
    result = subprocess.run([sys.executable, "-m", "tfspeech.cli", "transcribe", "a.wav", "bad.wav", "b.wav"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={k: v for k, v in os.environ.items() if k != cli.DEBUG_ENV})
    assert result.returncode == 1
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["a.wav", "b.wav"]
    assert "1 file(s) not transcribed" in result.stderr and "bad.wav" in result.stderr
    # TensorFlow was loaded: its C++ log lines (oneDNN, cudart, cuInit) must not reach the user
    assert not [line for line in result.stderr.splitlines() if is_native_log(line)], result.stderr
    assert "cuInit" not in result.stderr and "oneDNN" not in result.stderr


def test_native_log_lines_are_filtered_and_everything_else_passes(tmp_path):
    script = (
        "import os, sys\n"
        "from tfspeech.native_logs import filtered_stderr\n"
        "with filtered_stderr():\n"
        "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "    os.write(2, b'I0000 00:00:1796564576.821932    8907 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "    os.write(2, b'E0000 00:00:1796564580.264889    8907 cuda_platform.cc:52] failed call to cuInit\\n')\n"
        "    os.write(2, b'W0000 00:00:1.5 12 util.cc:131] multi-line\\n  continued detail\\n')\n"
        "    os.write(2, b'sox FAIL: a subprocess error\\n')\n"
        "    print('python message', file=sys.stderr)\n"
        "os.write(2, b'after\\n')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert sorted(result.stderr.splitlines()) == ["after", "python message", "sox FAIL: a subprocess error"]


def test_tfspeech_debug_shows_everything(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tfspeech.cli", "zoo", "info", "no-such"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, cli.DEBUG_ENV: "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_warnings_meant_for_users_print_as_one_plain_line(capsys):
    show = cli._plain_warning("synthesize")
    with warnings.catch_warnings():
        warnings.showwarning = show
        warnings.simplefilter("always")
        warnings.warn_explicit("sentence(s) [2] did not end", UserWarning, cli.__file__, 99)
        warnings.warn_explicit("some library detail", UserWarning, "/elsewhere/lib.py", 1)
    assert capsys.readouterr().err == "tfspeech synthesize: warning: sentence(s) [2] did not end\n"


def test_zoo_list_survives_a_broken_preset_and_names_it_and_shows_overrides(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "preset.json").write_text("{not json")
    shutil.copytree(ZOO / "gmm-digits", tmp_path / "gmm-digits")
    env = {**os.environ, zoo.ZOO_PATH_ENV: str(tmp_path)}
    result, _ = run_probe("zoo", "list", env=env)
    assert result.returncode == 0
    rows = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert set(rows) == set(p.name for p in ZOO.iterdir() if (p / "preset.json").is_file())
    assert f"overrides {ZOO / 'gmm-digits'}" in rows["gmm-digits"]
    assert "broken preset 'broken'" in result.stderr and str(tmp_path / "broken") in result.stderr


def test_zoo_shows_quality_headlines_not_counts():
    result, _ = run_probe("zoo", "info", "vqvae-multivoice")
    first = result.stdout.splitlines()[0]
    assert first.startswith("vqvae-multivoice: reconstruction_mse=") and "utterances" not in first
    listing, _ = run_probe("zoo", "list")
    assert "synthesized_cer=0.1589" in next(line for line in listing.stdout.splitlines()
                                            if line.startswith("tacotron2-slt "))
