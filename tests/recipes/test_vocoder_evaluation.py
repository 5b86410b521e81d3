"""Vocoder evaluation: the log-mel distance, batched vocoding with padding, the CER, figures, files, card."""

import shutil
import subprocess

import numpy as np
import pytest

from tfspeech.audio import MelConfig, load, log_mel_spectrogram, mulaw_encode
from tfspeech.data.vocoder_pipeline import VocoderUtterance
from tfspeech.models.wavenet import WaveNet
from tfspeech.recipes import vocoder_evaluation
from tfspeech.recipes.vocoder_evaluation import NATS_PER_DB, log_mel_distance


def test_distance_is_rms_over_common_frames():
    a = np.zeros((5, 3))
    b = np.full((4, 3), 2.0)
    assert log_mel_distance(a, b) == pytest.approx(2.0)
    assert log_mel_distance(b, b) == 0.0


def test_top_db_floors_both_below_the_reference_peak():
    reference = np.array([[0.0, -20.0]])  # peak 0 nats; second bin far below 60 dB (6.9 nats)
    noisy = np.array([[0.0, -5.0]])  # noise in the quiet bin: above a 60 dB floor, under a 40 dB one
    assert log_mel_distance(noisy, reference) == pytest.approx(np.sqrt(15.0**2 / 2))
    assert log_mel_distance(noisy, reference, top_db=60.0) == pytest.approx(
        np.sqrt((60 * NATS_PER_DB - 5.0) ** 2 / 2))
    assert log_mel_distance(noisy, reference, top_db=40.0) == 0.0


