"""WordNet example extraction, cleaning, stable order and split, sentences files."""

import collections

import pytest

from tfspeech.data import sentences


@pytest.fixture(scope="module")
def wordnet():
    return sentences.wordnet_sentences()


def test_wordnet_examples_come_from_glosses_only():
    examples = sentences.wordnet_examples()
    assert len(examples) > 40_000
    assert "he acted with the best of motives" in examples
    assert "AS IS" not in examples  # quoted in the license header, not an example


@pytest.mark.parametrize(
    "example, cleaned",
    [
        ("He gave his life for his children", "He gave his life for his children."),
        ("Don't involve me in your family affairs!", "Don't involve me in your family affairs!"),
        ("The words 'new' and 'world' collocate", "The words new and world collocate."),
        ("She hasn't heard from her brother in years--he dropped out",
         "She hasn't heard from her brother in years, he dropped out."),
        ("  The   cold hardened the butter ", "The cold hardened the butter."),
        ("a precise mind and a strong will", None),  # lower case: a phrase in WordNet
        ("It remained feudatory to India until 1365", None),  # digits
        ("STD is from the Latin Sanctae Theologiae Doctor", None),  # acronym
        ("Mr. Smith paid the whole bill", None),  # abbreviation
        ("He left the house (quietly)", None),  # symbols
        ("Get out!", None),  # too short
        ("The caf\u00e9 was full of people", None),  # not ASCII
        (" ".join(["He"] + ["ran"] * 30), None),  # too long
    ],
)
def test_clean_example(example, cleaned):
    assert sentences.clean_example(example) == cleaned


def test_wordnet_sentences_are_clean_and_unique(wordnet):
    assert 5_000 < len(wordnet) < 15_000
    assert len({text.lower() for text in wordnet}) == len(wordnet)
    for text in wordnet:
        assert text.isascii() and text[0].isupper() and text[-1] in ".?!"
        assert sentences.MIN_WORDS <= len(text.split()) <= sentences.MAX_WORDS
        assert "|" not in text and "  " not in text


def test_missing_wordnet_names_the_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install wordnet-base"):
        sentences.wordnet_examples(tmp_path)


def test_stable_order_survives_growth_and_is_seeded(wordnet):
    small, extra = wordnet[:300], wordnet[300:600]
    ordered = sentences.stable_order(small, seed=0)
    grown = sentences.stable_order(extra + small, seed=0)
    kept = [s for s in grown if s.text in set(small)]
    assert kept == ordered  # same relative order, same keys, same splits
    assert sentences.stable_order(small, seed=0) == ordered
    reseeded = sentences.stable_order(small, seed=1)
    assert [s.text for s in reseeded] != [s.text for s in ordered]
    assert {s.text: s.split for s in reseeded} == {s.text: s.split for s in ordered}


def test_split_proportions_and_keys(wordnet):
    ordered = sentences.stable_order(wordnet)
    counts = collections.Counter(s.split for s in ordered)
    assert 0.87 < counts["train"] / len(ordered) < 0.93
    assert 0.035 < counts["validation"] / len(ordered) < 0.065
    assert 0.035 < counts["test"] / len(ordered) < 0.065
    assert len({s.key for s in ordered}) == len(ordered)
    assert all(len(s.key) == 12 and int(s.key, 16) >= 0 for s in ordered)


def test_read_sentences_file(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("zero\n\n  one   two \nzero\nthree|four\nfive\n", encoding="utf-8")
    texts, rejected = sentences.read_sentences_file(path)
    assert texts == ["zero", "one two", "five"]
    assert [(r.line_number, r.text) for r in rejected] == [(4, "zero"), (5, "three|four")]
    assert "repeats line 1" in rejected[0].reason and "'|'" in rejected[1].reason


def test_read_sentences_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="one sentence per line"):
        sentences.read_sentences_file(tmp_path / "missing.txt")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        sentences.read_sentences_file(latin1)
