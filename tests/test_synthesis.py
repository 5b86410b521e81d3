"""tfspeech.synthesis with tiny untrained models: sentence splitting, audio assembly, clear errors."""

import keras
import numpy as np
import pytest

from tests.models import tts_checks
from tfspeech import zoo
from tfspeech.models.istft_vocoder import ISTFTVocoder
from tfspeech.models.tacotron import Tacotron
from tfspeech.models.tacotron2 import Tacotron2
from tfspeech.models.wavenet import WaveNet
from tfspeech.synthesis import SENTENCE_PAUSE_S, split_sentences, synthesize
from tfspeech.text import TextEncoder, UnknownSymbolsError

MEL_CONFIG = {"n_fft": 256, "win_length": 256, "hop_length": 64, "n_mels": 8}


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    model = Tacotron2(embedding_dim=8, encoder_filters=8, encoder_kernel_size=3, encoder_layers=1, encoder_rnn_units=4,
                      attention_units=4, attention_options={"filters": 2, "kernel_size": 3}, prenet_units=(8,),
                      attention_rnn_units=8, decoder_rnn_units=8, postnet_filters=4, postnet_layers=2,
                      mel_config=MEL_CONFIG, reduction_factor=2, max_frames=10)
    model.build()
    tts_checks.set_stop_bias(model, -30.0)  # every sentence runs to the 10-frame guard
    return model


def test_sentences_are_split_after_normalization():
    assert split_sentences("Dr. Smith paid $3.50. Did he? Yes!") == [
        "doctor smith paid three dollars and fifty cents.", "did he?", "yes!"]
    assert split_sentences("No final stop") == ["no final stop"]


def test_one_alignment_per_sentence_and_pauses_between(model):
    with pytest.warns(UserWarning, match=r"sentence\(s\) \[1, 2\] did not end within"):
        waveform, rate, alignments = synthesize("Hello there. How are you?", model=model, griffin_lim_iters=2)
    assert rate == 22050 and waveform.dtype == np.float32 and np.abs(waveform).max() <= 1.0
    assert [a.shape for a in alignments] == [(5, len("hello there.") + 1), (5, len("how are you?") + 1)]
    pause = int(SENTENCE_PAUSE_S * rate)
    assert waveform.shape == (2 * (10 - 1) * 64 + pause,)
    assert np.all(waveform[9 * 64:9 * 64 + pause] == 0.0)


def tiny_tacotron(max_frames):
    """A built, untrained Tacotron (linear-spectrogram output) on ``MEL_CONFIG``."""
    keras.utils.set_random_seed(0)
    model = Tacotron(embedding_dim=8, encoder_prenet_units=(8, 4), encoder_bank_size=2, encoder_bank_filters=4,
                     encoder_highway_layers=1, encoder_highway_units=4, encoder_rnn_units=4, attention_units=4,
                     prenet_units=(8, 4), attention_rnn_units=8, decoder_units=8, postnet_bank_size=2,
                     postnet_bank_filters=4, postnet_projection_units=4, postnet_highway_layers=1,
                     postnet_highway_units=4, postnet_rnn_units=4, mel_config=MEL_CONFIG, max_frames=max_frames)
    model.build()
    return model


def test_tacotron_speaks_through_its_linear_spectrogram():
    model = tiny_tacotron(max_frames=6)
    tts_checks.set_stop_bias(model, 30.0)  # stops after its first step: 2 frames
    waveform, _, (alignment,) = synthesize("Hi.", model=model, griffin_lim_iters=2)
    assert waveform.shape == ((2 - 1) * 64,) and alignment.shape == (1, 4)


@pytest.mark.parametrize("text, error, message", [
    ("", ValueError, "empty"),
    ("   \n", ValueError, "empty"),
    ("... !", ValueError, "nothing to speak"),
    ("Snow \u2603 and fire \U0001F525.", UnknownSymbolsError, r"\(U\+2603\) at 5; .* \(U\+1F525\) at 16"),
])
def test_bad_text_is_a_clear_error(model, text, error, message):
    with pytest.raises(error, match=message):
        synthesize(text, model=model)


def tiny_vocoder(mel_config=MEL_CONFIG, **overrides):
    keras.utils.set_random_seed(0)
    vocoder = WaveNet(quantization_channels=16, residual_channels=4, gate_channels=4, skip_channels=4,
                      layers_per_stack=2, stacks=1, conditioning_channels=4, mel_config=mel_config, **overrides)
    vocoder.build_from_preset()
    return vocoder


