"""Attention mechanisms: padding gets zero weight, contexts are weighted sums, states evolve."""

import numpy as np
import pytest
import tensorflow as tf

from tfspeech.layers.attention import (
    ATTENTIONS, ContentAttention, GMMAttention, LocationSensitiveAttention, get_attention)

NAMES = ["content", "location", "gmm"]


def _batch(seed=0, batch=2, text=6, memory_dim=5, query_dim=7):
    rng = np.random.default_rng(seed)
    memory = rng.standard_normal((batch, text, memory_dim)).astype("float32")
    query = rng.standard_normal((batch, query_dim)).astype("float32")
    mask = np.ones((batch, text), bool)
    mask[0, 4:] = False
    return query, memory, mask


def _attend(attention, query, memory, mask, state=None):
    memory = tf.constant(memory)
    if not attention.built:
        attention.build(query.shape, memory.shape)
    keys = attention.process_memory(memory)
    state = attention.initial_state(memory) if state is None else state
    return attention(query, memory, keys, tf.constant(mask), state)


@pytest.mark.parametrize("name", NAMES)
def test_padding_gets_exactly_zero_weight(name):
    query, memory, mask = _batch()
    memory[0, 4:] = 1e3  # loud padding must still be ignored
    _, weights, _ = _attend(get_attention(name, units=8), query, memory, mask)
    assert np.all(weights.numpy()[0, 4:] == 0.0)
    assert np.all(weights.numpy()[0, :4] > 0.0)


@pytest.mark.parametrize("name", NAMES)
def test_context_is_the_weighted_sum_of_memory(name):
    query, memory, mask = _batch(seed=1)
    context, weights, _ = _attend(get_attention(name, units=8), query, memory, mask)
    np.testing.assert_allclose(context.numpy(), np.einsum("bn,bnd->bd", weights.numpy(), memory), atol=1e-5)


@pytest.mark.parametrize("name", ["content", "location"])
def test_softmax_attention_sums_to_one_over_real_symbols(name):
    query, memory, mask = _batch(seed=2)
    _, weights, _ = _attend(get_attention(name, units=8), query, memory, mask)
    np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, atol=1e-6)


def test_location_state_holds_the_previous_and_cumulative_weights():
    query, memory, mask = _batch(seed=3)
    attention = LocationSensitiveAttention(units=8, filters=4, kernel_size=3)
    _, first, state = _attend(attention, query, memory, mask)
    np.testing.assert_array_equal(state["alignment"].numpy(), first.numpy())
    _, second, state = _attend(attention, query, memory, mask, state)
    np.testing.assert_allclose(state["cumulative"].numpy(), (first + second).numpy(), atol=1e-7)
    assert not np.allclose(first.numpy(), second.numpy())  # the location features matter


def test_gmm_means_only_move_forward():
    query, memory, mask = _batch(seed=4)
    attention = GMMAttention(units=8, mixtures=3)
    _, _, state = _attend(attention, query, memory, mask)
    first = state["means"].numpy()
    _, _, state = _attend(attention, -query, memory, mask, state)
    assert np.all(first > 0) and np.all(state["means"].numpy() > first)


def test_state_shapes_describe_the_initial_state():
    _, memory, _ = _batch()
    for name in NAMES:
        attention = get_attention(name, units=8)
        state = attention.initial_state(tf.constant(memory))
        shapes = attention.state_shapes()
        assert sorted(state) == sorted(shapes)
        for key, shape in shapes.items():
            assert tf.TensorShape(shape).is_compatible_with(state[key].shape)


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip_gives_the_same_outputs(name):
    query, memory, mask = _batch(seed=5)
    attention = get_attention(name, units=8)
    context, weights, _ = _attend(attention, query, memory, mask)
    clone = type(attention).from_config(attention.get_config())
    clone.build(query.shape, memory.shape)
    clone.set_weights(attention.get_weights())
    clone_context, clone_weights, _ = _attend(clone, query, memory, mask)
    np.testing.assert_array_equal(clone_weights.numpy(), weights.numpy())
    np.testing.assert_array_equal(clone_context.numpy(), context.numpy())


def test_names_map_to_mechanisms_and_unknown_names_fail():
    assert ATTENTIONS["bahdanau"] is ContentAttention
    assert isinstance(get_attention("location", filters=8), LocationSensitiveAttention)
    with pytest.raises(ValueError, match="choose one of"):
        get_attention("monotonic")
