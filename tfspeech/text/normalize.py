"""English text normalization: raw text → lowercase words a speech model can read.

``normalize`` expands numbers (cardinals, ordinals, years, decades, decimals,
currency, percentages, clock times), common abbreviations, maps typographic
punctuation to ASCII, transliterates accented Latin letters ("Café naïve" → "cafe
naive", "ß" → "ss") and collapses whitespace. Characters it does not know (other
scripts, symbols) are left in place so that the encoder can report them (never dropped
or guessed).

The number speller is written here rather than taken from a library: the
usual one (num2words) is not a dependency, and the rules TTS wants (years read
as "nineteen ninety nine", cents, digit-by-digit decimals) are a few lines.
"""

import re
import string
import unicodedata

from tfspeech.text.symbols import LETTERS, PUNCTUATION, UnknownSymbolsError, unsupported_characters

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = (
    "_ thousand million billion trillion quadrillion quintillion sextillion "
    "septillion octillion nonillion decillion"
).split()
_ORDINAL_WORDS = {
    "zero": "zeroth", "one": "first", "two": "second", "three": "third",
    "five": "fifth", "eight": "eighth", "nine": "ninth", "twelve": "twelfth",
}
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"),
               "£": ("pound", "pounds", "penny", "pence"),
               "€": ("euro", "euros", "cent", "cents")}
_MONTHS = {"jan": "january", "feb": "february", "mar": "march", "apr": "april",
           "jun": "june", "jul": "july", "aug": "august", "sep": "september",
           "sept": "september", "oct": "october", "nov": "november", "dec": "december"}
# Abbreviations always expanded; those marked True may end a sentence, so their
# period is kept when the text ends or a capitalized word follows.
_ABBREVIATIONS = {
    "mr": ("mister", False), "mrs": ("missus", False), "ms": ("miz", False),
    "dr": ("doctor", False), "prof": ("professor", False),
    "jr": ("junior", True), "sr": ("senior", True), "etc": ("et cetera", True),
    "vs": ("versus", False), "e.g": ("for example", False), "i.e": ("that is", False),
}
_TYPOGRAPHIC_PUNCTUATION = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
    "\u00b4": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
    "\u2033": '"', "\u00ab": '"', "\u00bb": '"', "\u2026": "...", "\u2010": "-",
    "\u2011": "-", "\u2012": "-", "\u2212": "-", "\u00a0": " ", "\u2009": " ",
    "\u202f": " ", "\u2013": " - ", "\u2014": " - ", "\u2015": " - ",
}
_PUNCTUATION_MAP = str.maketrans(_TYPOGRAPHIC_PUNCTUATION)
# Latin letters with no decomposition into a base letter and accents.
_LATIN_LIGATURES = {"ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
                    "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ł": "l", "Ł": "L",
                    "ı": "i", "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T", "ĸ": "k", "ŉ": "'n"}
# Characters normalize() turns into symbols (input side) and the symbols it produces (output side).
_EXPANDABLE = frozenset(string.ascii_letters + string.digits + PUNCTUATION + "$£€%&"
                        + "".join(_TYPOGRAPHIC_PUNCTUATION))
_SPEAKABLE_OUTPUT = frozenset(LETTERS + PUNCTUATION + " ")


def spell_cardinal(number: int) -> str:
    """Spell a non-negative integer in American English words ("one hundred five").

    Numbers of 10**36 and above are read digit by digit.
    """
    if number < 0:
        raise ValueError(f"spell_cardinal takes a non-negative integer, got {number}")
    if number >= 1000 ** len(_SCALES):
        return _spell_digits(str(number))
    if number == 0:
        return "zero"
    words = []
    for scale in reversed(range(len(_SCALES))):
        group, number = divmod(number, 1000 ** scale)
        if group:
            words.append(_spell_below_thousand(group))
            if scale:
                words.append(_SCALES[scale])
    return " ".join(words)


def spell_ordinal(number: int) -> str:
    """Spell a non-negative integer as an ordinal ("twenty first")."""
    *head, last = spell_cardinal(number).split()
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def spell_year(year: int) -> str:
    """Spell a year the way it is spoken: 1999 → "nineteen ninety nine", 1905 →
    "nineteen oh five", 2005 → "two thousand five", 2010 → "twenty ten"."""
    century, rest = divmod(year, 100)
    if year < 1000 or year % 1000 < 10:
        return spell_cardinal(year)
    if rest == 0:
        return f"{spell_cardinal(century)} hundred"
    if rest < 10:
        return f"{spell_cardinal(century)} oh {_ONES[rest]}"
    return f"{spell_cardinal(century)} {spell_cardinal(rest)}"


def transliterate_latin(text: str) -> str:
    """Accented and other Latin letters → ASCII letters ("Zoë" → "Zoe", "Æsop" → "AEsop").

    Only letters of the Latin script change; other scripts and symbols stay as they are.
    """
    if text.isascii():
        return text
    return "".join(_latin_to_ascii(char) if is_latin_letter(char) else char for char in text)


