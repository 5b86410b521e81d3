from tfspeech.text import CHARACTERS, PHONEMES
from tfspeech.text.symbols import ARPABET, EOS, PAD

# Ids are stored in trained presets: these literals pin the order. Only appending is allowed.
PINNED_CHARACTERS = "_~!'\"(),-.:;? abcdefghijklmnopqrstuvwxyz"
PINNED_PHONEMES = (
    "AA0 AA1 AA2 AE0 AE1 AE2 AH0 AH1 AH2 AO0 AO1 AO2 AW0 AW1 AW2 AY0 AY1 AY2 EH0 EH1 EH2 ER0 ER1 "
    "ER2 EY0 EY1 EY2 IH0 IH1 IH2 IY0 IY1 IY2 OW0 OW1 OW2 OY0 OY1 OY2 UH0 UH1 UH2 UW0 UW1 UW2 B CH "
    "D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH").split()


def test_character_ids_are_stable():
    assert list(CHARACTERS[:len(PINNED_CHARACTERS)]) == list(PINNED_CHARACTERS)


def test_phoneme_ids_are_stable():
    assert list(PHONEMES[:14]) == list(PINNED_CHARACTERS[:14])
    assert list(PHONEMES[14:14 + len(PINNED_PHONEMES)]) == PINNED_PHONEMES


def test_pad_is_zero_and_end_of_sequence_is_one():
    for symbols in (CHARACTERS, PHONEMES):
        assert symbols.index(PAD) == 0 and symbols.index(EOS) == 1


def test_symbols_are_unique_and_never_hold_the_metadata_separator():
    for symbols in (CHARACTERS, PHONEMES):
        assert len(set(symbols)) == len(symbols)
        assert not any("|" in symbol or "{" in symbol or "}" in symbol for symbol in symbols)


def test_every_arpabet_vowel_carries_stress():
    vowels = [symbol for symbol in ARPABET if symbol[-1].isdigit()]
    assert len(vowels) == 15 * 3
    assert len(ARPABET) - len(vowels) == 24
