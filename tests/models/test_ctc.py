"""CTCRecognizer: serialization, masking, training, export parity, decoding, transcription errors."""

import numpy as np
import pytest
import tensorflow as tf

from tfspeech import decoding, export
from tfspeech.decoding import BLANK, NUM_CLASSES, beam_search_decode, collapse_greedy, greedy_decode
from tfspeech.layers.spec_augment import SpecAugment
from tfspeech.models.ctc import CTCRecognizer
from tfspeech.text import CHARACTERS

SMALL = dict(conv_filters=16, rnn_units=8, conv_strides=[3, 1], spec_augment={"seed": 0})


@pytest.fixture(scope="module")
def model():
    model = CTCRecognizer(**SMALL)
    model.build()
    return model


def log_mels(batch=2, frames=40, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, frames, 80)).astype(np.float32)


def test_output_shape_and_lengths(model):
    assert model(log_mels(frames=40)).shape == (2, 14, NUM_CLASSES)
    np.testing.assert_array_equal(model.output_lengths([1, 3, 4, 40, 41]).numpy(), [1, 1, 2, 14, 14])
    assert model.time_stride == 3


def test_config_round_trip_gives_equal_outputs(model):
    clone = CTCRecognizer.from_config(model.get_config())
    clone.build()
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(log_mels()).numpy(), model(log_mels()).numpy(), atol=1e-6)


def test_keras_file_round_trip_gives_equal_outputs(model, tmp_path):
    import keras

    path = tmp_path / "ctc.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    inputs = {"log_mel": log_mels(), "num_frames": np.array([40, 25])}
    np.testing.assert_allclose(loaded(inputs).numpy(), model(inputs).numpy(), atol=1e-6)
    assert loaded.get_config() == model.get_config()


def test_a_padded_batch_computes_what_each_utterance_alone_computes(model):
    short, long = log_mels(1, 29, seed=1)[0], log_mels(1, 47, seed=2)[0]
    batch = np.zeros((2, 47, 80), np.float32)
    batch[0, :29], batch[1] = short, long
    out = model({"log_mel": batch, "num_frames": np.array([29, 47])}).numpy()
    np.testing.assert_allclose(out[0, :10], model(short[None]).numpy()[0], atol=1e-5)
    np.testing.assert_allclose(out[1], model(long[None]).numpy()[0], atol=1e-5)


def test_one_training_step_lowers_the_loss():
    model = CTCRecognizer(**SMALL)
    model.build()
    optimizer = model.default_compile_args()["optimizer"]
    x = {"log_mel": log_mels(frames=30), "num_frames": np.array([30, 24])}
    y = np.array([[9, 10, 11, 0], [12, 12, 13, 14]], np.int32)

    def loss():
        return float(model.compute_loss(x, y, model(x, training=False)))

    before = loss()
    with tf.GradientTape() as tape:
        training_loss = model.compute_loss(x, y, model(x, training=True))
    optimizer.apply(tape.gradient(training_loss, model.trainable_variables), model.trainable_variables)
    assert loss() < before


def test_training_refuses_labels_longer_than_the_logits_allow(model):
    x = {"log_mel": log_mels(frames=12), "num_frames": np.array([12, 12])}  # 4 logit frames each
    y = np.array([[9, 10, 11, 12, 13], [9, 0, 0, 0, 0]], np.int32)
    with pytest.raises(ValueError, match=r"longer than the logits allow.*#0: 5 > 4"):
        model.compute_loss(x, y, model(x))


def test_wrong_feature_size_is_refused(model):
    with pytest.raises(ValueError, match=r"\(batch, frames, 80\)"):
        model(np.zeros((1, 20, 64), np.float32))
    with pytest.raises(ValueError, match="'log_mel'"):
        model({"mel": np.zeros((1, 20, 80), np.float32)})


def test_spec_augment_masks_only_in_training_and_only_valid_frames():
    layer = SpecAugment(freq_masks=2, freq_width=10, time_masks=2, time_width=8, max_time_fraction=0.5, seed=1)
    features = np.ones((16, 50, 80), np.float32)
    np.testing.assert_array_equal(layer(features, training=False), features)
    lengths = np.array([20] * 8 + [50] * 8)
    masked = layer(features, lengths=lengths, training=True).numpy() == 0.0
    frame_masked = masked.all(axis=2)
    bin_masked = masked.all(axis=1)
    assert not frame_masked[:8, 20:].any(), "time masks reach into padding"
    assert frame_masked.any() and bin_masked.any()
    assert frame_masked.sum(axis=1).max() <= 2 * 8 and bin_masked.sum(axis=1).max() <= 2 * 10
    assert SpecAugment.from_config(layer.get_config()).get_config() == layer.get_config()


def _logits(frame_symbols, peak=8.0):
    """One utterance whose frames favour the given classes."""
    logits = np.zeros((1, len(frame_symbols), NUM_CLASSES), np.float32)
    for t, symbol in enumerate(frame_symbols):
        logits[0, t, BLANK if symbol is None else CHARACTERS.index(symbol)] = peak
    return logits


def test_greedy_and_beam_decoding_of_a_clear_path():
    logits = _logits(["h", "h", None, "e", "l", None, "l", "o", "o", None])
    assert greedy_decode(logits) == ["hello"]
    assert beam_search_decode(logits, beam_width=4) == ["hello"]
    ids = collapse_greedy(logits).numpy()[0]
    assert decoding.ids_to_text(ids) == "hello"
    assert greedy_decode(logits, logit_length=[4]) == ["he"]


