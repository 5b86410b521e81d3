"""Vocoder crops: aligned audio and log-mels, seeded, padded, from a hand-made corpus."""

import hashlib
import json
import math

import numpy as np
import pytest

from tfspeech.audio import MelConfig, mulaw_encode, save
from tfspeech.data import layout
from tfspeech.data.vocoder_pipeline import crop, load_utterances, random_crops, vocoder_dataset

MEL = MelConfig(sample_rate=8000, n_fft=128, win_length=128, hop_length=32, n_mels=10, fmax=4000.0)
LENGTHS = {"tone-a": 1600, "tone-b": 2400, "tone-c": 200, "held-out": 800}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Four noisy tones of different pitch and length (one shorter than a crop), one in 'test';
    the noise makes every frame unique."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    utterances = []
    for i, (utt_id, length) in enumerate(LENGTHS.items()):
        t = np.arange(length) / MEL.sample_rate
        waveform = 0.5 * np.sin(2 * np.pi * (300 + 250 * i) * t) + rng.normal(0, 0.05, length)
        save(root / layout.WAVS / f"{utt_id}.wav", waveform, MEL.sample_rate)
        split = "test" if utt_id == "held-out" else "train"
        utterances.append(layout.Utterance(utt_id, "a tone", "", "tones", split))
    layout.write_metadata(root / layout.METADATA, utterances)
    entries = [
        {"id": u.id, "speaker": u.speaker, "split": u.split,
         "sha256": hashlib.sha256(u.wav_path(root).read_bytes()).hexdigest()}
        for u in utterances
    ]
    (root / layout.MANIFEST).write_text(json.dumps({"utterances": entries}))
    return root


@pytest.fixture(scope="module")
def train(corpus):
    return load_utterances(corpus, "train", MEL, progress=False)


def test_utterances_hold_aligned_classes_and_mels(train):
    assert sorted(u.id for u in train) == ["tone-a", "tone-b", "tone-c"]
    for u in train:
        frames = MEL.num_frames(LENGTHS[u.id])
        assert u.mel.shape == (frames, 10) and u.classes.shape == (frames * 32,) and u.classes.dtype == np.uint8
        assert u.num_samples == LENGTHS[u.id]
        assert u.silence_class == 128 and np.all(u.classes[u.num_samples :] == 128)


def test_every_crop_is_a_matching_slice_of_one_utterance(train):
    by_id = {u.id: u for u in train}
    dataset = vocoder_dataset(None, mel_config=MEL, segment_frames=6, batch_size=16, utterances=train)
    inputs, targets = next(iter(dataset))
    audio, mel = inputs["audio"].numpy(), inputs["mel"].numpy()
    assert audio.shape == (16, 6 * 32) and audio.dtype == np.int32 and mel.shape == (16, 6, 10)
    np.testing.assert_array_equal(targets.numpy(), audio)
    for classes, frames in zip(audio, mel):
        matches = [
            (utt_id, start)
            for utt_id, u in by_id.items()
            for start in range(u.mel.shape[0])
            if np.array_equal(crop(u, start, 6, MEL)[1], frames)
        ]
        assert len(matches) == 1
        utt_id, start = matches[0]
        np.testing.assert_array_equal(classes, by_id[utt_id].classes[start * 32 : (start + 6) * 32])
        assert start + 6 <= by_id[utt_id].mel.shape[0]  # long utterances are never cropped past their end


def test_crop_audio_is_the_mulaw_of_the_waveform_under_those_frames(corpus, train):
    from tfspeech.audio import load

    u = next(u for u in train if u.id == "tone-b")
    waveform, _ = load(corpus / layout.WAVS / "tone-b.wav")
    classes, _ = crop(u, 10, 4, MEL)
    np.testing.assert_array_equal(classes, mulaw_encode(waveform[320:448]).numpy())


def test_short_utterances_are_padded_with_silence_and_log_floor(train):
    short = next(u for u in train if u.id == "tone-c")  # 7 frames
    classes, mel = crop(short, 0, 10, MEL)
    assert classes.shape == (320,) and mel.shape == (10, 10)
    np.testing.assert_array_equal(mel[:7], short.mel)
    assert np.all(mel[7:] == np.float32(math.log(MEL.log_floor))) and np.all(classes[224:] == 128)


def test_same_seed_same_crops_other_seed_others(train):
    def first(seed, n=20):
        crops = random_crops(train, 5, MEL, seed)
        return np.stack([next(crops)[1] for _ in range(n)])

    np.testing.assert_array_equal(first(3), first(3))
    assert not np.array_equal(first(3), first(4))
    dataset = vocoder_dataset(None, mel_config=MEL, segment_frames=5, batch_size=4, seed=3, utterances=train)
    once, again = (next(iter(dataset))[0]["mel"].numpy() for _ in range(2))
    np.testing.assert_array_equal(once, again)


def test_held_out_split_and_errors(corpus):
    held_out = load_utterances(corpus, "test", MEL, progress=False)
    assert [(u.id, u.text) for u in held_out] == [("held-out", "a tone")]
    with pytest.raises(ValueError, match="no 'validation' utterances"):
        load_utterances(corpus, "validation", MEL, progress=False)
    with pytest.raises(ValueError, match="at least one frame"):
        next(random_crops(load_utterances(corpus, "test", MEL, progress=False), 0, MEL, 0))
