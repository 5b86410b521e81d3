"""``tts_dataset_for(model, corpus)``: batches that fit the model they are for, and the
README's fine-tuning of the shipped tacotron2-slt on a corpus of another voice."""

import numpy as np
import pytest

from tests.data.test_tts_pipeline import corpus  # noqa: F401 - the tiny espeak-ng corpus fixture
from tests.models.test_tacotron2 import make
from tests.test_synthesis import tiny_tacotron
from tfspeech.data.tts_pipeline import tts_dataset_for
from tfspeech.text import TextEncoder


def test_batches_take_symbols_reduction_factor_and_mels_from_the_model(corpus):  # noqa: F811
    model = make(symbols="phonemes", reduction_factor=3, max_frames=2000)
    batches = list(tts_dataset_for(model, corpus, batch_size=2, progress=False))
    assert sum(len(x["text"]) for x, _ in batches) == 6  # the train split, both voices
    for inputs, targets in batches:
        assert inputs["mels"].shape[1] % 3 == 0 and inputs["mels"].shape[2] == model.n_mels
        assert int(np.max(inputs["text"])) < TextEncoder("phonemes").vocab_size
        assert "linear" not in targets
    phoneme_ids = {int(i) for x, _ in batches for i in np.ravel(x["text"])}
    assert phoneme_ids - set(range(len(TextEncoder("characters").symbols)))  # ids only phonemes have
    model.compile(**model.default_compile_args())
    history = model.fit(tts_dataset_for(model, corpus, batch_size=2, progress=False).take(1), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_tacotron_gets_linear_targets_and_its_length_guard(corpus):  # noqa: F811
    batches = list(tts_dataset_for(tiny_tacotron(max_frames=100_000), corpus, split=None, batch_size=4,
                                   progress=False))
    assert all("linear" in targets for _, targets in batches)
    lengths = np.sort(np.concatenate([x["mel_lengths"].numpy() for x, _ in batches]))
    assert len(lengths) == 7
    guard = int(lengths[3])
    kept = [x for x, _ in tts_dataset_for(tiny_tacotron(max_frames=guard), corpus, split=None, progress=False)]
    assert sum(len(x["text"]) for x in kept) == np.count_nonzero(lengths <= guard) < 7
    assert all(x["mel_lengths"].numpy().max() <= guard for x in kept)


def test_a_model_that_is_not_tts_is_refused(corpus):  # noqa: F811
    with pytest.raises(TypeError, match="is not a text-to-speech model"):
        tts_dataset_for(object(), corpus)


@pytest.mark.slow
def test_readme_fine_tuning_of_the_shipped_preset_runs(corpus):  # noqa: F811
    """The README's example on the tiny corpus: one short epoch of tacotron2-slt on another voice."""
    from tfspeech import zoo

    model = zoo.load("tacotron2-slt")
    before = [w.copy() for w in model.get_weights()[:3]]
    batches = tts_dataset_for(model, corpus, batch_size=2, speakers=["espeak:en"], progress=False)
    history = model.fit(batches.take(1), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()[:3]))