def is_latin_letter(char: str) -> bool:
    """A letter of the Latin script that ``transliterate_latin`` turns into ASCII."""
    if char.isascii():
        return char.isalpha()
    return char.isalpha() and unicodedata.name(char, "").startswith("LATIN") and _latin_to_ascii(char).isascii()


def _latin_to_ascii(char: str) -> str:
    if char in _LATIN_LIGATURES:
        return _LATIN_LIGATURES[char]
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if base.isascii() and base.isalpha() else char


def normalize(text: str) -> str:
    """Return ``text`` as lowercase speakable words with ASCII punctuation.

    Example: ``"Dr. Smith paid $3.50 on May 21st, 1999…"`` →
    ``"doctor smith paid three dollars and fifty cents on may twenty first, nineteen ninety nine..."``.
    Unknown characters are kept so the encoder can report them.
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize expects a str, got {type(text).__name__}")
    text = transliterate_latin(text)
    text = re.sub(r"(?<=\d)[\u2013\u2014](?=\d)", "-", text)
    text = text.translate(_PUNCTUATION_MAP).replace("--", " - ")
    text = _expand_abbreviations(text)
    text = _expand_numbers(text)
    text = text.replace("&", " and ")
    return " ".join(text.lower().split())


def normalize_speakable(text: str) -> str:
    """``normalize(text)``, refusing text the symbol sets cannot represent.

    Raises ``UnknownSymbolsError`` listing every unsupported character with its
    positions (in ``text`` itself, or in the normalized text for characters
    like a lone "$" that normalization leaves over), and ``ValueError`` when
    nothing speakable (no letter or digit) remains.
    """
    unknown = unsupported_characters(text, lambda char: char.isspace() or char in _EXPANDABLE
                                     or is_latin_letter(char))
    if unknown:
        raise UnknownSymbolsError(text, unknown, "text")
    normalized = normalize(text)
    unknown = unsupported_characters(normalized, lambda char: char in _SPEAKABLE_OUTPUT)
    if unknown:
        raise UnknownSymbolsError(normalized, unknown, f"text {text!r}, normalized to")
    if not any(char in LETTERS for char in normalized):
        raise ValueError(f"text {text!r} has nothing to speak: after normalization ({normalized!r}) "
                         "no letters are left. Pass text with at least one word or number.")
    return normalized


def split_sentences(text: str, max_chars: int | None = None) -> list[str]:
    """Normalized sentences of ``text`` (``normalize_speakable``), split after . ! ?

    Normalizing first keeps abbreviations ("Dr.", "e.g.") and numbers ("3.50") in one piece.
    With ``max_chars``, a longer sentence is split further at clause boundaries
    (``split_clauses``), so a model with a bounded number of frames can say all of it.
    Raises ``UnknownSymbolsError`` / ``ValueError`` for unsupported or unspeakable text.
    """
    sentences = [s for s in _SENTENCE_END.split(normalize_speakable(text)) if re.search("[a-z]", s)]
    if max_chars is None:
        return sentences
    return [part for sentence in sentences for part in split_clauses(sentence, max_chars)]


# Where a long sentence may be split, best first: after ; : , and dashes, then before a
# conjunction or relative word, then at any space.
_CLAUSE_BREAKS = (
    re.compile(r"(?<=[;:])\s+"),
    re.compile(r"(?<=,)\s+|\s+(?=- )|(?<= -)\s+"),
    re.compile(r"\s+(?=(?:and|but|or|so|because|while|which|who|whose|where|when|although|though|that|"
               r"then|yet|if|unless|since)\b)"),
    re.compile(r"\s+"),
)


def split_clauses(sentence: str, max_chars: int) -> list[str]:
    """``sentence`` as pieces of at most ``max_chars`` characters (a single word longer than
    that stays whole), split at the best clause boundary nearest the middle, recursively."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    sentence = sentence.strip()
    if len(sentence) <= max_chars:
        return [sentence] if sentence else []
    for pattern in _CLAUSE_BREAKS:
        breaks = [m for m in pattern.finditer(sentence) if 0 < m.start() and m.end() < len(sentence)]
        if breaks:
            middle = len(sentence) / 2
            best = min(breaks, key=lambda m: abs(m.start() - middle))
            return (split_clauses(sentence[:best.start()], max_chars)
                    + split_clauses(sentence[best.end():], max_chars))
    return [sentence]


def _spell_below_thousand(number: int) -> str:
    hundreds, rest = divmod(number, 100)
    words = [_ONES[hundreds], "hundred"] if hundreds else []
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens])
        if ones:
            words.append(_ONES[ones])
    elif rest:
        words.append(_ONES[rest])
    return " ".join(words)


def _spell_digits(digits: str) -> str:
    return " ".join(_ONES[int(digit)] for digit in digits)


def _spell_integer(digits: str, allow_year: bool = True) -> str:
    """Digits as spoken: leading zeros digit by digit, 1100-2099 as a year."""
    if len(digits) > 1 and digits.startswith("0"):
        return _spell_digits(digits)
    number = int(digits)
    if allow_year and len(digits) == 4 and 1100 <= number <= 2099:
        return spell_year(number)
    return spell_cardinal(number)


