"""Property-based fuzzing (hypothesis) of what users type and hand over: text, preset.json,
WAV files, command lines. Random input gives a result or one of the documented errors,
never another exception.

The default suite runs ``EXAMPLES`` examples per property (a few thousand in all, about
half a minute on 2 cores); ``pytest -m slow`` runs the same properties with ``SLOW_FACTOR``
times more. ``pytest --hypothesis-show-statistics`` prints the counts.
"""

import contextlib
import io
import json
import string
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfspeech import cli, zoo
from tfspeech.text import TextEncoder, UnknownSymbolsError, normalize
from tfspeech.text.normalize import normalize_speakable, split_sentences

EXPORT = Path(__file__).resolve().parent.parent / "export"
SLOW_FACTOR = 10
EXAMPLES = {"text": 1500, "encoder": 600, "preset": 400, "wav": 600, "argv": 800}
FUZZ = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])


def check(name, prop, *strategies, slow=False, args=()):
    """Runs ``prop`` on ``EXAMPLES[name]`` drawn examples (``SLOW_FACTOR`` times more if ``slow``)."""
    examples = EXAMPLES[name] * (SLOW_FACTOR if slow else 1)
    settings(max_examples=examples, **FUZZ)(given(*strategies)(prop))(*args)


@pytest.mark.parametrize("slow", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["default", "slow"])
@pytest.mark.parametrize("name", ["text", "phonemes", "phoneme_strings", "argv"])
def test_fuzz(name, slow):
    prop, strategy = PROPERTIES[name]
    check("encoder" if name.startswith("phoneme") else name, prop, strategy, slow=slow)


@pytest.mark.parametrize("slow", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["default", "slow"])
@pytest.mark.parametrize("name", ["preset", "wav"])
def test_fuzz_files(name, slow, tmp_path_factory):
    prop, strategy = PROPERTIES[name]
    check(name, prop, *strategy, slow=slow, args=(tmp_path_factory,))


# Text: what people paste. Weighted towards what normalization handles (digits, currency,
# punctuation, accented letters, abbreviations) with any Unicode mixed in.
_PIECES = st.sampled_from(["Dr.", "St.", "Mr", "$", "£", "€", "%", "&", "1,000", "3.50", "21st", "1990s", "10:30",
                           "-5", "e.g.", "vs", "...", "\u2014", "\u201c", "\u2019", "Café", "Zoë", "ß", "'",
                           "--", ".", ",", "!", "?", " "])
TEXT = st.lists(st.one_of(_PIECES, st.text(string.ascii_letters + string.digits + string.punctuation + " ",
                                           max_size=8), st.text(max_size=4)), max_size=12).map("".join)


def _text_property(text):
    try:
        spoken = normalize_speakable(text)
    except UnknownSymbolsError as error:
        assert error.unknown and all(isinstance(p, list) for p in error.unknown.values())
        return
    except ValueError as error:
        assert "nothing to speak" in str(error)
        return
    assert spoken == normalize(text) and spoken == spoken.lower().strip()
    assert split_sentences(text)  # speakable text has at least one sentence
    ids = TextEncoder("characters").encode(text)
    assert ids[-1] == TextEncoder.eos_id and TextEncoder("characters").decode(ids) == spoken


WORD_TEXT = st.lists(st.sampled_from("hello world the cat sat on a mat xq zzkt Café 42 .,!?".split()), min_size=0,
                     max_size=6).map(" ".join)


def _phoneme_property(text):
    try:
        ids = TextEncoder("phonemes").encode(text)
    except (UnknownSymbolsError, ValueError):
        return
    encoder = TextEncoder("phonemes")
    assert encoder.encode_phonemes(encoder.decode(ids)) == ids


PHONEME_STRINGS = st.text(alphabet="{} ABCDEFGHIJKLMNOPRSTUVWYZ0123,.!?'\"-", max_size=40)


def _phoneme_string_property(phonemes):
    try:
        ids = TextEncoder("phonemes").encode_phonemes(phonemes)
    except ValueError:  # UnknownSymbolsError is one
        return
    assert ids[-1] == TextEncoder.eos_id



# preset.json: any JSON a hand edit or a bad merge leaves behind.
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children,
                                                                                       max_size=3), max_leaves=8)
PRESET_KEYS = ["name", "class", "config", "weights", "data", "training", "metrics", "headline", "input"]


PRESETS = (st.one_of(JSON, st.fixed_dictionaries({}, optional={k: JSON for k in PRESET_KEYS})), st.booleans())


def _preset_property(tmp_path_factory, document, raw_garbage):
    root = tmp_path_factory.mktemp("zoo")
    (root / "p").mkdir()
    text = json.dumps(document) if not raw_garbage else json.dumps(document)[:-1]
    (root / "p" / zoo.PRESET_FILE).write_text(text)
    (entry,) = zoo.catalog(root)  # never raises
    assert (entry.preset is None) == (entry.error is not None)
    try:
        preset = zoo.info("p", root=root)
    except zoo.PresetError:
        assert entry.error is not None
        return
    assert isinstance(zoo.headline(preset), dict)  # never raises on a preset that reads
    try:
        zoo.load("p", root=root)
    except zoo.PresetError:
        pass



