"""`tfspeech convert IN.wav --to SPEAKER -o OUT.wav`."""

import pytest

from tests.test_conversion import save_tiny_vqvae, speech
from tfspeech import cli, conversion
from tfspeech.audio import load, save


@pytest.fixture(autouse=True)
def tiny_preset(tmp_path, monkeypatch):
    save_tiny_vqvae(tmp_path / "zoo")
    monkeypatch.setenv("TFSPEECH_ZOO_PATH", str(tmp_path / "zoo"))
    conversion._load.cache_clear()
    yield
    conversion._load.cache_clear()


def test_convert_writes_the_file_and_prints_its_path(tmp_path, capsys):
    source = save(tmp_path / "in.wav", speech(), 22050)
    out = tmp_path / "out.wav"
    assert cli.main(["convert", str(source), "--to", "alice", "-o", str(out), "--preset", "tiny-vqvae",
                     "--griffin-lim-iters", "2"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert load(out)[1] == 22050


def test_unknown_speaker_and_missing_file_are_user_errors(tmp_path, capsys):
    source = save(tmp_path / "in.wav", speech(), 22050)
    assert cli.main(["convert", str(source), "--to", "dave", "-o", str(tmp_path / "o.wav"),
                     "--preset", "tiny-vqvae"]) == 2
    assert "--to 'dave' is not a speaker of tiny-vqvae; choose one of alice, bob, carol" in capsys.readouterr().err
    assert cli.main(["convert", str(tmp_path / "missing.wav"), "--to", "bob", "-o", str(tmp_path / "o.wav"),
                     "--preset", "tiny-vqvae"]) == 2
    assert "missing.wav: no such file" in capsys.readouterr().err
