import pytest

from tfspeech.text import TextEncoder, UnknownSymbolsError, normalize
from tfspeech.text.normalize import (
    normalize_speakable, spell_cardinal, spell_ordinal, spell_year, split_clauses, split_sentences)


@pytest.mark.parametrize("text, spoken", [
    ("0", "zero"),
    ("13", "thirteen"),
    ("21", "twenty one"),
    ("105", "one hundred five"),
    ("1,000,000", "one million"),
    ("1999", "nineteen ninety nine"),
    ("21st", "twenty first"),
    ("3.14", "three point one four"),
    ("$3.50", "three dollars and fifty cents"),
    ("50%", "fifty percent"),
    ("$1", "one dollar"),
    ("$0.01", "one cent"),
    ("$2.5 million", "two point five million dollars"),
    ("£5", "five pounds"),
    ("9.5 %", "nine point five percent"),
    ("1st 2nd 3rd 12th 20th 101st", "first second third twelfth twentieth one hundred first"),
    ("1905 2005 2010 1900", "nineteen oh five two thousand five twenty ten nineteen hundred"),
    ("3000 people", "three thousand people"),
    ("1,234.5", "one thousand two hundred thirty four point five"),
    ("the 1950s and '70s", "the nineteen fifties and seventies"),
    ("007", "zero zero seven"),
    ("-5 and .5", "minus five and point five"),
    ("pages 10-20", "pages ten to twenty"),
    ("at 3:30 or 12:00", "at three thirty or twelve o'clock"),
    ("5km", "five km"),
])
def test_numbers(text, spoken):
    assert normalize(text) == spoken


def test_large_numbers():
    assert spell_cardinal(1_002_003_004) == "one billion two million three thousand four"
    assert spell_cardinal(10**36) == "one" + " zero" * 36
    assert spell_ordinal(40) == "fortieth"
    assert spell_year(1066) == "ten sixty six"


def test_spell_cardinal_rejects_negative():
    with pytest.raises(ValueError, match="non-negative"):
        spell_cardinal(-1)


@pytest.mark.parametrize("text, spoken", [
    ("Mr. Smith met Mrs. Jones and Dr. Who", "mister smith met missus jones and doctor who"),
    ("St. Louis is on Main St.", "saint louis is on main street."),
    ("cats, e.g., lions; i.e. big ones", "cats, for example, lions; that is big ones"),
    ("apples, pears, etc. The end", "apples, pears, et cetera. the end"),
    ("apples, pears, etc. and plums", "apples, pears, et cetera and plums"),
    ("Ali vs. Frazier vs Foreman", "ali versus frazier versus foreman"),
    ("Feb. 29 is rare", "february twenty nine is rare"),
    ("salt & pepper", "salt and pepper"),
])
def test_abbreviations(text, spoken):
    assert normalize(text) == spoken


@pytest.mark.parametrize("text, spoken", [
    ("\u201cQuoted\u201d and \u2018single\u2019", '"quoted" and \'single\''),
    ("wait\u2026 what", "wait... what"),
    ("yes\u2014no", "yes - no"),
    ("a -- b", "a - b"),
    ("1990\u20131995", "nineteen ninety to nineteen ninety five"),
    ("the word `dog' is", "the word 'dog' is"),
    ("  Many\t\tSPACES\nand lines  ", "many spaces and lines"),
])
def test_punctuation_and_whitespace(text, spoken):
    assert normalize(text) == spoken


@pytest.mark.parametrize("text", [
    "Dr. Smith paid $3.50 on May 21st, 1999\u2026", "St. Louis, Main St.", "the 1950s: 50% off!",
])
def test_normalize_is_idempotent(text):
    assert normalize(normalize(text)) == normalize(text)


def test_unknown_characters_kept_for_the_encoder_to_report():
    assert normalize("caf\u00e9 * x \u0416") == "cafe * x \u0436"  # Latin transliterated, the rest kept


def test_normalize_speakable_lists_unknown_characters_with_positions():
    with pytest.raises(UnknownSymbolsError) as error:
        normalize_speakable("a*b|c*")
    assert error.value.unknown == {"*": [1, 5], "|": [3]}
    assert "'*'" in str(error.value) and "1, 5" in str(error.value)


def test_normalize_speakable_reports_leftovers_in_normalized_text():
    with pytest.raises(UnknownSymbolsError) as error:
        normalize_speakable("Pay in $ now")
    assert error.value.unknown == {"$": [7]}
    assert error.value.text == "pay in $ now"


@pytest.mark.parametrize("text", ["", "   ", "...", "?!"])
def test_nothing_speakable(text):
    with pytest.raises(ValueError, match="nothing to speak"):
        normalize_speakable(text)


def test_normalize_rejects_non_strings():
    with pytest.raises(TypeError, match="str"):
        normalize(42)


@pytest.mark.parametrize("text, expected", [
    ("Café naïve", "cafe naive"),
    ("Zoë", "zoe"),
    ("Straße, Æsop, Øresund, Łódź.", "strasse, aesop, oresund, lodz."),
    ("Señor Muñoz in São Paulo", "senor munoz in sao paulo"),
])
def test_accented_latin_letters_are_transliterated(text, expected):
    assert normalize(text) == expected
    assert normalize_speakable(text) == expected
    assert TextEncoder("characters").decode(TextEncoder("characters").encode(text)) == expected


@pytest.mark.parametrize("text, symbol", [("Привет", "П"), ("東京 tower", "東"), ("x ™ y", "™")])
def test_scripts_the_models_cannot_speak_keep_their_clear_error(text, symbol):
    with pytest.raises(UnknownSymbolsError) as error:
        normalize_speakable(text)
    assert symbol in error.value.unknown and "Latin letters" in str(error.value)


LONG = ("When the committee finally gathered in the old library on the hill, after weeks of letters and phone "
        "calls that nobody had answered, the chairman stood up and explained, slowly and with great care, that "
        "the budget for the new bridge across the river would have to be cut in half because the town had "
        "spent most of its money on the summer festival and the repairs to the school roof")


def test_long_sentences_split_at_clause_boundaries_and_lose_no_word():
    pieces = split_sentences(LONG, max_chars=110)
    assert len(pieces) >= 4 and all(len(p) <= 110 for p in pieces)
    assert " ".join(pieces).split() == normalize_speakable(LONG).split()
    assert pieces[0].endswith("on the hill,") and pieces[1].startswith("after weeks")  # at commas first
    assert split_sentences(LONG) == [normalize_speakable(LONG)]  # no limit: one sentence, as before


def test_clauses_break_before_conjunctions_then_anywhere():
    assert split_clauses("the cat sat on the mat and the dog slept by the fire", 30) == [
        "the cat sat on the mat", "and the dog slept by the fire"]
    assert all(len(p) <= 10 for p in split_clauses("aaa bbb ccc ddd eee fff ggg", 10))
    assert split_clauses("supercalifragilistic", 5) == ["supercalifragilistic"]  # one word stays whole
    with pytest.raises(ValueError, match="max_chars"):
        split_clauses("a b", 0)
