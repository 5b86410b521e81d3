"""WaveNet: causality, mu-law I/O, cached = naive generation, saving, training, export, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfspeech import export, zoo
from tfspeech.audio import MelConfig, mulaw_encode
from tfspeech.models.wavenet import WaveNet

MEL = MelConfig(n_fft=64, win_length=64, hop_length=8, n_mels=6, fmax=4000.0)
SMALL = dict(
    quantization_channels=32, residual_channels=8, gate_channels=8, skip_channels=8,
    layers_per_stack=3, stacks=2, conditioning_channels=5, mel_config=MEL.to_dict(),
)


def small_wavenet(**overrides):
    keras.utils.set_random_seed(0)  # the same weights every run: comparisons cannot hit a new near-tie
    model = WaveNet(**{**SMALL, **overrides})
    model.build_from_preset()
    return model


@pytest.fixture(scope="module")
def vocoder():
    """Mel- and speaker-conditioned, categorical output, receptive field 15."""
    return small_wavenet(num_speakers=3, speaker_channels=4)


def random_mel(batch=2, frames=6, seed=0):
    return np.random.default_rng(seed).normal(-4.0, 2.0, (batch, frames, MEL.n_mels)).astype(np.float32)


def random_classes(batch=2, samples=48, seed=1, channels=32):
    return np.random.default_rng(seed).integers(0, channels, (batch, samples)).astype(np.int32)


def test_output_at_t_sees_exactly_the_receptive_field_before_t(vocoder):
    assert vocoder.receptive_field == 1 + 2 * (1 + 2 + 4) == 15
    mel, audio, speaker = random_mel(1), random_classes(1), np.array([2])
    base = vocoder({"audio": audio, "mel": mel, "speaker": speaker}).numpy()
    t = 40
    for source in range(48):
        changed = audio.copy()
        changed[0, source] = (changed[0, source] + 7) % 32
        out = vocoder({"audio": changed, "mel": mel, "speaker": speaker}).numpy()
        moved = not np.allclose(out[0, t], base[0, t])
        assert moved == (t - 15 <= source < t), source  # never at or after t
        if source >= 30:
            np.testing.assert_array_equal(out[0, :source + 1], base[0, :source + 1])


def test_mulaw_round_trip_through_the_model_io(vocoder):
    """Waveform → classes in; classes → waveform out; the silence class is mu-law's 0."""
    waveform = 0.6 * np.sin(np.linspace(0, 10 * np.pi, 40, dtype=np.float32))
    classes = mulaw_encode(waveform, 32).numpy()[None]
    mel, speaker = random_mel(1, frames=5), np.array([0])
    assert vocoder({"audio": classes, "mel": mel, "speaker": speaker}).shape == (1, 40, 32)
    generated = vocoder.generate(mel, speaker=speaker, seed=4, jit_compile=False)
    assert generated.dtype == np.float32 and np.abs(generated).max() <= 1.0
    classes = vocoder.generate_classes(mel, speaker=speaker, seed=4, jit_compile=False).numpy()
    np.testing.assert_array_equal(mulaw_encode(generated, 32).numpy(), classes)
    assert vocoder.silence_class == int(mulaw_encode(0.0, 32))


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_cached_generation_equals_naive_sample_for_sample(vocoder, temperature):
    mel, speaker = random_mel(2, frames=5), np.array([0, 2])
    cached = vocoder.generate_classes(mel, speaker=speaker, seed=7, temperature=temperature).numpy()
    naive = vocoder.generate_classes(mel, speaker=speaker, seed=7, temperature=temperature, naive=True).numpy()
    eager_graph = vocoder.generate_classes(mel, speaker=speaker, seed=7, temperature=temperature, jit_compile=False)
    assert cached.shape == (2, 40)
    np.testing.assert_array_equal(cached, naive)
    np.testing.assert_array_equal(cached, eager_graph.numpy())
    assert len(np.unique(cached)) > 3  # not a constant sequence