def test_beam_search_sums_paths_that_greedy_misses():
    # Each frame: blank 0.6, "a" 0.4. Best path: blank blank (0.36) → "";
    # but p("a") = 0.4*0.4 + 0.4*0.6 + 0.6*0.4 = 0.64.
    probs = np.full((1, 2, NUM_CLASSES), 1e-6)
    probs[0, :, BLANK], probs[0, :, CHARACTERS.index("a")] = 0.6, 0.4
    logits = np.log(probs).astype(np.float32)
    assert greedy_decode(logits) == [""]
    assert beam_search_decode(logits, beam_width=8) == ["a"]


def test_savedmodel_transcribe_signature_and_tflite_builtins(model, tmp_path):
    saved = export.saved_model(model, tmp_path / "served")
    assert saved.passed and {o.signature for o in saved.outputs} == {"transcribe", "transcribe_log_mel"}
    loaded = tf.saved_model.load(str(saved.path))
    waveform = model.representative_data()["transcribe"][0]
    served = loaded.signatures["transcribe"](waveform=tf.constant(waveform))
    assert served["label_ids"].dtype == tf.int32 and served["logits"].shape[-1] == NUM_CLASSES

    report = export.tflite(model, tmp_path / "ctc.tflite")
    print(report)
    assert report.passed and not report.flex_ops
    assert max(report.max_abs_error.values()) <= 1e-4

    from tfspeech.runtime.litert_runner import LiteRTRunner

    outputs = LiteRTRunner(report.path).run_signature("transcribe", waveform=waveform)
    expected = collapse_greedy(model(decoding.speech_log_mel(waveform[0], 22050, model.mel_config)[None]))
    np.testing.assert_array_equal(outputs["label_ids"], expected.numpy())


@pytest.mark.slow
def test_dynamic_int8_tflite_error_and_size_are_reported(model, tmp_path):
    float_size = export.tflite(model, tmp_path / "f32.tflite").size_bytes
    try:
        report = export.tflite(model, tmp_path / "dyn.tflite", quantize="dynamic")
    except export.ParityError as error:  # the figure is reported, not hidden
        report = error.report
    print(report)
    assert report.checked and report.quantize == "dynamic"
    assert report.size_bytes < float_size
    assert np.isfinite(list(report.max_abs_error.values())).all()


@pytest.fixture()
def tiny_preset(tmp_path, monkeypatch):
    import tfspeech.zoo

    model = CTCRecognizer(conv_filters=8, rnn_units=4, rnn_layers=1)
    model.build()
    tfspeech.zoo.save_preset(model, "tiny-ctc", root=tmp_path, data={"fingerprint": "none"},
                             training={"command": "test"}, metrics={})
    monkeypatch.setenv("TFSPEECH_ZOO_PATH", str(tmp_path))
    decoding._load_preset.cache_clear()
    yield model
    decoding._load_preset.cache_clear()


def test_transcription_refuses_bad_audio_clearly(tiny_preset):
    with pytest.raises(ValueError, match="empty"):
        decoding.transcribe([np.zeros(0, np.float32)], 22050, preset="tiny-ctc")
    with pytest.raises(ValueError, match="1 NaN/inf samples"):
        decoding.transcribe([np.r_[np.zeros(4000), np.nan].astype(np.float32)], 22050, preset="tiny-ctc")
    with pytest.raises(ValueError, match="sample_rate must be a positive integer"):
        decoding.transcribe([np.zeros(4000, np.float32)], 0, preset="tiny-ctc")
    with pytest.raises(ValueError, match="needs at least 513 samples"):
        decoding.transcribe([np.zeros(100, np.float32)], 22050, preset="tiny-ctc")
    with pytest.raises(ValueError, match=r"mono audio of shape \(samples,\)"):
        decoding.transcribe([np.zeros((2, 4000), np.float32)], 22050, preset="tiny-ctc")


def test_other_sample_rates_are_resampled_not_misread(tiny_preset, tmp_path):
    from tfspeech.audio import load, resample, save

    t = np.arange(16000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 300 * t) * np.sin(2 * np.pi * 3 * t)).astype(np.float32)
    log_mel = decoding.speech_log_mel(tone, 16000, tiny_preset.mel_config)
    np.testing.assert_allclose(
        log_mel, decoding.speech_log_mel(resample(tone, 16000, 22050), 22050, tiny_preset.mel_config), atol=1e-5
    )
    assert log_mel.shape[0] == tiny_preset.mel_config.num_frames(22050)
    path = save(tmp_path / "tone.wav", tone, 16000)
    stored, rate = load(path)
    assert rate == 16000
    assert decoding.transcribe_file(path, preset="tiny-ctc") == decoding.transcribe([stored], 16000, "tiny-ctc")[0]


@pytest.mark.slow
def test_shipped_preset_judges_speech_more_intelligible_than_noise(tmp_path):
    """The ctc-multivoice preset on new espeak-ng sentences (a training voice) against noise."""
    import shutil
    import subprocess

    from tfspeech.audio import load
    from tfspeech.metrics import intelligibility

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make debian-packages)")
    texts = ["The old man walked slowly to the market.", "She painted the kitchen a bright yellow.",
             "Please close the window before it rains."]
    waveforms = []
    for index, text in enumerate(texts):
        path = tmp_path / f"{index}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True)
        waveforms.append(load(path)[0])
    decoding._load_preset.cache_clear()
    speech_cer = intelligibility(waveforms, texts, sample_rate=22050)
    rng = np.random.default_rng(0)
    noise_cer = intelligibility([0.1 * rng.standard_normal(len(w)).astype(np.float32) for w in waveforms], texts)
    print(f"ctc-multivoice CER: espeak-ng speech {speech_cer:.3f}, noise {noise_cer:.3f}")
    assert speech_cer < 0.25 and noise_cer > 0.6  # measured: 0.051 and 0.769
