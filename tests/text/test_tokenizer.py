import numpy as np
import pytest

from tfspeech.text import TextEncoder, UnknownSymbolsError, normalize, phonemize

TEXT = 'Dr. Smith paid $3.50 - "quite a lot," she said; in 1999?!'


@pytest.mark.parametrize("symbols", ["characters", "phonemes"])
def test_encode_ends_with_eos_and_stays_in_vocabulary(symbols):
    encoder = TextEncoder(symbols)
    ids = encoder.encode(TEXT)
    assert ids[-1] == encoder.eos_id == 1
    assert encoder.pad_id not in ids
    assert all(0 <= index < encoder.vocab_size for index in ids)
    assert encoder.vocab_size == len(encoder.symbols)


def test_character_round_trip():
    encoder = TextEncoder("characters")
    assert encoder.decode(encoder.encode(TEXT)) == normalize(TEXT)


def test_phoneme_round_trip():
    encoder = TextEncoder("phonemes")
    assert encoder.decode(encoder.encode(TEXT)) == phonemize(TEXT)


def test_encode_phonemes_matches_encode_and_metadata_strings_round_trip():
    encoder = TextEncoder("phonemes")
    phonemes = phonemize(TEXT)
    assert encoder.encode_phonemes(phonemes) == encoder.encode(TEXT)
    assert encoder.decode(encoder.encode_phonemes(phonemes)) == phonemes


def test_phoneme_ids_separate_words_with_space():
    encoder = TextEncoder("phonemes")
    ids = encoder.encode_phonemes("{HH AH0 L OW1} , {W ER1 L D} .")
    assert [encoder.symbols[index] for index in ids] == [
        "HH", "AH0", "L", "OW1", ",", " ", "W", "ER1", "L", "D", ".", "~"]


def test_decode_skips_padding_and_stops_at_eos():
    encoder = TextEncoder("characters")
    ids = encoder.encode("hi there")
    padded = np.array([*ids, 0, 0, *encoder.encode("ignored")], dtype=np.int32)
    assert encoder.decode(padded) == "hi there"
    assert encoder.decode([0, *ids]) == "hi there"


def test_decode_rejects_ids_outside_vocabulary():
    encoder = TextEncoder("characters")
    with pytest.raises(ValueError, match="id 40 at position 1"):
        encoder.decode([20, encoder.vocab_size])


@pytest.mark.parametrize("symbols", ["characters", "phonemes"])
def test_unknown_characters_listed_with_positions(symbols):
    with pytest.raises(UnknownSymbolsError) as error:
        TextEncoder(symbols).encode("na\u00efve | caf\u00e9 | \u2603")
    assert error.value.unknown == {"|": [6, 13], "\u2603": [15]}  # accented letters are transliterated
    message = str(error.value)
    assert "'|' (U+007C) at 6, 13" in message and "U+2603" in message


def test_unknown_phoneme_symbols_listed_with_positions():
    with pytest.raises(UnknownSymbolsError) as error:
        TextEncoder("phonemes").encode_phonemes("{HH AH L OW1} | {W XX1 L D} .")
    assert error.value.unknown == {"AH": [4], "|": [14], "XX1": [19]}


@pytest.mark.parametrize("phonemes, message", [
    ("{HH AH0", "malformed"), ("{HH} }", "malformed"), ("{} .", "empty word"),
    (", .", "no word"),
])
def test_malformed_phonemes(phonemes, message):
    with pytest.raises(ValueError, match=message):
        TextEncoder("phonemes").encode_phonemes(phonemes)


def test_encode_phonemes_needs_the_phoneme_set():
    with pytest.raises(ValueError, match="TextEncoder\\('phonemes'\\)"):
        TextEncoder("characters").encode_phonemes("{HH AH0 L OW1}")


@pytest.mark.parametrize("symbols", ["characters", "phonemes"])
@pytest.mark.parametrize("text", ["", "  ", "...!"])
def test_nothing_speakable_raises(symbols, text):
    with pytest.raises(ValueError, match="nothing to speak"):
        TextEncoder(symbols).encode(text)


def test_config_round_trip():
    encoder = TextEncoder("phonemes")
    restored = TextEncoder.from_config(encoder.get_config())
    assert restored.symbols == encoder.symbols
    assert restored.encode("hello") == encoder.encode("hello")


def test_unknown_symbol_set():
    with pytest.raises(ValueError, match="choose one of"):
        TextEncoder("graphemes")
