"""spoken_digits recipe pieces: left-to-right GMM-HMM fitting, cross-validation over voices,
model choice, confusion counting, voice split."""

import numpy as np
import pytest

from tfspeech.data.voices import parse_voice
from tfspeech.probabilistic import GaussianHMM
from tfspeech.recipes import spoken_digits


def _ramps(rng, n=5, features=3, split=0.0):
    """Sequences rising through three levels, of varying length; with ``split``, every other
    sequence sits ``split`` higher in the first feature (two modes per state)."""
    return [np.repeat(np.arange(3.0), length)[:, None] * np.ones(features)
            + split * (i % 2) * np.eye(features)[0] + 0.1 * rng.standard_normal((3 * length, features))
            for i, length in enumerate(rng.integers(4, 9, size=n))]


def _voices(n_voices, rng):
    """``{voice: {"up": rising ramp, "down": falling ramp}}``."""
    return {f"voice{v}": {"up": _ramps(rng, 1)[0], "down": _ramps(rng, 1)[0][::-1]} for v in range(n_voices)}


@pytest.mark.parametrize("n_mix", [1, 2])
def test_left_to_right_gmm_hmm_stays_left_to_right_and_orders_states(n_mix):
    hmm = spoken_digits.left_to_right_gmm_hmm(_ramps(np.random.default_rng(0), split=1.0), n_states=3, n_mix=n_mix)
    np.testing.assert_allclose(hmm.startprob_, [1, 0, 0])
    assert np.all(np.tril(hmm.transmat_, -1) == 0) and np.all(np.triu(hmm.transmat_, 2) == 0)
    assert hmm.weights_.shape == (3, n_mix) and np.isfinite(hmm.covars_).all()
    state_means = np.einsum("km,kmd->kd", hmm.weights_, hmm.means_)
    np.testing.assert_allclose(state_means[:, 1:].mean(axis=1), [0, 1, 2], atol=0.1)


def test_one_component_repeats_the_single_gaussian_fit():
    """n_mix=1 is the previous recipe: a diag GaussianHMM from the same uniform segmentation."""
    sequences = _ramps(np.random.default_rng(3))
    mixture = spoken_digits.left_to_right_gmm_hmm(sequences, n_states=3, n_mix=1)
    segments = [np.array_split(sequence, 3) for sequence in sequences]
    by_state = [np.concatenate([parts[k] for parts in segments]) for k in range(3)]
    settings = {k: v for k, v in spoken_digits.EM_SETTINGS.items() if k not in ("covars_prior", "covars_weight")}
    single = GaussianHMM(3, init_params="", **settings)
    single.startprob_ = np.array([1.0, 0, 0])
    single.transmat_ = np.array([[0.5, 0.5, 0], [0, 0.5, 0.5], [0, 0, 1.0]])
    single.means_ = np.stack([frames.mean(axis=0) for frames in by_state])
    single.covars_ = np.stack([frames.var(axis=0) + settings["min_covar"] for frames in by_state])
    single.fit(np.concatenate(sequences), [len(s) for s in sequences])
    assert mixture.monitor_.iter == single.monitor_.iter
    np.testing.assert_allclose(mixture.transmat_, single.transmat_, atol=1e-8)
    np.testing.assert_allclose(mixture.means_[:, 0], single.means_, atol=1e-8)
    np.testing.assert_allclose(mixture.covars_[:, 0], single._covars_, rtol=1e-6)


def test_two_components_fit_bimodal_states_better():
    sequences = _ramps(np.random.default_rng(4), n=8, split=2.0)
    one, two = (spoken_digits.left_to_right_gmm_hmm(sequences, 3, n_mix) for n_mix in (1, 2))
    X, lengths = np.concatenate(sequences), [len(s) for s in sequences]
    assert two.score(X, lengths) > one.score(X, lengths) + 10.0


