"""WaveNet blocks: causality, step = call, gating, conditioning, upsampling, serialization."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfspeech.layers.wavenet_blocks import CausalConv1D, ConditioningUpsampler, GatedResidualBlock

RNG = np.random.default_rng(0)


def normal(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def test_causal_conv_reads_exactly_its_dilated_taps():
    conv = CausalConv1D(3, kernel_size=3, dilation_rate=4)
    x = normal(1, 40, 2)
    base = conv(x).numpy()
    t = 25
    for source in range(40):
        changed = x.copy()
        changed[0, source] += 1.0
        moved = not np.allclose(conv(changed).numpy()[0, t], base[0, t])
        assert moved == (source in (t - 8, t - 4, t)), source


def test_causal_conv_step_equals_call_at_every_time():
    conv = CausalConv1D(4, kernel_size=3, dilation_rate=2)
    x = normal(2, 30, 3)
    full = conv(x).numpy()
    padded = np.concatenate([np.zeros((2, conv.taps_needed, 3), np.float32), x], axis=1)
    for t in range(30):
        past = padded[:, t : t + conv.taps_needed : 2].swapaxes(0, 1)  # times t-4, t-2; time-major
        np.testing.assert_allclose(conv.step(past, x[:, t]).numpy(), full[:, t], atol=1e-5)


def test_causal_conv_refuses_other_padding_and_strides():
    with pytest.raises(ValueError, match="left only"):
        CausalConv1D(4, 2, padding="same")
    with pytest.raises(ValueError, match="stride 1"):
        CausalConv1D(4, 2, strides=2)


def make_block(**overrides):
    settings = dict(
        residual_channels=6, gate_channels=5, skip_channels=4, kernel_size=2, dilation=4,
        local_conditioning=True, global_conditioning=True,
    )
    return GatedResidualBlock(**{**settings, **overrides})


def test_block_is_causal_and_step_equals_call():
    block = make_block()
    x, local, speaker = normal(2, 24, 6), normal(2, 24, 3), normal(2, 7)
    residual, skip = (y.numpy() for y in block(x, local, speaker))
    later = x.copy()
    later[:, 15:] = normal(2, 9, 6)
    local_later = local.copy()
    local_later[:, 15:] = 0.0
    residual2, skip2 = (y.numpy() for y in block(later, local_later, speaker))
    np.testing.assert_array_equal(residual2[:, :15], residual[:, :15])
    np.testing.assert_array_equal(skip2[:, :15], skip[:, :15])
    padded = np.concatenate([np.zeros((2, 4, 6), np.float32), x], axis=1)
    for t in range(24):
        r, s = block.step(padded[:, t : t + 1].swapaxes(0, 1), x[:, t], local[:, t], speaker)
        np.testing.assert_allclose(r.numpy(), residual[:, t], atol=1e-5)
        np.testing.assert_allclose(s.numpy(), skip[:, t], atol=1e-5)


def test_block_computes_the_gated_unit_with_residual_and_skip():
    block = make_block(local_conditioning=False, global_conditioning=False, dilation=1)
    x = normal(1, 5, 6)
    residual, skip = (y.numpy() for y in block(x))
    kernel, bias = block.dilated.kernel.numpy(), block.dilated.bias.numpy()
    previous = np.concatenate([np.zeros((1, 1, 6), np.float32), x[:, :-1]], axis=1)
    pre = previous @ kernel[0] + x @ kernel[1] + bias
    z = np.tanh(pre[..., :5]) / (1.0 + np.exp(-pre[..., 5:]))
    out = z @ block.output_projection.kernel.numpy() + block.output_projection.bias.numpy()
    np.testing.assert_allclose(residual, x + out[..., :6], atol=1e-5)
    np.testing.assert_allclose(skip, out[..., 6:], atol=1e-5)


def test_conditioning_local_acts_at_its_time_global_everywhere():
    block = make_block()
    x, local, speaker = normal(1, 12, 6), normal(1, 12, 3), normal(1, 7)
    base = block(x, local, speaker)[1].numpy()
    bumped = local.copy()
    bumped[:, 6] += 1.0
    moved = np.abs(block(x, bumped, speaker)[1].numpy() - base).max(axis=-1)[0]
    assert moved[6] > 0 and np.all(moved[np.arange(12) != 6] == 0)
    other_speaker = block(x, local, speaker + 1.0)[1].numpy()
    assert np.all(np.abs(other_speaker - base).max(axis=-1) > 0)
    with pytest.raises(ValueError, match="pass `speaker`"):
        block(x, local)


@pytest.mark.parametrize("mode", ["transposed", "repeat"])
def test_upsampler_reaches_the_sample_rate_and_stays_local(mode):
    upsampler = ConditioningUpsampler(5, factors=(2, 4), mode=mode)
    mel = normal(2, 10, 3)
    out = upsampler(mel).numpy()
    assert out.shape == (2, 80, 5) and upsampler.compute_output_shape((2, 10, 3)) == (2, 80, 5)
    bumped = mel.copy()
    bumped[:, 5] += 1.0
    moved = np.abs(upsampler(bumped).numpy() - out).max(axis=(0, 2))
    assert moved[40:48].min() > 0  # the samples of frame 5
    assert np.all(moved[:16] == 0) and np.all(moved[72:] == 0)  # far frames do not see it


def test_upsampler_rejects_bad_settings():
    with pytest.raises(ValueError, match="unknown upsampling mode"):
        ConditioningUpsampler(4, (2, 2), mode="linear")
    with pytest.raises(ValueError, match="positive integers"):
        ConditioningUpsampler(4, (2, 0))


@pytest.mark.parametrize(
    "layer, inputs",
    [
        (CausalConv1D(3, 2, 8), (normal(1, 20, 2),)),
        (make_block(), (normal(1, 20, 6), normal(1, 20, 3), normal(1, 7))),
        (ConditioningUpsampler(4, (3, 2), "transposed"), (normal(1, 4, 3),)),
        (ConditioningUpsampler(4, (3, 2), "repeat"), (normal(1, 4, 3),)),
    ],
)
def test_layers_round_trip_through_their_config(layer, inputs):
    expected = tf.nest.map_structure(np.asarray, layer(*inputs))
    config = keras.saving.serialize_keras_object(layer)
    clone = keras.saving.deserialize_keras_object(config)
    clone(*inputs)
    clone.set_weights(layer.get_weights())
    tf.nest.map_structure(np.testing.assert_array_equal, tf.nest.map_structure(np.asarray, clone(*inputs)), expected)
