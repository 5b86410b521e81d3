"""Style control in the product: synthesis.synthesize(style=...) and `tfspeech synthesize --style /
--style-wav / --style-weights` on a tiny GST Tacotron 2 (a named style, a reference waveform, an audio
file, token weights, bad input)."""

import keras
import numpy as np
import pytest

from tests.models import tts_checks
from tests.models.test_gst_tacotron2 import NAMED, make, styled
from tests.models.test_tacotron2 import make as make_tacotron2
from tfspeech import cli, synthesis, zoo
from tfspeech.audio import load, log_mel_spectrogram, save
from tfspeech.models.istft_vocoder import ISTFTVocoder
from tfspeech.text import TextEncoder

pytestmark = pytest.mark.filterwarnings(r"ignore:sentence\(s\)")  # the tiny model runs to its frame guard
TEXT = "Hello there."


def voiced(seconds: float, sample_rate: int) -> np.ndarray:
    """``(samples,)`` float32: harmonics of a gliding pitch below 4 kHz (the same sound at any rate)."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 2 * np.pi * (120 * t + 60 * t ** 2)
    return (0.3 * sum(np.sin(k * pitch) / k for k in range(1, 20))).astype(np.float32)


@pytest.fixture(scope="module")
def shared():
    model = styled(make())
    tts_checks.set_stop_bias(model, -30.0)  # every sentence runs to the 8-frame guard
    model.mean_style_weights.assign(np.random.default_rng(3).dirichlet(np.ones(4), 2).astype(np.float32))
    model.set_named_styles(NAMED)
    keras.utils.set_random_seed(0)
    vocoder = ISTFTVocoder(model.mel_config.to_dict(), channels=8, intermediate_channels=8, blocks=1, kernel_size=3)
    vocoder.build_from_preset()
    return model, vocoder


@pytest.fixture
def gst(shared):
    return shared[0]


def speak(shared, **style) -> np.ndarray:
    model, vocoder = shared
    return synthesis.synthesize(TEXT, model=model, vocoder_model=vocoder, **style)[0]


def test_without_a_style_a_gst_model_speaks_as_before_in_its_mean_style(shared):
    model, vocoder = shared
    ids = np.array([TextEncoder(model.symbols).encode("hello there.")], np.int32)
    before = vocoder.generate(model.infer(ids)["mels"].numpy())[0]  # what synthesize did before style control
    waveform = speak(shared)
    np.testing.assert_allclose(waveform, np.clip(before, -1, 1), atol=1e-6)
    np.testing.assert_allclose(speak(shared, style=model.mean_style_weights.numpy()), waveform, atol=1e-6)


def test_token_weights_change_the_speech_one_per_token_or_per_head(shared):
    plain, first = speak(shared), speak(shared, style=[1.0, 0, 0, 0])
    assert first.shape == plain.shape and np.abs(first - plain).max() > 1e-3
    np.testing.assert_allclose(speak(shared, style=np.tile([1.0, 0, 0, 0], (2, 1))), first, atol=1e-6)
    assert np.abs(speak(shared, style=[0, 0, 0, 1.0]) - first).max() > 1e-3


def test_a_reference_waveform_or_file_gives_its_reference_weights(shared, tmp_path):
    model, _ = shared
    reference = voiced(0.3, 22050)
    log_mel = log_mel_spectrogram(reference, model.mel_config)[None]
    expected = model.reference_weights(log_mel).numpy()
    np.testing.assert_allclose(synthesis.style_token_weights(model, (reference, 22050)), expected, atol=1e-6)
    path = save(tmp_path / "ref.wav", reference, 22050)
    from_file = synthesis.style_token_weights(model, str(path))
    np.testing.assert_allclose(from_file, expected, atol=1e-3)  # 16-bit samples
    assert np.abs(speak(shared, style=path) - speak(shared, style=expected[0])).max() < 1e-2
    assert np.abs(speak(shared, style=path) - speak(shared)).max() > 1e-3


def test_a_reference_at_another_rate_is_resampled(gst, tmp_path):
    native = synthesis.style_token_weights(gst, (voiced(0.5, 22050), 22050))
    resampled = synthesis.style_token_weights(gst, (voiced(0.5, 16000), 16000))
    np.testing.assert_allclose(resampled, native, atol=0.02)
    path = save(tmp_path / "ref16k.wav", voiced(0.5, 16000), 16000)
    np.testing.assert_allclose(synthesis.style_token_weights(gst, path), native, atol=0.02)


def test_a_named_style_speaks_as_its_token_weights(shared):
    model, _ = shared
    np.testing.assert_array_equal(synthesis.style_token_weights(model, "low-slow"), NAMED["low-slow"][None])
    by_name = speak(shared, style="low-slow")
    np.testing.assert_array_equal(by_name, speak(shared, style=NAMED["low-slow"]))
    assert np.abs(by_name - speak(shared)).max() > 1e-3


def test_a_name_is_looked_up_before_a_path(shared, tmp_path, monkeypatch):
    model, _ = shared
    monkeypatch.chdir(tmp_path)
    save(tmp_path / "fast.wav", voiced(0.3, 22050), 22050).rename(tmp_path / "fast")  # named like a style
    np.testing.assert_array_equal(synthesis.style_token_weights(model, "fast"), model.named_style_weights("fast"))
    assert synthesis.style_token_weights(model, "./fast").shape == (1, 2, 4)  # a path to it is still a path


@pytest.mark.parametrize("style, error, message", [
    ((np.zeros(0, np.float32), 22050), ValueError, "is empty"),
    ((np.full(4000, np.nan, np.float32), 22050), ValueError, "4000 NaN/inf samples"),
    ((np.zeros((2, 4000), np.float32), 22050), ValueError, "expected mono audio"),
    ((np.zeros(4000, np.float32), 0), ValueError, "sample rate must be a positive integer"),
    ((np.zeros(400, np.float32), 22050), ValueError, r"0\.02 s long; the style encoder needs at least 0\.04 s "
                                                      r"\(4 frames\)"),
    ((np.zeros(300, np.float32), 16000), ValueError, r"needs at least 0\.04 s"),
    ([0.5, 0.5], ValueError, "4 values"),
    ([0.5, np.inf, 0, 0], ValueError, "finite"),
    (np.zeros(4000, np.float32), ValueError, r"style got 4000 values .* \(waveform, sample_rate\)"),
    ("no-such.wav", FileNotFoundError, "no audio file at no-such.wav"),
    ("low-slwo", FileNotFoundError, r"style 'low-slwo' is not a named style of this model \(its named styles are "
                                    r"fast, low-slow\), and there is no audio file at low-slwo: give a style name, "
                                    r"or the path of a recording to imitate. Did you mean 'low-slow'\?"),
])
def test_bad_style_is_refused_clearly(gst, style, error, message):
    with pytest.raises(error, match=message):
        synthesis.synthesize(TEXT, model=gst, vocoder="griffin-lim", style=style)


def test_a_model_without_style_tokens_refuses_a_style():
    with pytest.raises(ValueError, match="Tacotron2 has no style tokens.*GST model"):
        synthesis.synthesize(TEXT, model=make_tacotron2(), vocoder="griffin-lim", style=[1.0, 0, 0, 0])


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def tiny_zoo(shared, tmp_path, monkeypatch):
    """A zoo with ``tiny-gst`` (the module's model) and ``tiny-tacotron2`` (no style tokens)."""
    for name, model in (("tiny-gst", shared[0]), ("tiny-tacotron2", make_tacotron2())):
        zoo.save_preset(model, name, root=tmp_path / "zoo", data={"fingerprint": "none"},
                        training={"command": "none"}, metrics={})
    monkeypatch.setenv("TFSPEECH_ZOO_PATH", str(tmp_path / "zoo"))
    synthesis._load.cache_clear()
    yield tmp_path
    synthesis._load.cache_clear()


def synthesize_cli(*args) -> int:
    return cli.main(["synthesize", TEXT, "--vocoder", "griffin-lim", *map(str, args)])


def test_cli_style_options_are_exclusive_and_documented(capsys):
    parser = cli.build_parser()
    parsed = parser.parse_args(["synthesize", "Hi.", "-o", "x.wav"])
    assert parsed.style is None and parsed.style_wav is None and parsed.style_weights is None
    for both in (["--style-wav", "a.wav", "--style-weights", "1,0"], ["--style", "fast", "--style-wav", "a.wav"],
                 ["--style", "fast", "--style-weights", "1,0"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["synthesize", "Hi.", "-o", "x.wav", *both])
        assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["synthesize", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--style NAME" in help_text and "--style-wav WAV" in help_text and "--style-weights W1,W2,..." in help_text
    assert "its card lists them with their measured pitch and rate" in help_text
    assert "the preset's mean style" in help_text


def test_cli_speaks_in_the_style_of_weights_or_a_recording(tiny_zoo, shared, capsys):
    outputs = {}
    for name, style in (("mean", []), ("weights", ["--style-weights", "1,0,0,0"]),
                        ("heads", ["--style-weights=1,0,0,0,1,0,0,0"]),
                        ("wav", ["--style-wav", save(tiny_zoo / "ref.wav", voiced(0.3, 16000), 16000)])):
        out = tiny_zoo / f"{name}.wav"
        assert synthesize_cli("--preset", "tiny-gst", "-o", out, *style) == 0, capsys.readouterr().err
        outputs[name] = load(out)[0]
    assert capsys.readouterr().out.split() == [str(tiny_zoo / f"{name}.wav") for name in outputs]
    np.testing.assert_array_equal(outputs["weights"], outputs["heads"])
    assert not np.array_equal(outputs["weights"], outputs["mean"])
    assert not np.array_equal(outputs["wav"], outputs["mean"])


def test_cli_speaks_in_a_named_style_as_its_token_weights(tiny_zoo, capsys):
    weights = ",".join(repr(float(value)) for value in NAMED["low-slow"].ravel())
    outputs = {}
    for name, style in (("named", ["--style", "low-slow"]), ("weights", [f"--style-weights={weights}"])):
        assert synthesize_cli("--preset", "tiny-gst", "-o", tiny_zoo / f"{name}.wav", *style) == 0, \
            capsys.readouterr().err
        outputs[name] = load(tiny_zoo / f"{name}.wav")[0]
    np.testing.assert_array_equal(outputs["named"], outputs["weights"])


def test_cli_a_gst_preset_without_named_styles_says_so():
    with pytest.raises(cli.InputError, match="--style fast: tiny has no named styles; give --style-wav or "
                                             "--style-weights instead"):
        cli._check_style_name("fast", "tiny", {"style_tokens": 4, "style_heads": 2})


@pytest.mark.parametrize("preset, style, message", [
    ("tiny-tacotron2", ["--style-weights", "1,0,0,0"], "tiny-tacotron2 has no style tokens"),
    ("tiny-tacotron2", ["--style", "fast"], "tiny-tacotron2 has no style tokens (it speaks in one style); --style,"),
    ("tiny-gst", ["--style", "slow"], "--style slow: tiny-gst has no style of that name; choose one of fast, "
                                      "low-slow"),
    ("tiny-gst", ["--style-weights", "1,0"], "--style-weights got 2 values; the preset has 4 style tokens: give 4 "
                                             "weights (one per token) or 8 (head by head)"),
    ("tiny-gst", ["--style-weights", "1,x,0,0"], "--style-weights takes comma-separated numbers"),
    ("tiny-gst", ["--style-weights", "1,nan,0,0"], "--style-weights must be finite numbers"),
    ("tiny-gst", ["--style-wav", "missing.wav"], "missing.wav: no such file"),
])
def test_cli_bad_style_is_one_clear_line_before_any_model_loads(tiny_zoo, capsys, preset, style, message):
    assert synthesize_cli("--preset", preset, "-o", tiny_zoo / "x.wav", *style) == 2
    err = capsys.readouterr().err
    assert f"tfspeech synthesize: error: {message}" in err
    assert synthesis._load.cache_info().currsize == 0  # refused from the preset's record alone


def test_cli_too_short_recording_says_how_long_it_must_be(tiny_zoo, capsys):
    short = save(tiny_zoo / "short.wav", voiced(0.01, 22050), 22050)
    assert synthesize_cli("--preset", "tiny-gst", "-o", tiny_zoo / "x.wav", "--style-wav", short) == 2
    assert "the style encoder needs at least 0.04 s (4 frames)" in capsys.readouterr().err
    assert not (tiny_zoo / "x.wav").exists()
