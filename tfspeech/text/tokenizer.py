"""Text ↔ symbol ids for the character or phoneme symbol set."""

import re
from collections.abc import Iterable

from tfspeech.text.normalize import normalize_speakable
from tfspeech.text.phonemes import phonemize
from tfspeech.text.symbols import (
    ARPABET, CHARACTERS, EOS, PAD, PHONEMES, PUNCTUATION, SPACE, UnknownSymbolsError)

SYMBOL_SETS = {"characters": CHARACTERS, "phonemes": PHONEMES}
_PHONEME_TOKEN = re.compile(r"\{([^{}]*)\}|([^\s{}])")


class TextEncoder:
    """Maps text to a list of symbol ids (ending with end-of-sequence) and back.

    ``symbols="characters"``: normalized text, one id per character.
    ``symbols="phonemes"``: ARPAbet from ``phonemize``, one id per phoneme,
    punctuation and word-separating space. Id 0 is padding, id 1 end-of-sequence.
    """

    pad_id = 0
    eos_id = 1

    def __init__(self, symbols: str = "characters"):
        if symbols not in SYMBOL_SETS:
            raise ValueError(f"unknown symbol set {symbols!r}; choose one of {sorted(SYMBOL_SETS)}")
        self.symbol_set = symbols
        self.symbols = list(SYMBOL_SETS[symbols])
        self._ids = {symbol: index for index, symbol in enumerate(self.symbols)}

    @property
    def vocab_size(self) -> int:
        """Number of symbols (the embedding table's row count)."""
        return len(self.symbols)

    def encode(self, text: str) -> list[int]:
        """Raw text → ids, normalized (and phonemized for "phonemes"), ending with EOS.

        Raises ``UnknownSymbolsError`` listing unsupported characters with their
        positions, ``ValueError`` when nothing speakable remains.
        """
        if self.symbol_set == "phonemes":
            return self.encode_phonemes(phonemize(text))
        return [self._ids[char] for char in normalize_speakable(text)] + [self.eos_id]

    def encode_phonemes(self, phonemes: str) -> list[int]:
        """A braces-format string (``{HH AH0 L OW1} , {W ER1 L D} .``) → ids ending with EOS.

        A space id goes before every word but the first; punctuation attaches
        to what precedes it, so ``decode`` gives back the canonical string.
        """
        if self.symbol_set != "phonemes":
            raise ValueError("encode_phonemes needs TextEncoder('phonemes'), this one encodes "
                             f"{self.symbol_set!r}")
        ids, unknown, words = [], {}, 0
        position = 0
        for match in _PHONEME_TOKEN.finditer(phonemes):
            _check_gap(phonemes, position, match.start())
            position = match.end()
            if match[2] is not None:
                if match[2] in PUNCTUATION:
                    ids.append(self._ids[match[2]])
                else:
                    unknown.setdefault(match[2], []).append(match.start())
                continue
            word = [(match.start(1) + symbol.start(), symbol[0])
                    for symbol in re.finditer(r"\S+", match[1])]
            if not word:
                raise ValueError(f"empty word '{{}}' at {match.start()} in phonemes {phonemes!r}")
            if words:
                ids.append(self._ids[SPACE])
            words += 1
            for offset, symbol in word:
                if symbol in ARPABET:
                    ids.append(self._ids[symbol])
                else:
                    unknown.setdefault(symbol, []).append(offset)
        _check_gap(phonemes, position, len(phonemes))
        if unknown:
            raise UnknownSymbolsError(phonemes, unknown, "phonemes", hint=(
                f"Phonemes are ARPAbet with stress digits (e.g. AH0, K) and punctuation "
                f"{PUNCTUATION}, written as tfspeech.text.phonemize writes them."))
        if not words:
            raise ValueError(f"phonemes {phonemes!r} hold no word to speak")
        return ids + [self.eos_id]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids → normalized text (characters) or braces-format phonemes.

        Padding is skipped and decoding stops at the first end-of-sequence.
        """
        symbols = []
        for position, index in enumerate(ids):
            index = int(index)
            if not 0 <= index < self.vocab_size:
                raise ValueError(f"id {index} at position {position} is outside the "
                                 f"{self.symbol_set!r} vocabulary (0..{self.vocab_size - 1})")
            symbol = self.symbols[index]
            if symbol == EOS:
                break
            if symbol != PAD:
                symbols.append(symbol)
        if self.symbol_set == "characters":
            return "".join(symbols)
        return _join_phonemes(symbols)

    def get_config(self) -> dict:
        return {"symbols": self.symbol_set}

    @classmethod
    def from_config(cls, config: dict) -> "TextEncoder":
        return cls(**config)

    def __repr__(self) -> str:
        return f"TextEncoder(symbols={self.symbol_set!r}, vocab_size={self.vocab_size})"


def _join_phonemes(symbols: list[str]) -> str:
    """Phoneme, space and punctuation symbols → the braces format."""
    tokens, word = [], []
    for symbol in [*symbols, SPACE]:
        if symbol == SPACE or symbol in PUNCTUATION:
            if word:
                tokens.append("{" + " ".join(word) + "}")
                word = []
            if symbol != SPACE:
                tokens.append(symbol)
        else:
            word.append(symbol)
    return " ".join(tokens)


def _check_gap(phonemes: str, start: int, end: int) -> None:
    """Between tokens only whitespace may appear (a stray brace is malformed input)."""
    gap = phonemes[start:end]
    if gap.strip():
        raise ValueError(f"malformed phonemes {phonemes!r}: unexpected {gap.strip()!r} at "
                         f"{start + gap.index(gap.strip()[0])}; expected words in braces like "
                         "{HH AH0 L OW1} and punctuation separated by spaces")