def test_argmax_generation_agrees_with_teacher_forcing(vocoder):
    mel, speaker = random_mel(2, frames=5, seed=3), np.array([1, 1])
    classes = vocoder.generate_classes(mel, speaker=speaker, temperature=0.0).numpy()
    logits = vocoder({"audio": classes, "mel": mel, "speaker": speaker}).numpy()
    np.testing.assert_array_equal(logits.argmax(-1), classes)


def test_seeds_and_utterances_get_their_own_random_streams(vocoder):
    mel = np.repeat(random_mel(1, frames=5), 2, axis=0)
    first = vocoder.generate_classes(mel, speaker=[1, 1], seed=1).numpy()
    again = vocoder.generate_classes(mel, speaker=[1, 1], seed=1).numpy()
    other = vocoder.generate_classes(mel, speaker=[1, 1], seed=2).numpy()
    np.testing.assert_array_equal(first, again)
    assert (first[0] != first[1]).mean() > 0.5 and (first != other).mean() > 0.5


def test_logistic_mixture_generation_and_training():
    model = small_wavenet(output_distribution="logistic_mixture", mixtures=3, upsample_mode="repeat", stacks=1)
    mel = random_mel(2, frames=4)
    cached = model.generate_classes(mel, seed=5, jit_compile=False).numpy()  # XLA: categorical tests
    np.testing.assert_array_equal(cached, model.generate_classes(mel, seed=5, naive=True).numpy())
    assert cached.min() >= 0 and cached.max() < 32 and len(np.unique(cached)) > 3
    assert_one_step_lowers_the_loss(model, mel)


def assert_one_step_lowers_the_loss(model, mel):
    model.compile(**model.default_compile_args())
    audio = random_classes(2, mel.shape[1] * MEL.hop_length)
    inputs = {"audio": audio, "mel": mel}
    before = model.train_on_batch(inputs, audio)  # the loss at the weights before the update
    assert model.train_on_batch(inputs, audio) < before


def test_one_training_step_lowers_the_loss():
    model = small_wavenet(stacks=1)
    assert_one_step_lowers_the_loss(model, random_mel(2, frames=4))


@pytest.mark.parametrize("output", ["categorical", "logistic_mixture"])
def test_log_likelihood_is_the_negated_loss_per_sample(output):
    model = small_wavenet(output_distribution=output, mixtures=3, stacks=1)
    mel = random_mel(2, frames=4)
    audio = random_classes(2, 4 * MEL.hop_length)
    inputs = {"audio": audio, "mel": mel}
    log_likelihood = model.log_likelihood(inputs).numpy()
    assert log_likelihood.shape == audio.shape and np.all(log_likelihood <= 0)
    loss = model.default_compile_args()["loss"](audio, model(inputs)).numpy()
    np.testing.assert_allclose(-log_likelihood.mean(), loss, rtol=1e-5)
    # Changing one sample changes its own entry and, through the causal stack, only later ones.
    changed = audio.copy()
    changed[0, 10] = (changed[0, 10] + 1) % 32
    moved = model.log_likelihood({"audio": changed, "mel": mel}).numpy() != log_likelihood
    assert moved[0, 10] and not moved[0, :10].any() and not moved[1].any()


def test_config_and_keras_file_round_trips_give_equal_outputs(vocoder, tmp_path):
    inputs = {"audio": random_classes(2, 40), "mel": random_mel(2, frames=5), "speaker": np.array([0, 1])}
    expected = vocoder(inputs).numpy()
    clone = WaveNet.from_config(vocoder.get_config())
    clone.build_from_preset()
    clone.set_weights(vocoder.get_weights())
    np.testing.assert_array_equal(clone(inputs).numpy(), expected)
    path = tmp_path / "wavenet.keras"
    vocoder.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(reloaded(inputs).numpy(), expected)
    np.testing.assert_array_equal(
        reloaded.generate_classes(inputs["mel"], speaker=[0, 1], seed=3).numpy(),
        vocoder.generate_classes(inputs["mel"], speaker=[0, 1], seed=3).numpy(),
    )


