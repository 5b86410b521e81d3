"""The TTS tf.data pipeline over a small hand-made espeak-ng corpus."""

import hashlib
import json
import math
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from tfspeech.audio.features import MelConfig, magnitude
from tfspeech.audio.io import load
from tfspeech.data import layout
from tfspeech.data.features import load_log_mel
from tfspeech.data.tts_pipeline import stop_targets, tts_dataset
from tfspeech.text import TextEncoder, phonemize

CONFIG = MelConfig(n_fft=256, win_length=256, hop_length=128, n_mels=20)
SENTENCES = [
    ("espeak-a", "Hi.", "train"),
    ("espeak-b", "The quick brown fox jumps over the lazy dog.", "train"),
    ("espeak-c", "Seven wizards judged the boxing match.", "train"),
    ("espeak-d", "A short one.", "train"),
    ("espeak-e", "Pack my box with five dozen liquor jugs, said the clerk.", "train"),
    ("other-f", "Another voice.", "train"),
    ("espeak-g", "Held out.", "test"),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make debian-packages)")
    root = tmp_path_factory.mktemp("corpus")
    (root / layout.WAVS).mkdir()
    utterances = []
    for utt_id, text, split in SENTENCES:
        subprocess.run(["espeak-ng", "-w", str(root / layout.WAVS / f"{utt_id}.wav"), text], check=True)
        speaker = "espeak:en" if utt_id.startswith("espeak") else "espeak:other"
        utterances.append(layout.Utterance(utt_id, text, phonemize(text), speaker, split))
    layout.write_metadata(root / layout.METADATA, utterances)
    entries = [{"id": u.id, "speaker": u.speaker, "split": u.split, "wav": f"{layout.WAVS}/{u.id}.wav",
                "sha256": hashlib.sha256(u.wav_path(root).read_bytes()).hexdigest()} for u in utterances]
    (root / layout.MANIFEST).write_text(json.dumps({"utterances": entries}))
    return root


def _batches(corpus, **options):
    options = {"mel_config": CONFIG, "progress": False, **options}
    return [(tf.nest.map_structure(np.asarray, x), tf.nest.map_structure(np.asarray, y))
            for x, y in tts_dataset(corpus, **options)]


def _by_text(batches, encoder):
    """{decoded text: (text ids, mels, length, stop, linear or None)} over all batches."""
    found = {}
    for x, y in batches:
        for i in range(len(x["text"])):
            found[encoder.decode(x["text"][i])] = (
                x["text"][i], x["mels"][i], int(x["mel_lengths"][i]), y["stop"][i], y.get("linear", [None] * 99)[i])
    return found


def test_batches_hold_the_cached_log_mels_padded_to_a_multiple_of_r(corpus):
    batches = _batches(corpus, reduction_factor=3, batch_size=2, shuffle=False)
    encoder = TextEncoder("characters")
    found = _by_text(batches, encoder)
    train = [u for u in layout.read_corpus(corpus, "train")]
    assert len(found) == len(train)
    floor = math.log(CONFIG.log_floor)
    for utterance in train:
        ids, mels, length, _, _ = found[encoder.decode(encoder.encode(utterance.text))]
        expected = load_log_mel(corpus, utterance.id, CONFIG)
        assert length == len(expected)
        np.testing.assert_array_equal(mels[:length], expected)
        assert np.all(mels[length:] == np.float32(floor))
    for x, y in batches:
        assert x["mels"].shape[1] % 3 == 0 and x["mels"].shape[1] - x["mel_lengths"].max() < 3
        np.testing.assert_array_equal(x["mels"], y["mels"])


def test_text_is_zero_padded_and_ends_with_end_of_sequence(corpus):
    for x, _ in _batches(corpus, batch_size=3, shuffle=False):
        for row in x["text"]:
            real = row[row != TextEncoder.pad_id]
            assert real[-1] == TextEncoder.eos_id and np.all(row[len(real):] == TextEncoder.pad_id)


def test_stop_targets_switch_on_at_the_last_real_frame(corpus):
    np.testing.assert_array_equal(stop_targets([3, 1], 5).numpy(), [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    for x, y in _batches(corpus, reduction_factor=2, batch_size=2):
        for length, stop in zip(x["mel_lengths"], y["stop"]):
            assert np.all(stop[:length - 1] == 0) and np.all(stop[length - 1:] == 1)


def test_buckets_group_similar_lengths(corpus):
    lengths = sorted(len(load_log_mel(corpus, u.id, CONFIG)) for u in layout.read_corpus(corpus, "train"))
    boundary = lengths[2]
    batches = _batches(corpus, batch_size=4, bucket_boundaries=[boundary])
    for x, _ in batches:
        short = x["mel_lengths"] <= boundary
        assert short.all() or not short.any()
    assert sorted(int(n) for x, _ in batches for n in x["mel_lengths"]) == lengths


def test_shuffling_is_seeded(corpus):
    def order(seed):
        return [tuple(x["mel_lengths"]) for x, _ in _batches(corpus, batch_size=1, seed=seed, bucket_boundaries=[])]
    assert order(3) == order(3)
    assert sorted(order(3)) == sorted(order(4))


def test_phoneme_ids_come_from_the_corpus_transcription(corpus):
    encoder = TextEncoder("phonemes")
    found = _by_text(_batches(corpus, symbols="phonemes", shuffle=False), encoder)
    assert sorted(found) == sorted(u.phonemes for u in layout.read_corpus(corpus, "train"))


def test_linear_targets_are_log_magnitudes_of_the_wav(corpus):
    batches = _batches(corpus, split="test", linear=True, reduction_factor=2)
    (x, y), = batches
    waveform, _ = load(corpus / layout.WAVS / "espeak-g.wav", sample_rate=CONFIG.sample_rate)
    expected = np.log(np.maximum(magnitude(waveform, CONFIG).numpy(), CONFIG.log_floor))
    length = int(x["mel_lengths"][0])
    assert y["linear"].shape[-1] == CONFIG.n_freq
    np.testing.assert_allclose(y["linear"][0, :length], expected, atol=1e-5)


def test_speakers_max_frames_and_errors(corpus):
    found = _by_text(_batches(corpus, speakers=["espeak:other"]), TextEncoder("characters"))
    assert list(found) == ["another voice."]
    longest = max(len(load_log_mel(corpus, u.id, CONFIG)) for u in layout.read_corpus(corpus, "train"))
    kept = [n for x, _ in _batches(corpus, max_frames=longest - 1) for n in x["mel_lengths"]]
    assert len(kept) == 5 and max(kept) < longest
    with pytest.raises(ValueError, match="espeak:en"):
        tts_dataset(corpus, speakers=["flite:rms"], mel_config=CONFIG, progress=False)
    with pytest.raises(ValueError, match="longer than max_frames"):
        tts_dataset(corpus, max_frames=1, mel_config=CONFIG, progress=False)
