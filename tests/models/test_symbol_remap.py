"""Fine-tuning a TTS model on another symbol set: the embedding is remapped, the rest copied."""

import numpy as np
import pytest

from tests.models import test_tacotron, test_tacotron2, tts_checks
from tfspeech.text import TextEncoder


@pytest.mark.parametrize("make", [test_tacotron2.make, test_tacotron.make], ids=["tacotron2", "tacotron"])
def test_phoneme_model_becomes_a_character_model(make):
    phonemes = make(symbols="phonemes")
    characters = phonemes.with_symbols("characters")
    assert characters.symbols == "characters"
    assert characters.vocab_size == TextEncoder("characters").vocab_size != phonemes.vocab_size
    old, new = phonemes.embedding.embeddings.numpy(), characters.embedding.embeddings.numpy()
    old_ids = {s: i for i, s in enumerate(TextEncoder("phonemes").symbols)}
    for new_id, symbol in enumerate(TextEncoder("characters").symbols):
        if symbol in old_ids:  # padding, end, punctuation, space
            np.testing.assert_array_equal(new[new_id], old[old_ids[symbol]])
    letter = TextEncoder("characters").symbols.index("a")
    assert not np.any(np.all(np.isclose(old, new[letter]), axis=1))  # a new row, not a copy
    assert np.all(np.isfinite(new))
    for source, target in zip(phonemes.weights, characters.weights):
        if source.path != phonemes.embedding.embeddings.path:
            np.testing.assert_array_equal(source.numpy(), target.numpy())
    x, y = tts_checks.batch(characters)
    characters.compile(**characters.default_compile_args())
    before = characters.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    for _ in range(3):
        characters.train_on_batch(x, y)
    assert characters.evaluate(x, y, verbose=0, return_dict=True)["loss"] < before


def test_unknown_symbol_set_is_a_clear_error():
    with pytest.raises(ValueError, match="'characters' or 'phonemes'"):
        test_tacotron2.make().with_symbols("graphemes")
