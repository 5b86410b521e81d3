"""The two symbol sets models read, and the error for text they cannot read.

Ids are positions in these tuples and are baked into trained presets:
append new symbols at the end, never reorder or remove.
"""

from collections.abc import Callable

PAD = "_"
EOS = "~"
SPACE = " "
PUNCTUATION = "!'\"(),-.:;?"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
ARPABET_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY",
                  "UH", "UW")
ARPABET_CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P",
                      "R", "S", "SH", "T", "TH", "V", "W", "Y", "Z", "ZH")
# Every vowel carries a stress digit: 0 unstressed, 1 primary, 2 secondary (as in cmudict).
ARPABET = tuple(f"{vowel}{stress}" for vowel in ARPABET_VOWELS for stress in "012") + \
    ARPABET_CONSONANTS

CHARACTERS = (PAD, EOS, *PUNCTUATION, SPACE, *LETTERS)
PHONEMES = (PAD, EOS, *PUNCTUATION, SPACE, *ARPABET)


_CHARACTER_HINT = (
    f"Remove or spell them out; supported are Latin letters (accents are dropped: é → e), digits, "
    f"whitespace, {PUNCTUATION} and what "
    "tfspeech.text.normalize expands ($ £ € % &, curly quotes, dashes, ellipsis).")


class UnknownSymbolsError(ValueError):
    """Text holds characters (or phoneme symbols) a symbol set cannot represent.

    ``unknown`` maps each unsupported symbol to its positions (0-based
    character offsets into ``text``), in order of first appearance.
    """

    def __init__(self, text: str, unknown: dict[str, list[int]], where: str = "text",
                 hint: str = _CHARACTER_HINT):
        self.text = text
        self.unknown = unknown
        listed = "; ".join(
            f"{symbol!r}{f' (U+{ord(symbol):04X})' if len(symbol) == 1 else ''} at "
            f"{', '.join(map(str, positions))}" for symbol, positions in unknown.items())
        super().__init__(f"{where} {text!r} has unsupported symbols: {listed}. {hint}")


def unsupported_characters(text: str, is_supported: Callable[[str], bool]) -> dict[str, list[int]]:
    """Map each character of ``text`` that ``is_supported`` rejects to its positions."""
    unknown: dict[str, list[int]] = {}
    for position, char in enumerate(text):
        if not is_supported(char):
            unknown.setdefault(char, []).append(position)
    return unknown