def test_a_wavenet_vocoder_speaks_each_sentence_from_its_mels(model):
    vocoder = tiny_vocoder()
    with pytest.warns(UserWarning, match="did not end within"):
        waveform, rate, _ = synthesize("Hello there. How are you?", model=model, vocoder_model=vocoder, seed=3)
    pause = int(SENTENCE_PAUSE_S * rate)
    assert waveform.shape == (2 * 10 * 64 + pause,)
    first_mels = model.infer(np.array([TextEncoder(model.symbols).encode("hello there.")], np.int32))["mels"]
    alone = vocoder.generate(first_mels.numpy(), seed=3)[0]
    np.testing.assert_array_equal(waveform[:640], np.clip(alone, -1.0, 1.0))
    assert np.all(waveform[640:640 + pause] == 0.0)


def test_an_istft_vocoder_speaks_each_sentence_as_it_would_alone(model):
    keras.utils.set_random_seed(0)
    vocoder = ISTFTVocoder(MEL_CONFIG, channels=8, intermediate_channels=8, blocks=1, kernel_size=3)
    vocoder.build_from_preset()
    with pytest.warns(UserWarning, match="did not end within"):
        waveform, rate, _ = synthesize("Hello there. How are you?", model=model, vocoder_model=vocoder)
    pause = int(SENTENCE_PAUSE_S * rate)
    assert waveform.shape == (2 * 10 * 64 + pause,)
    first_mels = model.infer(np.array([TextEncoder(model.symbols).encode("hello there.")], np.int32))["mels"]
    alone = vocoder.generate(first_mels.numpy())[0]
    np.testing.assert_allclose(waveform[:640], np.clip(alone, -1.0, 1.0), atol=1e-5)  # batched float sums
    assert np.all(waveform[640:640 + pause] == 0.0)
    with pytest.raises(ValueError, match="trained on other mels"):
        synthesize("Hi.", model=model, vocoder_model=ISTFTVocoder({**MEL_CONFIG, "n_mels": 6}))


def test_vocoder_must_fit_the_model(model):
    with pytest.raises(ValueError, match="trained on other mels"):
        synthesize("Hi.", model=model, vocoder_model=tiny_vocoder({**MEL_CONFIG, "n_mels": 6}))
    with pytest.raises(ValueError, match="conditioned on speakers"):
        synthesize("Hi.", model=model, vocoder_model=tiny_vocoder(num_speakers=2))
    with pytest.raises(ValueError, match="not a mel-conditioned vocoder"):
        synthesize("Hi.", model=model, vocoder_model=model)
    with pytest.raises(ValueError, match="WaveNet is not a text-to-speech model"):
        synthesize("Hi.", model=tiny_vocoder())


def test_unknown_vocoder_and_missing_preset(model):
    with pytest.raises(zoo.PresetNotFoundError, match="no-such-vocoder"):
        synthesize("Hi.", model=model, vocoder="no-such-vocoder")
    with pytest.raises(zoo.PresetNotFoundError):
        synthesize("Hi.", preset="no-such-preset")


def test_the_default_vocoder_is_used_where_it_fits_the_model(model, tmp_path, monkeypatch):
    from tfspeech import synthesis

    keras.utils.set_random_seed(0)
    fitting = ISTFTVocoder(MEL_CONFIG, channels=8, intermediate_channels=8, blocks=1, kernel_size=3)
    fitting.build_from_preset()
    record = dict(data={"fingerprint": "test"}, training={"command": "pytest"},
                  metrics={"pesq": {"value": 1.0, "command": "-"}})
    zoo.save_preset(fitting, synthesis.DEFAULT_VOCODER, root=tmp_path / "fits", **record)
    monkeypatch.setenv("TFSPEECH_ZOO_PATH", str(tmp_path / "fits"))
    synthesis._load.cache_clear()
    with pytest.warns(UserWarning, match="did not end within"):
        waveform, _, _ = synthesize("Hello there.", model=model)
    assert waveform.shape == (10 * 64,)  # the vocoder's frames * hop (Griffin-Lim gives (frames - 1) * hop)
    with pytest.warns(UserWarning, match="did not end within"):
        by_griffin_lim, _, _ = synthesize("Hello there.", model=model, vocoder="griffin-lim", griffin_lim_iters=2)
    assert by_griffin_lim.shape == (9 * 64,)

    other = ISTFTVocoder({**MEL_CONFIG, "n_mels": 6}, channels=4, intermediate_channels=4, blocks=1, kernel_size=3)
    other.build_from_preset()
    zoo.save_preset(other, synthesis.DEFAULT_VOCODER, root=tmp_path / "other", **record)
    monkeypatch.setenv("TFSPEECH_ZOO_PATH", str(tmp_path / "other"))
    synthesis._load.cache_clear()
    with pytest.warns(UserWarning, match="did not end within"):
        waveform, _, _ = synthesize("Hello there.", model=model, griffin_lim_iters=2)
    assert waveform.shape == (9 * 64,)  # another MelConfig: Griffin-Lim
    synthesis._load.cache_clear()
