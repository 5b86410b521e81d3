"""Voice specs, availability errors that name Debian packages, and synthesis through each engine."""

import wave

import librosa
import numpy as np
import pytest

from tfspeech.data import voices
from tfspeech.data.voices import Voice, VoiceNotAvailable

MAIN_VOICE = "festival:cmu_us_slt_arctic_hts"
SENTENCE = "The oceans are teeming with life."


def read_wav(path):
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (voices.SAMPLE_RATE, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def speak(spec, texts, folder):
    voice = voices.parse_voice(spec)
    voices.check_voice(voice)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{voice.tag}-{i}.wav" for i in range(len(texts))]
    return voices.synthesize(voice, texts, paths), paths


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("festival:cmu_us_slt_arctic_hts", Voice("festival", "cmu_us_slt_arctic_hts")),
        ("espeak-ng:en-gb+m3:speed=1.1", Voice("espeak", "en-gb+m3", 0.0, 1.1)),
        ("flite:rms:pitch=-2.5:speed=1", Voice("flite", "rms", -2.5, 1.0)),
        ("FLITE:slt:speed=0.8:pitch=3", Voice("flite", "slt", 3.0, 0.8)),
    ],
)
def test_parse_voice(spec, expected):
    assert voices.parse_voice(spec) == expected


def test_spec_is_canonical_and_tag_is_a_file_name():
    voice = voices.parse_voice("espeak-ng:en-gb+m3:speed=1.10:pitch=2")
    assert voice.spec == "espeak:en-gb+m3:pitch=2:speed=1.1"
    assert voices.parse_voice(voice.spec) == voice
    assert voice.tag == "espeak_en-gb+m3_pitch=2_speed=1.1" and "/" not in voice.tag
    assert voices.parse_voice("flite:rms:pitch=0:speed=1").spec == "flite:rms"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("festival", "no voice name"),
        ("festival:", "no voice name"),
        ("flite:rms:volume=2", "unknown option 'volume=2'"),
        ("flite:rms:pitch=high", "must be a number"),
        ("flite:rms:speed=5", r"outside \[0.5, 2\]"),
        ("flite:rms:pitch=-13", r"outside \[-12, 12\]"),
        ("festival:voice;(system)", "may hold only"),
    ],
)
def test_parse_voice_rejects_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        voices.parse_voice(spec)


def test_unknown_engine_names_the_engines_and_packages():
    with pytest.raises(VoiceNotAvailable, match="unknown engine 'mbrola'.*festival.*flite.*espeak-ng"):
        voices.parse_voice("mbrola:us1")


def test_installed_voices_pass_the_check():
    for spec in (MAIN_VOICE, "flite:rms", "flite:slt", "espeak:en-gb+m3", "espeak:en-us"):
        voices.check_voice(voices.parse_voice(spec))


def test_uninstalled_festival_voice_names_its_package(tmp_path, monkeypatch):
    monkeypatch.setattr(voices, "FESTIVAL_VOICES_DIR", tmp_path)  # a machine without festival voices
    for name, package in voices.FESTIVAL_VOICE_PACKAGES.items():
        with pytest.raises(VoiceNotAvailable, match=f"'{name}' is not installed: `apt-get install {package}`"):
            voices.check_voice(Voice("festival", name))


def test_unknown_voices_list_what_there_is():
    with pytest.raises(VoiceNotAvailable, match="festival voice 'nobody'.*installed: cmu_us_slt_arctic_hts"):
        voices.check_voice(voices.parse_voice("festival:nobody"))
    with pytest.raises(VoiceNotAvailable, match="unknown flite voice 'nobody'.*flite has: .*rms"):
        voices.check_voice(voices.parse_voice("flite:nobody"))
    with pytest.raises(VoiceNotAvailable, match="unknown English espeak-ng voice 'de'.*en-gb"):
        voices.check_voice(voices.parse_voice("espeak:de"))
    with pytest.raises(VoiceNotAvailable, match="unknown espeak-ng variant 'm99'"):
        voices.check_voice(voices.parse_voice("espeak:en-gb+m99"))
    with pytest.raises(VoiceNotAvailable, match="unknown flite voice 'awb_time'"):
        voices.check_voice(voices.parse_voice("flite:awb_time"))  # speaks clock times only