def test_zoo_preset_round_trip(tmp_path):
    model = small_wavenet()
    record = dict(
        data={"fingerprint": "test"}, training={"command": "pytest"}, metrics={"nll": {"value": 1.0, "command": "-"}}
    )
    zoo.save_preset(model, "tiny-wavenet", root=tmp_path, **record)
    loaded = zoo.load("tiny-wavenet", root=tmp_path)
    inputs = model.example_inputs(batch_size=1, frames=3)
    inputs["mel"] = random_mel(1, frames=3)
    np.testing.assert_array_equal(loaded(inputs).numpy(), model(inputs).numpy())
    assert loaded.loss is not None  # compiled with default_compile_args for fine-tuning


def test_tflite_step_and_loop_use_builtins_and_match_keras(vocoder, tmp_path):
    report = export.tflite(vocoder, tmp_path / "wavenet.tflite")
    assert report.passed and report.flex_ops == ()
    errors = report.max_abs_error
    assert set(errors) == {"generate/audio", "condition/conditioning", "step/output", "step/state"}
    assert max(errors.values()) <= 1e-4


def test_saved_model_generate_signature_matches_keras(vocoder, tmp_path):
    report = export.saved_model(vocoder, tmp_path / "served")
    assert report.passed
    loaded = tf.saved_model.load(str(report.path))
    mel = random_mel(2, frames=5, seed=9)
    served = loaded.signatures["generate"](mel=tf.constant(mel), seed=tf.constant(11), speaker=tf.constant([2, 0]))
    expected = vocoder.generate(mel, speaker=[2, 0], seed=11)
    np.testing.assert_allclose(served["audio"].numpy(), expected, atol=1e-6)


def test_step_signature_generates_like_the_loop(vocoder):
    """A streaming host: condition once, then step with state in, state out, argmax sampling."""
    signatures = vocoder.export_signatures()
    mel = random_mel(1, frames=3, seed=5)
    conditioning = signatures["condition"](mel)["conditioning"]
    state, sample, produced = vocoder.initial_state(1), tf.constant([vocoder.silence_class]), []
    for t in range(conditioning.shape[1]):
        out = signatures["step"](sample, conditioning[:, t], state, tf.constant(t), tf.constant([1]))
        state, sample = out["state"], tf.argmax(out["output"], -1, output_type=tf.int32)
        produced.append(int(sample[0]))
    expected = vocoder.generate_classes(mel, speaker=[1], temperature=0.0).numpy()[0]
    np.testing.assert_array_equal(produced, expected)


@pytest.mark.parametrize(
    "mel, message",
    [
        (np.zeros((1, 5, 7), np.float32), "7 bands but this vocoder takes 6"),
        (np.zeros((1, 0, 6), np.float32), "empty"),
        (np.full((1, 5, 6), np.nan, np.float32), "30 NaN/inf"),
        (np.array([[[np.inf] * 6] * 2]), "12 NaN/inf"),
        (np.zeros((6,), np.float32), "shape \\(frames, 6\\)"),
        (None, "pass the log-mels"),
    ],
)
def test_bad_mels_get_clear_errors(vocoder, mel, message):
    with pytest.raises(ValueError, match=message):
        vocoder.generate(mel, speaker=[0])


def test_bad_speakers_and_settings_get_clear_errors(vocoder):
    mel = random_mel(2, frames=2)
    with pytest.raises(ValueError, match="pass speaker ids"):
        vocoder.generate(mel)
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        vocoder.generate(mel, speaker=[0, 3])
    with pytest.raises(ValueError, match="2 speaker ids for 1"):
        vocoder.generate(mel[:1], speaker=[0, 1])
    with pytest.raises(ValueError, match="multiply to 6, not the mel hop_length 8"):
        WaveNet(**{**SMALL, "upsample_factors": (3, 2)})
    with pytest.raises(ValueError, match="do not pass a mel"):
        WaveNet(**{**SMALL, "mel_config": None}).generate(mel)


def test_unconditional_generation_needs_a_length():
    model = small_wavenet(mel_config=None)
    assert model.generate(num_samples=20, seed=1, jit_compile=False).shape == (1, 20)
    with pytest.raises(ValueError, match="num_samples >= 1"):
        model.generate()