# WAV files: valid headers with random fields, truncated or mutated bytes, plain garbage.
def _wav_bytes(channels, width, rate, frames, payload):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(payload[:frames * channels * width])
    return buffer.getvalue()


WAV = st.one_of(
    st.builds(_wav_bytes, st.integers(1, 3), st.integers(1, 4), st.sampled_from([8000, 16000, 22050, 44100]),
              st.integers(0, 3000), st.binary(min_size=0, max_size=24000)),
    st.binary(max_size=200),
    st.builds(lambda head, cut, flip: bytes(b ^ (0xFF if i == flip else 0) for i, b in enumerate(head[:cut])),
              st.builds(_wav_bytes, st.just(1), st.just(2), st.just(22050), st.integers(0, 2000),
                        st.binary(min_size=4000, max_size=4000)),
              st.integers(0, 4100), st.integers(0, 60)),
)


def _read_wav_module():
    sys.path.insert(0, str(EXPORT))
    try:
        import transcribe_wav
    finally:
        sys.path.remove(str(EXPORT))
    return transcribe_wav


def _wav_property(tmp_path_factory, data):
    from tfspeech.audio import load

    path = tmp_path_factory.getbasetemp() / "fuzz.wav"
    path.write_bytes(data)
    try:  # the device runner's reader
        samples = _read_wav_module().read_wav(path, 513)
        assert samples.dtype == np.float32 and samples.ndim == 1 and len(samples) >= 513
    except ValueError as error:
        assert str(path) in str(error)
    try:  # the command line's pre-check
        cli._check_audio(str(path))
    except cli.InputError as error:
        assert str(path) in str(error)
    try:  # the library's reader
        waveform, rate = load(path)
        assert np.all(np.isfinite(waveform)) and rate > 0
    except ValueError:
        pass



# Command lines: a command, then known words and random text in random order; argparse either
# parses or exits with its usage error (2), --help exits 0; model-free commands then run.
PREFIXES = st.sampled_from([[], ["zoo"], ["zoo", "list"], ["zoo", "info"], ["export"], ["synthesize"],
                            ["transcribe"], ["convert"], ["corpus", "build"], ["features"], ["train"], ["demo"]])
WORDS = st.sampled_from(["zoo", "list", "info", "export", "synthesize", "transcribe", "convert", "corpus", "build",
                         "features", "train", "demo", "--format", "tflite", "saved_model", "--quantize", "int8",
                         "-o", "--output", "--preset", "--beam-width", "--n", "--voices", "--to", "--calibration",
                         "--plot", "--vocoder", "-x", "--", "=", "gmm-digits", "0", "-1", "x.wav", "-h"])
ARGV = st.tuples(PREFIXES, st.lists(st.one_of(WORDS, st.text(max_size=6)), max_size=8)).map(lambda t: t[0] + t[1])


def _argv_property(argv):
    parser = cli.build_parser()
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
            args = parser.parse_args(argv)
    except SystemExit as stop:
        assert stop.code in (0, 2), quiet.getvalue()
        return
    assert callable(args.run)
    if args.command == "zoo":  # model-free: run it too
        with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
            assert cli.main(argv) in (0, 2)


PROPERTIES = {
    "text": (_text_property, TEXT),
    "phonemes": (_phoneme_property, WORD_TEXT),
    "phoneme_strings": (_phoneme_string_property, PHONEME_STRINGS),
    "argv": (_argv_property, ARGV),
    "preset": (_preset_property, PRESETS),
    "wav": (_wav_property, (WAV,)),
}


# What fuzzing found (each failed before the fix):


def test_found_a_wav_chunk_size_past_the_end_is_a_clear_error(tmp_path):
    """The wave module raised a bare RuntimeError from seek (transcribe_wav printed a traceback)."""
    (tmp_path / "chunk.wav").write_bytes(b"RIFF\x00\x00\x00\x01WAVE" + b"\x00" * 15 + b"\x01")
    with pytest.raises(ValueError, match="chunk.wav is not a 16-bit PCM WAV file"):
        _read_wav_module().read_wav(tmp_path / "chunk.wav")


@pytest.mark.parametrize("field, value, says", [
    ("metrics", True, "metrics must be an object"),           # headline() raised AttributeError
    ("class", [], "class must be a registered class name"),  # load() raised TypeError: unhashable type
    ("weights", {"file": 3}, "weights must be an object"),
])
def test_found_preset_fields_of_the_wrong_type_are_preset_errors(tmp_path, field, value, says):
    document = {key: {} for key in ("config", "data", "training", "metrics")}
    document.update({"name": "p", "class": "tfspeech>X", "weights": {"file": "w.h5", "sha256": "0"}, field: value})
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / zoo.PRESET_FILE).write_text(json.dumps(document))
    with pytest.raises(zoo.PresetError, match=says):
        zoo.info("p", root=tmp_path)
    assert says in zoo.catalog(tmp_path)[0].error
