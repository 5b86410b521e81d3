"""tf.data for CTC: examples from a corpus, length buckets, padding, seeded shuffling."""

import json

import numpy as np
import pytest
import soundfile

from tfspeech.audio import MelConfig
from tfspeech.data import layout
from tfspeech.data.pipeline import ctc_dataset, load_examples
from tfspeech.decoding import encode_transcript

RATE = 22050
HOP = MelConfig().hop_length
# (id, speaker, split, text, seconds): lengths spread so that several buckets fill.
UTTERANCES = [
    (f"u{i:02d}", "espeak:en-us" if i % 2 else "flite:rms", "test" if i == 9 else "train",
     f"sentence number {i}", 1.0 + 0.15 * i)
    for i in range(10)
] + [("long-text", "flite:rms", "train", "far too many words for so short a recording", 0.6)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A hand-made corpus in the builder's layout: tones whose lengths the tests know."""
    folder = tmp_path_factory.mktemp("corpus")
    (folder / layout.WAVS).mkdir()
    entries, utterances = [], []
    for utt_id, speaker, split, text, seconds in UTTERANCES:
        t = np.arange(int(seconds * RATE)) / RATE
        soundfile.write(folder / layout.WAVS / f"{utt_id}.wav", 0.3 * np.sin(2 * np.pi * 220 * t), RATE)
        utterances.append(layout.Utterance(utt_id, text, "{}", speaker, split))
        entries.append({"id": utt_id, "speaker": speaker, "split": split})
    layout.write_metadata(folder / layout.METADATA, utterances)
    (folder / layout.MANIFEST).write_text(json.dumps({"utterances": entries}))
    return folder


def frames_of(seconds):
    return 1 + int(seconds * RATE) // HOP


def test_examples_hold_frames_and_transcript_ids(corpus):
    examples = load_examples(corpus, "train", progress=False)
    assert [e.id for e in examples] == [u[0] for u in UTTERANCES if u[2] == "train"]
    by_id = {u[0]: u for u in UTTERANCES}
    for example in examples:
        _, speaker, _, text, seconds = by_id[example.id]
        assert example.num_frames == frames_of(seconds)
        assert np.load(example.features_path).shape == (example.num_frames, 80)
        assert list(example.labels) == encode_transcript(text).tolist()
        assert example.speaker == speaker


def test_speaker_filters(corpus):
    kept = load_examples(corpus, None, speakers=["espeak:en-us"], progress=False)
    dropped = load_examples(corpus, None, exclude_speakers=["espeak:en-us"], progress=False)
    assert {e.speaker for e in kept} == {"espeak:en-us"}
    assert {e.speaker for e in dropped} == {"flite:rms"}
    assert len(kept) + len(dropped) == len(UTTERANCES)
    with pytest.raises(ValueError, match="no utterances"):
        load_examples(corpus, "validation", progress=False)


def test_transcripts_longer_than_the_strided_frames_are_left_out(corpus):
    with pytest.warns(RuntimeWarning, match=r"left out 1 utterance.*long-text"):
        examples = load_examples(corpus, "train", time_stride=3, progress=False)
    assert "long-text" not in {e.id for e in examples}
    assert len(examples) == len([u for u in UTTERANCES if u[2] == "train"]) - 1


def test_batches_are_padded_and_bucketed_by_length(corpus):
    examples = load_examples(corpus, "train", progress=False)
    by_id = {e.num_frames: e for e in examples}  # lengths are distinct here
    boundaries = [120, 160]
    bucket_uppers = [*boundaries, max(by_id) + 1]
    seen = []
    for features, labels in ctc_dataset(examples, frames_per_batch=400, bucket_boundaries=boundaries, seed=0):
        log_mel, num_frames = features["log_mel"].numpy(), features["num_frames"].numpy()
        labels = labels.numpy()
        assert log_mel.shape[:2] == (len(num_frames), num_frames.max())
        buckets = set(np.digitize(num_frames, boundaries))
        assert len(buckets) == 1, "a batch mixes length buckets"
        assert len(num_frames) <= 400 // bucket_uppers[buckets.pop()]
        for row, frames in enumerate(num_frames):
            example = by_id[frames]
            np.testing.assert_array_equal(log_mel[row, :frames], np.load(example.features_path))
            assert not log_mel[row, frames:].any()
            n = len(example.labels)
            assert labels[row, :n].tolist() == list(example.labels) and not labels[row, n:].any()
            seen.append(example.id)
    assert sorted(seen) == sorted(e.id for e in examples)


def test_shuffling_is_seeded_and_changes_each_epoch(corpus):
    examples = load_examples(corpus, "train", progress=False)

    def order(dataset):
        return [int(f) for features, _ in dataset for f in features["num_frames"].numpy()]

    first = ctc_dataset(examples, frames_per_batch=1, bucket_boundaries=[1000], seed=3)
    again = ctc_dataset(examples, frames_per_batch=1, bucket_boundaries=[1000], seed=3)
    assert order(first) == order(again)
    epochs = [order(first) for _ in range(3)]
    assert len({tuple(e) for e in epochs}) > 1
    assert order(ctc_dataset(examples, frames_per_batch=1, bucket_boundaries=[1000], shuffle=False)) == [
        e.num_frames for e in examples
    ]


def test_bad_bucket_boundaries_are_refused(corpus):
    examples = load_examples(corpus, "train", progress=False)
    with pytest.raises(ValueError, match="increasing"):
        ctc_dataset(examples, bucket_boundaries=[90, 60])