def test_too_few_frames_for_the_mixture_is_a_clear_error():
    with pytest.raises(ValueError, match="mixture components"):
        spoken_digits.left_to_right_gmm_hmm(_ramps(np.random.default_rng(0), n=1), n_states=3, n_mix=8)


def test_voice_folds_partition_the_voices_reproducibly():
    voices = [f"v{i}" for i in range(11)]
    folds = spoken_digits.voice_folds(voices, n_folds=3)
    assert sorted(v for fold in folds for v in fold) == sorted(voices)
    assert sorted(map(len, folds)) == [3, 4, 4]
    assert folds == spoken_digits.voice_folds(list(reversed(voices)), n_folds=3)
    with pytest.raises(ValueError, match="n_folds"):
        spoken_digits.voice_folds(voices[:2], n_folds=3)


def test_cross_validation_scores_every_setting_on_unseen_voices():
    rng = np.random.default_rng(5)
    training = _voices(4, rng)
    cv = spoken_digits.cross_validate(training, n_states_grid=(2, 3), n_mix_grid=(1,), n_folds=2,
                                      words=("up", "down"))
    assert set(cv) == {(2, 1), (3, 1)}
    assert all(accuracy == 1.0 for accuracy in cv.values())  # rising and falling ramps never confuse
    # Both words spoken alike: identical word models, ties go to the first word, half is right.
    alike = {voice: {"up": words["up"], "down": words["up"]} for voice, words in _voices(4, rng).items()}
    cv = spoken_digits.cross_validate(alike, n_states_grid=(3,), n_mix_grid=(1,), n_folds=2, words=("up", "down"))
    assert cv == {(3, 1): 0.5}


def test_best_setting_prefers_accuracy_then_fewer_gaussians():
    assert spoken_digits.best_setting({(4, 1): 0.9, (6, 2): 0.95, (8, 1): 0.93}) == (6, 2)
    assert spoken_digits.best_setting({(4, 2): 0.95, (6, 1): 0.95, (8, 1): 0.95, (4, 1): 0.9}) == (6, 1)
    assert spoken_digits.best_setting({(4, 2): 0.95, (8, 1): 0.95}) == (8, 1)


def test_cv_table_marks_the_choice():
    table = spoken_digits.cv_table({(4, 1): 0.9, (4, 2): 0.925, (6, 1): 0.95, (6, 2): 0.5}, chosen=(6, 1))
    lines = table.splitlines()
    assert len(lines) == 4 and lines[0].count("|") == 4
    assert "| 6 | **95.0%** | 50.0% |" in lines and "| 4 | 90.0% | 92.5% |" in lines


def test_confusion_counts_true_against_recognized():
    rng = np.random.default_rng(1)
    rising = _ramps(rng)
    falling = [sequence[::-1] for sequence in _ramps(rng)]
    model, _ = spoken_digits.fit_recognizer({"a": {"up": rising[1], "down": falling[1]},
                                             "b": {"up": rising[2], "down": falling[2]},
                                             "c": {"up": rising[3], "down": falling[3]}},
                                            n_states=3, n_mix=1, words=("up", "down"), progress=False)
    voices = {"a": {"up": rising[0], "down": falling[0]}, "b": {"up": falling[4], "down": falling[4]}}
    matrix, accuracy = spoken_digits.confusion(model, voices)
    np.testing.assert_array_equal(matrix, [[1, 1], [0, 2]])
    assert accuracy == 0.75


def test_held_out_voices_are_disjoint_from_training_voices_and_dialects():
    held_out = [parse_voice(spec) for spec in spoken_digits.HELD_OUT_VOICES]
    training = [parse_voice(spec) for spec in spoken_digits.TRAIN_VOICES]
    assert len(held_out) >= 3 and not {v.spec for v in held_out} & {v.spec for v in training}
    held_out_dialects = {v.name.split("+")[0] for v in held_out if v.engine == "espeak"}
    assert held_out_dialects and not held_out_dialects & {v.name.split("+")[0] for v in training}
    assert len({v.spec for v in training}) == len(training)
