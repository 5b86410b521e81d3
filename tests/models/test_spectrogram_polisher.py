"""SpectrogramPolisher (U-Net) and PolisherGAN (PatchGAN): shapes, padding, saving, training, export, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfspeech import export
from tfspeech.audio import MelConfig
from tfspeech.layers.patchgan import PatchDiscriminator
from tfspeech.layers.unet import UNet
from tfspeech.models.polisher_gan import PolisherGAN
from tfspeech.models.spectrogram_polisher import SpectrogramPolisher

MEL = MelConfig(n_fft=64, win_length=64, hop_length=16, n_mels=8, fmax=4000.0)
SMALL = dict(mel_config=MEL.to_dict(), channels=(4, 8), mel_low=np.log(MEL.log_floor), mel_high=1.0)


def small_polisher(randomize=True):
    """A tiny polisher; ``randomize`` gives its zero-initialized output layer random weights (no identity)."""
    keras.utils.set_random_seed(0)
    model = SpectrogramPolisher(**SMALL)
    model.build_from_preset()
    if randomize:
        kernel = model.unet.out.kernel
        kernel.assign(np.random.default_rng(1).normal(0, 0.3, kernel.shape).astype(np.float32))
    return model


def mel(frames, batch=1, seed=0):
    return np.random.default_rng(seed).normal(-4.0, 2.0, (batch, frames, MEL.n_mels)).astype(np.float32)


def pairs(count=32, frames=16, seed=0):
    """(blurred, sharp) log-mels: the target is the input's deviation from its mean, doubled."""
    x = mel(frames, count, seed)
    return x, (2.0 * (x - x.mean()) + x.mean()).astype(np.float32)


def test_unet_and_patchgan_shapes():
    assert UNet((4, 8, 16)).factor == 8
    assert UNet((4, 8))(tf.zeros((2, 8, 12, 3))).shape == (2, 8, 12, 1)
    assert PatchDiscriminator((4, 8, 16))(tf.zeros((2, 32, 16, 2))).shape == (2, 8, 4, 1)


def test_a_fresh_polisher_is_the_identity_above_silence():
    x = np.maximum(mel(13), np.log(MEL.log_floor))
    np.testing.assert_allclose(small_polisher(randomize=False).polish(x), x, atol=1e-5)


@pytest.mark.parametrize("frames", [1, 3, 5, 9])
def test_lengths_off_the_factor_are_padded_with_silence_and_cropped_back(frames):
    model = small_polisher()
    assert model.factor == 4
    x = mel(frames)
    padded = np.concatenate([x, np.full((1, -frames % 4, MEL.n_mels), model.silence, np.float32)], axis=1)
    out = model.polish(x)
    assert out.shape == x.shape
    np.testing.assert_allclose(out, model.polish(padded)[:, :frames], atol=1e-5)
    assert out.min() >= model.silence - 1e-6  # floored at silence


def test_bad_input_is_a_clear_error():
    model = small_polisher()
    bad = mel(8)
    bad[0, 3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.polish(bad)
    with pytest.raises(ValueError, match="bands"):
        model.polish(np.zeros((8, MEL.n_mels + 1), np.float32))
    with pytest.raises(ValueError, match="empty"):
        model.polish(np.zeros((0, MEL.n_mels), np.float32))
    with pytest.raises(ValueError, match="multiple of 16"):
        SpectrogramPolisher(MEL.to_dict(), channels=(4, 8, 16, 32), mel_high=1.0)
    with pytest.raises(ValueError, match="must exceed"):
        SpectrogramPolisher(MEL.to_dict(), channels=(4,), mel_low=1.0, mel_high=0.0)


def test_a_polisher_of_another_mel_config_does_not_fit_the_tts_model():
    from tfspeech.synthesis import check_polisher

    class Model:  # what check_polisher reads of a TTS model
        mel_config = MelConfig()

    with pytest.raises(ValueError, match="other mels"):
        check_polisher(small_polisher(), Model())
    with pytest.raises(ValueError, match="not a spectrogram polisher"):
        check_polisher(keras.Sequential([keras.layers.Dense(1)]), Model())
    check_polisher(SpectrogramPolisher(channels=(4, 8)), Model())


def test_saving_round_trip(tmp_path):
    model = small_polisher()
    model.save(tmp_path / "polisher.keras")
    loaded = keras.saving.load_model(tmp_path / "polisher.keras")
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded.polish(mel(10)), model.polish(mel(10)), atol=1e-6)


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_gan_training_lowers_the_l1_and_resumes_from_a_checkpoint(weight, tmp_path):
    keras.utils.set_random_seed(0)
    gan = PolisherGAN(SpectrogramPolisher(**SMALL), discriminator={"channels": (4, 8)}, adversarial_weight=weight)
    gan.compile(generator_optimizer=keras.optimizers.Adam(3e-3))
    assert (gan.discriminator is None) == (weight == 0)
    x, y = pairs()
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    before = gan.evaluate(data, verbose=0)
    discriminator_before = None if weight == 0 else [v.numpy().copy() for v in gan.discriminator.weights]
    history = gan.fit(data.repeat(), steps_per_epoch=40, epochs=1, verbose=0).history
    assert gan.evaluate(data, verbose=0) < 0.8 * before
    if weight:
        assert {"discriminator_loss", "adversarial_loss"} <= set(history)
        assert any(not np.allclose(a, b.numpy()) for a, b in zip(discriminator_before, gan.discriminator.weights))
    gan.save(tmp_path / "checkpoint.keras")
    restored = keras.saving.load_model(tmp_path / "checkpoint.keras")
    assert restored.adversarial_weight == weight
    assert int(restored.generator_optimizer.iterations) == 40
    if weight:
        assert int(restored.discriminator_optimizer.iterations) == 40
    np.testing.assert_allclose(restored.generator.polish(x[:2]), gan.generator.polish(x[:2]), atol=1e-6)
    restored.fit(data, steps_per_epoch=1, epochs=1, verbose=0)


def test_gan_refuses_other_generators_and_negative_weights():
    with pytest.raises(TypeError, match="SpectrogramPolisher"):
        PolisherGAN(keras.Sequential([keras.layers.Dense(1)]))
    with pytest.raises(ValueError, match=">= 0"):
        PolisherGAN(SpectrogramPolisher(**SMALL), adversarial_weight=-1.0)


def test_export_parity_on_two_lengths_one_shorter_than_the_factor(tmp_path):
    from tfspeech.runtime.litert_runner import LiteRTRunner

    model = small_polisher()
    data = {"polish": [{"mel": mel(3, seed=1)}, {"mel": mel(21, seed=2)}]}
    saved = export.saved_model(model, tmp_path / "saved", sample_data=data)
    assert saved.passed and len(saved.outputs) == 1
    report = export.tflite(model, tmp_path / "polisher.tflite", representative_data=data)
    assert report.passed and report.checked
    runner = LiteRTRunner(report.path)
    for frames in (3, 21):
        x = mel(frames, seed=frames)
        out = runner.run_signature("polish", mel=x)["polished"]
        assert out.shape == x.shape
        np.testing.assert_allclose(out, model.polish(x), atol=1e-4)


def test_a_gan_step_under_a_mirrored_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        gan = PolisherGAN(SpectrogramPolisher(**SMALL), discriminator={"channels": (4, 8)}, adversarial_weight=0.5)
        gan.compile()
    x, y = pairs(8)
    history = gan.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(4), epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0]) and np.isfinite(history["discriminator_loss"][0])