def test_missing_engine_names_its_package(monkeypatch):
    monkeypatch.setattr(voices.shutil, "which", lambda cmd: None if cmd == "espeak-ng" else f"/usr/bin/{cmd}")
    with pytest.raises(VoiceNotAvailable, match="espeak-ng is not installed.*`apt-get install espeak-ng`"):
        voices.check_voice(voices.parse_voice("espeak:en-us"))


@pytest.mark.parametrize("spec", [MAIN_VOICE, "flite:rms", "espeak:en-gb+m3"])
def test_each_engine_speaks_deterministic_corpus_wavs(spec, tmp_path):
    first, paths = speak(spec, [SENTENCE], tmp_path / "a")
    second, again = speak(spec, [SENTENCE], tmp_path / "b")
    assert first == second == [None]
    assert paths[0].read_bytes() == again[0].read_bytes()
    audio = read_wav(paths[0])
    assert 1.0 < audio.size / voices.SAMPLE_RATE < 5.0
    assert np.abs(audio).max() > 0.05


def test_festival_batch_gives_the_same_wav_as_alone(tmp_path):
    other = "He gave his life for his children."
    errors, batch = speak(MAIN_VOICE, [other, SENTENCE], tmp_path / "batch")
    alone_errors, alone = speak(MAIN_VOICE, [SENTENCE], tmp_path / "alone")
    assert errors == [None, None] and alone_errors == [None]
    assert batch[1].read_bytes() == alone[0].read_bytes()


@pytest.mark.parametrize("spec", [MAIN_VOICE, "espeak:en-us"])
def test_silence_is_reported_not_written(spec, tmp_path):
    errors, paths = speak(spec, ["...", SENTENCE], tmp_path)
    assert "silence" in errors[0] and errors[1] is None
    assert not paths[0].exists() and paths[1].exists()


def test_speed_shortens_and_pitch_raises(tmp_path):
    specs = ("espeak:en-us", "espeak:en-us:speed=1.5", "espeak:en-us:pitch=4")
    (_, [plain]), (_, [fast]), (_, [high]) = (speak(spec, [SENTENCE], tmp_path) for spec in specs)
    plain, fast, high = read_wav(plain), read_wav(fast), read_wav(high)
    assert 0.55 < fast.size / plain.size < 0.8
    assert abs(high.size / plain.size - 1.0) < 0.02

    def median_f0(audio):
        f0 = librosa.yin(audio, fmin=60, fmax=400, sr=voices.SAMPLE_RATE, frame_length=1024, hop_length=256)
        loud = librosa.feature.rms(y=audio, frame_length=1024, hop_length=256)[0] > 0.02
        return np.median(f0[loud])

    assert 2 ** (3 / 12) < median_f0(high) / median_f0(plain) < 2 ** (5 / 12)  # +4 semitones


def test_festival_speed_applies_to_hts_voices(tmp_path):
    specs = (MAIN_VOICE, MAIN_VOICE + ":speed=1.5")
    (_, [plain]), (_, [fast]) = (speak(spec, [SENTENCE], tmp_path) for spec in specs)
    assert 0.55 < read_wav(fast).size / read_wav(plain).size < 0.8


def test_festival_speed_applies_to_diphone_voices(tmp_path):
    """Diphone voices have no hts_engine_params; setting it once failed every utterance."""
    specs = ("festival:kal_diphone", "festival:kal_diphone:speed=1.5")
    (errors, [plain]), (fast_errors, [fast]) = (speak(spec, [SENTENCE], tmp_path) for spec in specs)
    assert errors == fast_errors == [None]
    assert 0.55 < read_wav(fast).size / read_wav(plain).size < 0.8


def test_versions_for_the_manifest():
    engines = voices.engine_versions(["festival", "espeak"])
    assert set(engines) == {"festival", "espeak-ng", "sox"}
    assert all(version[0].isdigit() for version in engines.values())
    packages = voices.package_versions(["festival", "no-such-package-tfspeech"])
    assert packages["festival"][0].isdigit() and packages["no-such-package-tfspeech"] == "not installed"
    assert voices.voice_packages(voices.parse_voice(MAIN_VOICE)) == ("festival", "festvox-us-slt-hts")
