"""Checks every attention-decoder TTS model must pass (used by test_tacotron2.py and test_tacotron.py;
the shipped-preset tests use ``check_fine_tuning_lowers_held_out_loss``).

They take ``model``, a tiny built model with r = 2, ``max_frames=8``, the prenet's inference
dropout on (its masks are a seeded table: outputs are deterministic) and other dropouts 0,
whose weights may be changed; or ``make(**overrides)``, a factory of such models, freshly seeded.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfspeech import export, zoo
from tfspeech.data.tts_pipeline import stop_targets, tts_dataset_for
from tfspeech.models.attention_tts import frames_to_steps, steps_to_frames
from tfspeech.runtime.litert_runner import LiteRTRunner

TEXT = np.array([[5, 6, 7, 8, 1, 0, 0], [9, 10, 11, 12, 13, 14, 1]], np.int32)  # 0: padding, 1: end


def batch(model, frames=8, seed=0):
    """A teacher-forcing batch ``(inputs, targets)`` for ``TEXT`` (first utterance 7 frames long)."""
    rng = np.random.default_rng(seed)
    mels = rng.normal(-4.0, 1.0, (2, frames, model.n_mels)).astype(np.float32)
    lengths = np.array([frames - 1, frames], np.int32)
    x = {"text": TEXT, "mels": mels, "mel_lengths": lengths}
    y = {"mels": mels, "stop": stop_targets(lengths, frames).numpy()}
    if "linear_loss" in model.loss_names():
        y["linear"] = rng.normal(-4.0, 1.0, (2, frames, model.n_freq)).astype(np.float32)
    return x, y


def infer(model, text=TEXT, max_frames=None):
    return {k: v.numpy() for k, v in model.infer(text, max_frames=max_frames).items()}


def set_stop_bias(model, value):
    bias = model.stop_projection.bias
    bias.assign(np.full(bias.shape, value, np.float32))
    model.stop_projection.kernel.assign(np.zeros(model.stop_projection.kernel.shape, np.float32))


def check_config_and_keras_file_round_trip(model, tmp_path):
    x, _ = batch(model)
    expected = model(x, training=False)
    clone = type(model).from_config(model.get_config())
    clone.build()
    clone.set_weights(model.get_weights())
    assert clone.get_config() == model.get_config()
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded) is type(model)
    for other in (clone, reloaded):
        for key, value in other(x, training=False).items():
            np.testing.assert_array_equal(value.numpy(), expected[key].numpy(), err_msg=key)


def check_zoo_round_trip_gives_a_model_ready_for_fit(model, tmp_path):
    x, _ = batch(model)
    expected = model(x, training=False)
    zoo.save_preset(model, "tiny-tts", root=tmp_path, data={"fingerprint": "none"},
                    training={"command": "tests"}, metrics={})
    loaded = zoo.load("tiny-tts", root=tmp_path)
    assert loaded.optimizer is not None and not loaded.optimizer.built  # compiled, not yet trained
    for key, value in loaded(x, training=False).items():
        np.testing.assert_array_equal(value.numpy(), expected[key].numpy(), err_msg=key)


def check_one_training_step_lowers_the_loss(make):
    """One step of the optimizer ``fit`` would use, on the loss ``fit`` would minimize (eager:
    tracing the training graph takes longer than these tests may; the recipe test runs ``fit``)."""
    model = make(guided_attention_weight=1.0, learning_rate=3e-3, prenet_dropout=0.0)
    optimizer = model.default_compile_args()["optimizer"]
    x, y = batch(model)
    with tf.GradientTape() as tape:
        before = model.compute_loss(x, y, model(x, training=True))
    gradients = tape.gradient(before, model.trainable_variables)
    assert all(g is not None for g in gradients)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    after = model.compute_loss(x, y, model(x, training=True))
    assert float(after) < float(before)
    tracked = {metric.name: float(metric.result()) for metric in model.metrics}
    assert set(model.loss_names()) <= set(tracked) and tracked["guided_attention_loss"] > 0


def check_padding_frames_never_change_the_loss(model):
    x, y = batch(model)
    base = float(model.compute_loss(x, y, model(x, training=False)))
    y_noisy = {k: v.copy() for k, v in y.items()}
    y_noisy["mels"][0, -1] += 100.0  # utterance 0 has 7 real frames of 8: frame 7 is padding
    if "linear" in y_noisy:
        y_noisy["linear"][0, -1] += 100.0
    assert float(model.compute_loss(x, y_noisy, model(x, training=False))) == base
    y_noisy["mels"][0, -2] += 100.0  # a real frame does count
    assert float(model.compute_loss(x, y_noisy, model(x, training=False))) > base


def check_reduction_factor_keeps_frames_in_order(make):
    r, n_mels = 3, 2
    frames = np.arange(2 * 6 * n_mels, dtype=np.float32).reshape(2, 6, n_mels)  # frame t holds 2t, 2t + 1
    steps = frames_to_steps(tf.constant(frames), r).numpy()
    np.testing.assert_array_equal(steps[0, 1], np.concatenate(frames[0, 3:6]))
    np.testing.assert_array_equal(steps_to_frames(tf.constant(steps), r).numpy(), frames)
    # Through inference: the projection emits the step's r frames as bias values 0 .. r·n_mels - 1.
    model = make(reduction_factor=r)
    set_stop_bias(model, -30.0)
    projection = model.frame_projection
    projection.kernel.assign(np.zeros(projection.kernel.shape, np.float32))
    projection.bias.assign(np.arange(projection.bias.shape[0], dtype=np.float32))
    mels = infer(model, max_frames=2 * r)["decoder_mels"]
    per_step = np.arange(r * model.n_mels, dtype=np.float32).reshape(r, model.n_mels)
    np.testing.assert_array_equal(mels[0], np.concatenate([per_step, per_step]))


def check_padding_gets_no_attention(model):
    set_stop_bias(model, -30.0)
    x, _ = batch(model)
    alignments = model(x, training=False)["alignments"].numpy()
    assert np.all(alignments[0, :, 5:] == 0.0) and np.all(alignments[0, :, :5] > 0.0)
    together = infer(model, max_frames=6)
    alone = infer(model, TEXT[:1, :5], max_frames=6)
    assert np.all(together["alignments"][0, :, 5:] == 0.0)
    for key in ("mels", "alignments", "stop_probabilities"):
        np.testing.assert_allclose(together[key][0, ..., :alone[key].shape[-1]] if key == "alignments"
                                   else together[key][0], alone[key][0], atol=1e-5, err_msg=key)


def check_inference_stops_on_the_stop_token_and_the_guard(model):
    set_stop_bias(model, 30.0)
    stopped = infer(model, max_frames=50)
    assert stopped["mels"].shape[1] == 2 and list(stopped["mel_lengths"]) == [2, 2]
    assert stopped["stop_probabilities"].shape == (2, 1) and np.all(stopped["stop_probabilities"] > 0.5)
    set_stop_bias(model, -30.0)
    guarded = infer(model, max_frames=7)
    assert guarded["mels"].shape[1] == 7 and list(guarded["mel_lengths"]) == [7, 7]
    assert guarded["alignments"].shape == (2, 4, TEXT.shape[1]) and np.all(guarded["stop_probabilities"] < 0.5)


def check_tflite_export_and_step_signature(model, tmp_path):
    """Whole utterance + step signature, builtin ops only, float32 parity within 1e-4;
    then encode → step … → postprocess in LiteRT reproduces ``synthesize``."""
    assert model.reduction_factor == 2 and model.max_frames == 8
    set_stop_bias(model, -30.0)  # a fixed length: 4 steps
    report = export.tflite(model, tmp_path / "tts.tflite")
    assert report.flex_ops == () and report.passed
    assert {"synthesize", "encode", "step", "postprocess"} <= {o.signature for o in report.outputs}
    assert max(report.max_abs_error.values()) <= 1e-4, report

    runner = LiteRTRunner(tmp_path / "tts.tflite")
    text = TEXT[1:]
    whole = runner.run_signature("synthesize", text=text)
    encoded = runner.run_signature("encode", text=text)
    state_names = [name for name in encoded if name not in ("memory", "keys", "text_mask")]
    state = {name: encoded[name] for name in state_names}
    frame = np.zeros((1, model.n_mels), np.float32)
    frames = []
    for step in range(4):
        out = runner.run_signature("step", previous_frame=frame, step=np.int32(step), memory=encoded["memory"],
                                   keys=encoded["keys"], text_mask=encoded["text_mask"], **state)
        state = {name: out[name] for name in state_names}
        frames.append(out["frames"][0])
        frame = out["frames"][:, -1]
    decoder_mels = np.concatenate(frames)[None]
    final = runner.run_signature("postprocess", mels=decoder_mels, mel_lengths=np.array([8], np.int32))
    for key, value in final.items():
        np.testing.assert_allclose(value, whole[key], atol=1e-5, err_msg=key)


def check_fine_tuning_lowers_held_out_loss(model, corpus, speaker="espeak:en"):
    """A compiled (zoo-loaded) ``model`` fit 6 steps on ``speaker``'s train split of ``corpus``
    has a lower loss on its test split than before."""
    train = tts_dataset_for(model, corpus, "train", batch_size=2, speakers=[speaker], progress=False)
    held_out = tts_dataset_for(model, corpus, "test", batch_size=2, speakers=[speaker], progress=False)
    before = model.evaluate(held_out, verbose=0, return_dict=True)["loss"]
    model.fit(train.repeat(), steps_per_epoch=6, epochs=1, verbose=0)
    assert model.evaluate(held_out, verbose=0, return_dict=True)["loss"] < before