def tone_utterance(uid, samples, config):
    t = np.arange(samples) / config.sample_rate
    waveform = (0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    mel = log_mel_spectrogram(waveform, config).numpy()
    classes = np.full(mel.shape[0] * config.hop_length, int(mulaw_encode(0.0)), np.uint8)
    classes[:samples] = mulaw_encode(waveform).numpy()
    return VocoderUtterance(uid, classes, mel, samples, int(mulaw_encode(0.0)))


@pytest.fixture(scope="module")
def tiny_vocoder():
    # Temperature 0 (argmax) so a row of a batch can be compared with generating it alone.
    model = WaveNet(residual_channels=4, gate_channels=4, skip_channels=4, layers_per_stack=2, stacks=1,
                    conditioning_channels=4, mel_config=MelConfig().to_dict(), sampling_temperature=0.0)
    model.build_from_preset()
    return model


def test_batched_vocoding_cuts_each_utterance_to_its_length(tiny_vocoder):
    config = MelConfig()
    utterances = [tone_utterance("long", 3000, config), tone_utterance("short", 1200, config)]
    audio = vocoder_evaluation.vocode_held_out(tiny_vocoder, utterances, config, max_frames=100)
    for utterance, waveforms in zip(utterances, audio):
        assert {len(w) for w in waveforms.values()} == {utterance.num_samples}
    # Each row of the padded batch equals generating that utterance alone, except for the padded
    # one's last two frames: the upsampler looks up to two frames ahead (into silence, not zeros).
    for utterance, waveforms in zip(utterances, audio):
        alone = tiny_vocoder.generate(utterance.mel, seed=0)[0]
        exact = utterance.num_samples if utterance.id == "long" else (len(utterance.mel) - 2) * config.hop_length
        np.testing.assert_array_equal(waveforms["wavenet"][:exact], alone[:exact])
    # max_frames cuts the audio too.
    cut = vocoder_evaluation.vocode_held_out(tiny_vocoder, utterances[:1], config, max_frames=4)
    assert len(cut[0]["griffin_lim"]) == 4 * config.hop_length


def test_evaluate_writes_samples_plot_and_scores_the_mulaw_reference_close(tiny_vocoder, tmp_path):
    config = MelConfig()
    utterances = [tone_utterance("tone", 4000, config)]
    figures = vocoder_evaluation.evaluate(tiny_vocoder, utterances, config, max_frames=100, out_dir=tmp_path)
    assert figures["held_out_utterances"] == 1 and figures["seconds"] == pytest.approx(4000 / 22050, abs=0.01)
    for system in vocoder_evaluation.SYSTEMS:
        assert (tmp_path / "samples" / f"tone-{system}.wav").is_file()
    assert (tmp_path / vocoder_evaluation.PLOT).read_bytes().startswith(b"\x89PNG")
    top = figures["log_mel_distance_top_db"]
    # An untrained vocoder is far off; the quantized recording is close within the top 60 dB.
    assert top["mulaw_reference"] < 0.2 < top["wavenet"]
    assert 0 < figures["nll_nats_per_sample"] < np.inf
    direct = -tiny_vocoder.log_likelihood({"audio": utterances[0].classes[None], "mel": utterances[0].mel[None]})
    assert figures["nll_nats_per_sample"] == pytest.approx(float(np.mean(direct[0, :4000])), rel=1e-5)
    flat = vocoder_evaluation.flat_metrics(figures)
    assert flat["held_out_nll_nats_per_sample"] == figures["nll_nats_per_sample"]
    assert flat["log_mel_distance_top60db_griffin_lim"] == top["griffin_lim"]
    assert flat["log_mel_distance_wavenet"] == figures["log_mel_distance"]["wavenet"]


def speech_utterance(uid, text, config, tmp_path):
    """An espeak-ng sentence as a held-out ``VocoderUtterance`` (its mels computed as the corpus does)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make debian-packages)")
    path = tmp_path / f"{uid}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True)
    waveform, _ = load(path, sample_rate=config.sample_rate)
    mel = log_mel_spectrogram(waveform, config).numpy()
    classes = np.full(mel.shape[0] * config.hop_length, int(mulaw_encode(0.0)), np.uint8)
    classes[: waveform.size] = mulaw_encode(waveform).numpy()
    return VocoderUtterance(uid, classes, mel, waveform.size, int(mulaw_encode(0.0)), text)


def test_cer_hears_the_recording_and_griffin_lim_but_not_an_untrained_vocoder(tiny_vocoder, tmp_path):
    config = MelConfig()
    text = "Put the book on the table."
    utterances = [speech_utterance("book", text, config, tmp_path)]
    figures = vocoder_evaluation.evaluate(tiny_vocoder, utterances, config, out_dir=tmp_path,
                                          texts=[u.text for u in utterances])
    cer = figures["cer"]
    assert set(cer) == set(vocoder_evaluation.SYSTEMS)
    assert cer["mulaw_reference"] < 0.3 and cer["griffin_lim"] < 0.3  # seen: 0.08 and 0.12
    # An untrained WaveNet says nothing (seen: 0.68 and 0.76, letters that match by chance).
    assert cer["wavenet"] > max(cer["mulaw_reference"], cer["griffin_lim"]) + 0.3
    assert figures["max_frames"] is None
    assert vocoder_evaluation.flat_metrics(figures)["cer_griffin_lim"] == cer["griffin_lim"]

    card = vocoder_evaluation.card("wavenet-test", tiny_vocoder, figures, DATA, TRAINING, "python -m x")
    assert "| CER (`ctc-multivoice`) |" in card and "whole utterances" in card
    assert f"| {cer['griffin_lim']:.3f} |" in card
    assert "less intelligible than Griffin-Lim's" in card


def test_cer_refuses_utterances_cut_short(tiny_vocoder, tmp_path):
    config = MelConfig()
    utterances = [tone_utterance("tone", 4000, config)]
    with pytest.raises(ValueError, match="the CER needs whole utterances"):
        vocoder_evaluation.evaluate(tiny_vocoder, utterances, config, max_frames=5, out_dir=tmp_path,
                                    texts=["a tone"])
    with pytest.raises(ValueError, match="one text each"):
        vocoder_evaluation.evaluate(tiny_vocoder, utterances, config, out_dir=tmp_path, texts=[])


def test_card_without_texts_has_no_cer_column(tiny_vocoder, tmp_path):
    config = MelConfig()
    figures = vocoder_evaluation.evaluate(tiny_vocoder, [tone_utterance("tone", 4000, config)], config,
                                          max_frames=10, out_dir=tmp_path)
    card = vocoder_evaluation.card("wavenet-test", tiny_vocoder, figures, DATA, TRAINING, "python -m x")
    assert "CER" not in card and "their first 10 frames only" in card


DATA = {"corpus": "espeak-ng", "sentences": 1, "fingerprint": "sha256:0"}
TRAINING = {"command": "python -m x", "steps": 1, "target_steps": 1, "finished": True, "batch_size": 1,
            "segment_samples": 256, "wall_time_s": 1.0, "hardware": "test"}
