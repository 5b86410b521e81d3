"""The log-mel cache over a tiny hand-made corpus (no dependency on the corpus builder)."""

import hashlib
import json
import shutil
import subprocess

import numpy as np
import pytest

from tfspeech.audio.features import MelConfig, log_mel_spectrogram
from tfspeech.audio.io import load, save
from tfspeech.data import layout
from tfspeech.data.features import cache_log_mels, features_dir, load_log_mel

SENTENCES = {
    "espeak-0001": "Seven wizards judged the boxing match.",
    "espeak-0002": "A quick brown fox.",
}


@pytest.fixture
def corpus(tmp_path):
    """Two espeak-ng sentences at 22,050 Hz and one 16 kHz chirp (loaded with resampling)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make debian-packages)")
    (tmp_path / layout.WAVS).mkdir()
    utterances = []
    for utt_id, text in SENTENCES.items():
        wav = tmp_path / layout.WAVS / f"{utt_id}.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), text], check=True)
        utterances.append(layout.Utterance(utt_id, text, "", "espeak", "train"))
    t = np.arange(8000) / 16000
    chirp = 0.3 * np.sin(2 * np.pi * (200 + 3000 * t) * t)
    save(tmp_path / layout.WAVS / "chirp-0001.wav", chirp, 16000)
    utterances.append(layout.Utterance("chirp-0001", "chirp", "", "chirp", "test"))
    layout.write_metadata(tmp_path / layout.METADATA, utterances)
    entries = [
        {
            "id": u.id,
            "speaker": u.speaker,
            "split": u.split,
            "wav": f"{layout.WAVS}/{u.id}.wav",
            "sha256": hashlib.sha256(u.wav_path(tmp_path).read_bytes()).hexdigest(),
        }
        for u in utterances
    ]
    (tmp_path / layout.MANIFEST).write_text(json.dumps({"utterances": entries}))
    return tmp_path


def test_cache_holds_the_log_mel_of_every_utterance(corpus):
    config = MelConfig(n_mels=64)
    out_dir = cache_log_mels(corpus, config, progress=False)
    assert out_dir == corpus / "features" / config.fingerprint() == features_dir(corpus, config)
    assert json.loads((out_dir / "config.json").read_text()) == config.to_dict()
    ids = [u.id for u in layout.read_corpus(corpus)]
    assert sorted(p.stem for p in out_dir.glob("*.npy")) == sorted(ids)
    for utt_id in ids:
        waveform, _ = load(corpus / layout.WAVS / f"{utt_id}.wav", sample_rate=config.sample_rate)
        cached = load_log_mel(corpus, utt_id, config)
        assert cached.dtype == np.float32 and cached.shape == (config.num_frames(waveform.size), 64)
        np.testing.assert_allclose(cached, log_mel_spectrogram(waveform, config).numpy(), atol=1e-5)


def test_rerun_computes_only_what_is_missing(corpus, capsys):
    out_dir = cache_log_mels(corpus, progress=False)
    stamps = {p.name: p.stat().st_mtime_ns for p in out_dir.glob("*.npy")}
    (out_dir / "espeak-0002.npy").unlink()
    cache_log_mels(corpus, progress=True)
    assert "3/3" in capsys.readouterr().err
    for name, stamp in stamps.items():
        if name == "espeak-0002.npy":
            assert (out_dir / name).is_file()
        else:
            assert (out_dir / name).stat().st_mtime_ns == stamp
    assert not list(out_dir.glob(".*.partial"))


def test_each_config_gets_its_own_folder(corpus):
    default_dir = cache_log_mels(corpus, progress=False)
    other_dir = cache_log_mels(corpus, MelConfig(hop_length=128), progress=False)
    assert default_dir != other_dir
    frames_default = load_log_mel(corpus, "espeak-0001").shape[0]
    frames_other = load_log_mel(corpus, "espeak-0001", MelConfig(hop_length=128)).shape[0]
    assert frames_other > 1.9 * frames_default


def test_missing_features_and_mismatched_cache_are_explained(corpus):
    with pytest.raises(FileNotFoundError, match="cache_log_mels"):
        load_log_mel(corpus, "espeak-0001")
    out_dir = features_dir(corpus, MelConfig())
    out_dir.mkdir(parents=True)
    (out_dir / "config.json").write_text(json.dumps(MelConfig(n_mels=40).to_dict()))
    with pytest.raises(ValueError, match="delete .* and rerun"):
        cache_log_mels(corpus, progress=False)


def test_not_a_corpus_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a built corpus"):
        cache_log_mels(tmp_path, progress=False)
