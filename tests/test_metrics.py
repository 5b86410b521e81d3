"""CER/WER on hand-made cases, transcripts, and the intelligibility judge's wiring."""

import numpy as np
import pytest

from tfspeech.decoding import transcript
from tfspeech.metrics import (
    character_error_rate,
    edit_distances,
    intelligibility,
    paired_cer_difference,
    word_error_rate,
)


@pytest.mark.parametrize(
    "reference, hypothesis, distance",
    [
        ("kitten", "sitting", 3),  # two substitutions and an insertion
        ("abc", "abc", 0),
        ("abc", "", 3),  # three deletions
        ("", "ab", 2),  # two insertions
        ("flaw", "lawn", 2),  # a deletion and an insertion
        ("abcd", "badc", 3),  # not 4: insert b (babcd), b→d (badcd), delete the last d
    ],
)
def test_edit_distance_of_hand_made_pairs(reference, hypothesis, distance):
    assert edit_distances([list(reference)], [list(hypothesis)]).tolist() == [distance]


def test_character_error_rate_is_corpus_level():
    # 1 edit over 3 characters and 3 edits over 6: (1 + 3) / (3 + 6)
    assert character_error_rate(["abc", "kitten"], ["abd", "sitting"]) == pytest.approx(4 / 9)


def test_character_error_rate_counts_spaces_and_can_exceed_one():
    assert character_error_rate(["a b"], ["ab"]) == pytest.approx(1 / 3)
    assert character_error_rate(["a"], ["abc"]) == pytest.approx(2.0)


def test_word_error_rate_of_hand_made_cases():
    assert word_error_rate(["the cat sat"], ["the cat sat down"]) == pytest.approx(1 / 3)
    assert word_error_rate(["a b c d"], ["a x c"]) == pytest.approx(2 / 4)
    assert word_error_rate(["he was not ill", "yes"], ["he was ill", "yes"]) == pytest.approx(1 / 5)
    assert word_error_rate(["same words here"], ["same  words here "]) == 0.0


def test_error_rates_refuse_bad_input():
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        character_error_rate(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no words"):
        word_error_rate([" "], ["a"])
    with pytest.raises(TypeError, match="list of strings"):
        character_error_rate("abc", "abd")


def test_transcript_keeps_what_is_heard():
    assert transcript("Dr. Smith's 2 cats, (sadly) gone!") == "doctor smith's two cats sadly gone"
    assert transcript("'Quoted' well-known") == "quoted well known"
    with pytest.raises(ValueError, match="nothing to speak"):
        transcript("...")
    assert transcript("§ ok", strict=False) == "ok"


def test_intelligibility_is_the_cer_of_the_preset_transcripts(tmp_path, monkeypatch):
    import tfspeech.zoo
    from tfspeech import decoding
    from tfspeech.models.ctc import CTCRecognizer

    model = CTCRecognizer(conv_filters=8, rnn_units=4, rnn_layers=1)
    model.build()
    tfspeech.zoo.save_preset(model, "tiny-ctc", root=tmp_path, data={"fingerprint": "none"},
                             training={"command": "test"}, metrics={})
    monkeypatch.setenv("TFSPEECH_ZOO_PATH", str(tmp_path))
    decoding._load_preset.cache_clear()
    rng = np.random.default_rng(0)
    waveforms = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (8000, 12000)]
    texts = ["Hello there.", "Good bye"]
    score = intelligibility(waveforms, texts, sample_rate=16000, preset="tiny-ctc")
    hypotheses = decoding.transcribe(waveforms, 16000, preset="tiny-ctc")
    assert score == pytest.approx(character_error_rate(["hello there", "good bye"], hypotheses))
    with pytest.raises(ValueError, match="2 waveforms but 1 texts"):
        intelligibility(waveforms, texts[:1], preset="tiny-ctc")
    decoding._load_preset.cache_clear()


def test_paired_cer_difference_is_the_corpus_difference_with_an_interval_around_it():
    references = ["abc", "kitten", "flaw", "same"] * 5
    a = ["abd", "sitting", "flaw", "same"] * 5  # 4 edits per 4 sentences
    b = ["abc", "kitten", "lawn", "same"] * 5  # 2 edits per 4 sentences
    result = paired_cer_difference(references, a, b, resamples=500)
    expected = character_error_rate(references, a) - character_error_rate(references, b)
    assert result["difference"] == pytest.approx(expected)
    assert result["low"] <= result["difference"] <= result["high"]
    assert result["low"] < result["high"]


def test_paired_cer_difference_of_identical_systems_is_exactly_zero():
    references = ["abc", "kitten"]
    result = paired_cer_difference(references, ["abd", "sitting"], ["abd", "sitting"])
    assert result["difference"] == result["low"] == result["high"] == 0.0
