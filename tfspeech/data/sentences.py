"""The corpus text: WordNet's example sentences (or a user's file), cleaned, in a stable order.

Order and split depend only on each sentence's own text (a hash), never on the
other sentences, so a corpus can grow (larger ``n``, a newer WordNet, more lines
in a file) without any sentence changing its place relative to the others or
moving between train, validation and test.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_FILES = ("data.adj", "data.adv", "data.noun", "data.verb")
WORDNET_PACKAGE = "wordnet-base"

MIN_WORDS = 4
MAX_WORDS = 25
# Upper bounds of the hash fraction per split: 90 % train, 5 % validation, 5 % test.
SPLIT_BOUNDS = (("train", 0.90), ("validation", 0.95), ("test", 1.0))

_EXAMPLE = re.compile(r'"([^"]*)"')
_SPEAKABLE = re.compile(r"[A-Za-z][A-Za-z ,;:'-]*[.?!]?")
_ACRONYM = re.compile(r"\b[A-Z]{2,}\b")
_QUOTE_APOSTROPHE = re.compile(r"(?<![A-Za-z])'|'(?![A-Za-z])")


@dataclass(frozen=True)
class Sentence:
    """One corpus sentence: ``key`` (12 hex digits of its sha256) names it in utterance ids."""

    text: str
    key: str
    split: str


@dataclass(frozen=True)
class RejectedLine:
    """A line of a sentences file that cannot become a corpus sentence, and why."""

    line_number: int
    text: str
    reason: str


def sentence_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def split_of(text: str) -> str:
    """``"train"``, ``"validation"`` or ``"test"`` from a hash of the text alone (seed-independent)."""
    fraction = _hash_fraction("split", text)
    return next(name for name, bound in SPLIT_BOUNDS if fraction < bound)


def stable_order(texts, seed: int = 0) -> list[Sentence]:
    """Sorts ``texts`` by a seeded hash of each text: a fixed shuffle that survives insertions."""
    return [
        Sentence(text, sentence_key(text), split_of(text))
        for text in sorted(texts, key=lambda text: (_hash_fraction(str(seed), text), text))
    ]


def wordnet_examples(wordnet_dir: str | Path = WORDNET_DIR) -> list[str]:
    """Every quoted example in the glosses of WordNet's ``data.*`` files, in file order, raw."""
    wordnet_dir = Path(wordnet_dir)
    examples = []
    for name in WORDNET_FILES:
        path = wordnet_dir / name
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: the corpus text comes from WordNet's example sentences; "
                f"install them with `apt-get install {WORDNET_PACKAGE}`"
            )
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                # The license header's lines start with spaces; synset lines with an offset.
                if line.startswith(" ") or " | " not in line:
                    continue
                examples.extend(_EXAMPLE.findall(line.split(" | ", 1)[1]))
    return examples


def clean_example(example: str) -> str | None:
    """A WordNet example as one full, speakable sentence, or ``None`` when it is not one.

    Kept: ASCII examples that WordNet writes with a capital first letter (in
    WordNet these are whole sentences; lower-case ones are mostly phrases such
    as "a precise mind"), of ``MIN_WORDS`` to ``MAX_WORDS`` words, made only of
    letters, spaces and ``, ; : ' -`` with ``. ? !`` at the end. Dropped:
    digits, symbols, acronyms and inner full stops (abbreviations such as
    "Mr."), which synthesizers and the phonemizer read in different ways.
    Quote-like apostrophes are removed, "--" becomes a comma, and a full stop
    is added when the example has no final punctuation.
    """
    text = " ".join(example.replace("--", ", ").split()).replace(" ,", ",")
    text = _QUOTE_APOSTROPHE.sub("", text).strip()
    if not text.isascii() or not text[:1].isupper() or _ACRONYM.search(text):
        return None
    if not _SPEAKABLE.fullmatch(text) or not MIN_WORDS <= len(text.split()) <= MAX_WORDS:
        return None
    return text if text[-1] in ".?!" else text + "."


def wordnet_sentences(wordnet_dir: str | Path = WORDNET_DIR) -> list[str]:
    """WordNet's examples, cleaned (see ``clean_example``) and deduplicated, in file order."""
    sentences = {}
    for example in wordnet_examples(wordnet_dir):
        text = clean_example(example)
        if text is not None:
            sentences.setdefault(text.lower(), text)
    return list(sentences.values())


def read_sentences_file(path: str | Path) -> tuple[list[str], list[RejectedLine]]:
    """One sentence per line of a UTF-8 file: ``(sentences, rejected lines)``.

    Whitespace is collapsed and blank lines are ignored. A line holding ``|``
    (the metadata separator) or repeating an earlier line is rejected and
    returned with its reason, never dropped silently. No other filter applies:
    a line no voice can speak is found, skipped and listed by the build.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sentences file {path} does not exist (expected one sentence per line)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"sentences file {path} is not UTF-8 text ({error}); save it as UTF-8") from error
    sentences, rejected, seen = [], [], {}
    for number, line in enumerate(lines, start=1):
        text = " ".join(unicodedata.normalize("NFC", line).split())
        if not text:
            continue
        if "|" in text:
            rejected.append(RejectedLine(number, text, "holds '|', the metadata.csv separator"))
        elif text in seen:
            rejected.append(RejectedLine(number, text, f"repeats line {seen[text]}"))
        else:
            seen[text] = number
            sentences.append(text)
    return sentences, rejected


def _hash_fraction(salt: str, text: str) -> float:
    digest = hashlib.sha256(f"{salt}\n{text}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64