def _spell_decimal(integer: str, fraction: str) -> str:
    whole = _spell_integer(integer, allow_year=False) if integer else ""
    return f"{whole} point {_spell_digits(fraction)}".strip()


def _plural(words: str) -> str:
    """ "nineteen fifty" → "nineteen fifties", "six" → "sixes"."""
    if words.endswith("y"):
        return words[:-1] + "ies"
    return words + ("es" if words.endswith(("x", "s")) else "s")


def _spell_number(token: str, allow_year: bool = False) -> str:
    """ "42" → "forty two", "3.14" → "three point one four", ".5" → "point five"."""
    integer, _, fraction = token.partition(".")
    return _spell_decimal(integer, fraction) if fraction else _spell_integer(integer, allow_year)


def _spell_money(symbol: str, integer: str, fraction: str | None, scale: str | None) -> str:
    one_unit, units, one_cent, cents = _CURRENCIES[symbol]
    if scale or (fraction is not None and len(fraction) > 2):
        amount = _spell_number(f"{integer}.{fraction}" if fraction else integer)
        return " ".join(word for word in (amount, scale, units) if word)
    whole = int(integer or "0")
    cent = int((fraction or "0").ljust(2, "0"))
    parts = []
    if whole or not cent:
        parts.append(f"{spell_cardinal(whole)} {one_unit if whole == 1 else units}")
    if cent:
        parts.append(f"{spell_cardinal(cent)} {one_cent if cent == 1 else cents}")
    return " and ".join(parts)


def _sub_words(pattern: str, spell, text: str, flags: int = 0) -> str:
    """``re.sub`` that keeps a space between the spoken words and adjacent letters or digits."""

    def replace(match: re.Match) -> str:
        before = match.string[match.start() - 1: match.start()]
        after = match.string[match.end(): match.end() + 1]
        left = " " if before.isalnum() else ""
        right = " " if after.isalnum() else ""
        return f"{left}{spell(match)}{right}"

    return re.sub(pattern, replace, text, flags=flags)


def _expand_numbers(text: str) -> str:
    text = re.sub(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,]\d)", lambda m: m[0].replace(",", ""), text)
    text = _sub_words(
        r"([$£€])\s?(?=\.?\d)(\d*)(?:\.(\d+))?(?:\s(thousand|million|billion|trillion)\b)?",
        lambda m: _spell_money(m[1], m[2], m[3], m[4]), text)
    text = _sub_words(r"(\d+(?:\.\d+)?|\.\d+)\s?%", lambda m: _spell_number(m[1]) + " percent", text)
    text = _sub_words(r"(\d+)(?:st|nd|rd|th)\b", lambda m: spell_ordinal(int(m[1])), text,
                      flags=re.IGNORECASE)
    text = _sub_words(r"'?(\d+)s\b", lambda m: _plural(_spell_integer(m[1])), text)
    text = _sub_words(r"\b([01]?\d|2[0-4]):([0-5]\d)\b", _spell_time, text)
    text = re.sub(r"(?<=\d)\s?-\s?(?=\d)", " to ", text)
    text = re.sub(r"(?<![\w.])-(?=\.?\d)", "minus ", text)
    return _sub_words(r"\d*\.\d+|\d+", lambda m: _spell_number(m[0], allow_year=True), text)


def _spell_time(match: re.Match) -> str:
    hour, minute = int(match[1]), int(match[2])
    if minute == 0:
        return f"{spell_cardinal(hour)} o'clock"
    if minute < 10:
        return f"{spell_cardinal(hour)} oh {spell_cardinal(minute)}"
    return f"{spell_cardinal(hour)} {spell_cardinal(minute)}"


def _expand_abbreviations(text: str) -> str:
    # "St." is "saint" before a name (St. Louis) and "street" elsewhere (Main St.).
    text = re.sub(r"\b(?i:st)\.(?=\s+[A-Z])", "saint", text)
    text = re.sub(r"\b(?i:st)\.", lambda m: "street" + ("." if _ends_text(m) else ""), text)
    names = "|".join(re.escape(name) for name in sorted(_ABBREVIATIONS, key=len, reverse=True))
    text = re.sub(rf"\b(?i:({names}))\.", _expand_abbreviation, text)
    text = re.sub(r"\b(?i:vs)\b", "versus", text)
    months = "|".join(_MONTHS)
    return re.sub(rf"\b(?i:({months}))\.(?=\s*\d)", lambda m: _MONTHS[m[1].lower()], text)


def _expand_abbreviation(match: re.Match) -> str:
    """Expansion, keeping the period where the abbreviation ends a sentence."""
    expansion, may_end_sentence = _ABBREVIATIONS[match[1].lower()]
    next_is_capital = re.match(r"\s+[A-Z]", match.string[match.end():]) is not None
    ends_sentence = _ends_text(match) or (may_end_sentence and next_is_capital)
    return expansion + ("." if ends_sentence else "")


def _ends_text(match: re.Match) -> bool:
    return not match.string[match.end():].strip()
