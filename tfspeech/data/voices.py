"""Synthesizer voices by name: parse ``engine:voice[:pitch=..][:speed=..]``, check, synthesize.

Engines are the Debian command-line synthesizers, run as subprocesses:
``festival`` (e.g. ``festival:cmu_us_slt_arctic_hts``), ``flite`` (``flite:rms``) and
``espeak`` (espeak-ng, ``espeak:en-gb+m3``; ``espeak-ng:`` is accepted too).
``pitch`` is a shift in semitones (applied by sox, the same for every engine);
``speed`` is a speaking-rate factor (1.0 = the voice's own rate, 1.2 = 20 % faster),
applied by the engine itself. Every output is resampled with ``sox -R`` to
22,050 Hz mono 16-bit PCM, byte-identical from run to run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 22050
ENGINES = ("festival", "flite", "espeak")
_ENGINE_ALIASES = {"espeak-ng": "espeak"}
ENGINE_COMMANDS = {"festival": "festival", "flite": "flite", "espeak": "espeak-ng"}
ENGINE_PACKAGES = {"festival": ("festival",), "flite": ("flite",), "espeak": ("espeak-ng", "espeak-ng-data")}

FESTIVAL_VOICES_DIR = Path("/usr/share/festival/voices")
# English Festival voices packaged by Debian (bookworm); installed voices are
# found at FESTIVAL_VOICES_DIR/<language>/<name>.
FESTIVAL_VOICE_PACKAGES = {
    "cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
    "kal_diphone": "festvox-kallpc16k",
    "ked_diphone": "festvox-kdlpc16k",
}
# flite's limited-domain voice that can only say clock times.
_FLITE_EXCLUDED = {"awb_time"}
ESPEAK_DEFAULT_WPM = 175

PITCH_RANGE = (-12.0, 12.0)
SPEED_RANGE = (0.5, 2.0)
# A wav whose peak stays below -60 dBFS holds no speech (dither noise is a few LSB).
SILENCE_PEAK = 2.0**-10
_TIMEOUT_S = 60.0
_TIMEOUT_PER_TEXT_S = 10.0

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_SPEC_HELP = (
    "write voices as engine:voice[:pitch=SEMITONES][:speed=FACTOR], e.g. "
    "festival:cmu_us_slt_arctic_hts, flite:rms, espeak:en-gb+m3:pitch=2:speed=1.1"
)


class VoiceNotAvailable(ValueError):
    """An unknown voice, or one whose engine or Debian package is not installed."""


@dataclass(frozen=True)
class Voice:
    """A parsed voice: ``pitch`` in semitones (0 = unchanged), ``speed`` as a rate factor (1 = unchanged)."""

    engine: str
    name: str
    pitch: float = 0.0
    speed: float = 1.0

    @property
    def spec(self) -> str:
        """The canonical spec (defaults left out): the speaker name recorded in the corpus."""
        parts = [self.engine, self.name]
        if self.pitch != 0.0:
            parts.append(f"pitch={self.pitch:g}")
        if self.speed != 1.0:
            parts.append(f"speed={self.speed:g}")
        return ":".join(parts)

    @property
    def tag(self) -> str:
        """The spec as a portable file-name part (``:`` → ``_``)."""
        return self.spec.replace(":", "_")


def parse_voice(spec: str) -> Voice:
    """Parses ``engine:voice[:pitch=..][:speed=..]``; raises ``ValueError`` saying what is wrong."""
    parts = spec.strip().split(":")
    if len(parts) < 2 or not parts[1]:
        raise ValueError(f"voice {spec!r} has no voice name; {_SPEC_HELP}")
    engine = _ENGINE_ALIASES.get(parts[0].lower(), parts[0].lower())
    if engine not in ENGINES:
        raise VoiceNotAvailable(
            f"unknown engine {parts[0]!r} in voice {spec!r}; engines are festival (Debian package "
            f"festival), flite (flite) and espeak (espeak-ng); {_SPEC_HELP}"
        )
    name = parts[1]
    if not _NAME.fullmatch(name):
        raise ValueError(f"voice name {name!r} in {spec!r} may hold only letters, digits and _ . + -")
    settings = {"pitch": 0.0, "speed": 1.0}
    for option in parts[2:]:
        key, _, value = option.partition("=")
        if key not in settings or not value:
            raise ValueError(f"unknown option {option!r} in voice {spec!r}; {_SPEC_HELP}")
        try:
            settings[key] = float(value)
        except ValueError:
            raise ValueError(f"{key} in voice {spec!r} must be a number, got {value!r}") from None
    for key, (low, high) in (("pitch", PITCH_RANGE), ("speed", SPEED_RANGE)):
        if not low <= settings[key] <= high:
            raise ValueError(f"{key}={settings[key]:g} in voice {spec!r} is outside [{low:g}, {high:g}]")
    return Voice(engine, name, settings["pitch"], settings["speed"])


def check_voice(voice: Voice) -> None:
    """Raises ``VoiceNotAvailable`` naming the Debian package to install, or the voices there are."""
    for command, package in (("sox", "sox"), (ENGINE_COMMANDS[voice.engine], ENGINE_PACKAGES[voice.engine][0])):
        if shutil.which(command) is None:
            raise VoiceNotAvailable(
                f"{command} is not installed (needed by voice {voice.spec!r}): `apt-get install {package}`"
            )
    if voice.engine == "festival":
        _check_festival(voice.name)
    elif voice.engine == "flite":
        _check_flite(voice.name)
    else:
        _check_espeak(voice.name)


def voice_packages(voice: Voice) -> tuple[str, ...]:
    """The Debian packages that provide ``voice``'s engine and voice data."""
    if voice.engine != "festival":
        return ENGINE_PACKAGES[voice.engine]
    owner = _dpkg_query("-S", str(festival_voice_dir(voice.name)))
    owners = owner.split(":", 1)[0].split(", ") if owner else []
    return ("festival", *sorted(p.strip() for p in owners if p.strip()))


def festival_voice_dir(name: str) -> Path | None:
    found = sorted(FESTIVAL_VOICES_DIR.glob(f"*/{name}"))
    return found[0] if found else None


@cache
def flite_voices() -> tuple[str, ...]:
    """flite's built-in voices (``flite -lv``), less the clock-only one."""
    listing = _run(["flite", "-lv"]).stdout
    names = listing.split(":", 1)[1].split() if ":" in listing else []
    return tuple(name for name in names if name not in _FLITE_EXCLUDED)


@cache
def espeak_languages() -> tuple[str, ...]:
    """espeak-ng's English language voices (``espeak-ng --voices``), mbrola ones left out."""
    rows = [line.split() for line in _run(["espeak-ng", "--voices"]).stdout.splitlines()[1:]]
    english = {r[1] for r in rows if len(r) >= 5 and r[1].startswith("en") and not r[4].startswith("mb/")}
    return tuple(sorted(english))


@cache
def espeak_variants() -> tuple[str, ...]:
    """espeak-ng's voice variants (``espeak-ng --voices=variant``), the names after ``+``."""
    rows = [line.split() for line in _run(["espeak-ng", "--voices=variant"]).stdout.splitlines()[1:]]
    return tuple(sorted(r[4].split("/")[-1] for r in rows if len(r) >= 5))


def synthesize(voice: Voice, texts: list[str], out_paths: list[Path]) -> list[str | None]:
    """Speaks each text into its wav (22,050 Hz mono 16-bit PCM).

    Returns one entry per text: ``None`` when its wav was written, else why the
    voice could not speak it (engine error, no audio, silence). Festival speaks
    all texts in one process (its start-up costs more than a sentence); the
    result of each text does not depend on the others.
    """
    with tempfile.TemporaryDirectory(prefix="tfspeech-voice-") as tmp:
        raw_paths = [Path(tmp) / f"{i}.raw.wav" for i in range(len(texts))]
        render = {"festival": _festival, "flite": _flite, "espeak": _espeak}[voice.engine]
        errors = render(voice, texts, raw_paths)
        errors = [
            error if error is not None else _to_corpus_wav(voice, raw, out)
            for error, raw, out in zip(errors, raw_paths, out_paths)
        ]
        # Reasons go into the manifest: no temporary (random) paths in them.
        folders = sorted({tmp, *(str(Path(p).parent) for p in out_paths)}, key=len, reverse=True)
        for folder in folders:
            errors = [error.replace(folder, "<tmp>") if error else error for error in errors]
        return errors


def engine_versions(engines) -> dict[str, str]:
    """Versions reported by the engines' own ``--version`` (and sox's, always), by command name."""
    patterns = {
        "festival": ("festival", r"System: (\S+?):"),
        "flite": ("flite", r"flite-(\S+)"),
        "espeak": ("espeak-ng", r"text-to-speech: (\S+)"),
        "sox": ("sox", r"SoX v(\S+)"),
    }
    versions = {}
    for engine in sorted({*engines, "sox"}):
        command, pattern = patterns[engine]
        result = _run([command, "--version"], check=False)
        found = re.search(pattern, result.stdout + result.stderr)
        versions[command] = found.group(1) if found else "unknown"
    return versions


def package_versions(packages) -> dict[str, str]:
    """``dpkg-query`` versions of Debian packages (``"not installed"`` where dpkg knows none)."""
    return {p: _dpkg_query("-W", "-f", "${Version}", p) or "not installed" for p in sorted(set(packages))}


def _dpkg_query(*args: str) -> str:
    """dpkg-query's answer, or ``""`` when it has none (or the system has no dpkg)."""
    if shutil.which("dpkg-query") is None:
        return ""
    result = _run(["dpkg-query", *args], check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def _check_festival(name: str) -> None:
    if festival_voice_dir(name) is not None:
        return
    if name in FESTIVAL_VOICE_PACKAGES:
        raise VoiceNotAvailable(
            f"festival voice {name!r} is not installed: `apt-get install {FESTIVAL_VOICE_PACKAGES[name]}`"
        )
    installed = sorted(p.name for p in FESTIVAL_VOICES_DIR.glob("*/*") if p.is_dir())
    packaged = ", ".join(f"{v} ({p})" for v, p in FESTIVAL_VOICE_PACKAGES.items())
    raise VoiceNotAvailable(
        f"unknown festival voice {name!r}; installed: {', '.join(installed) or 'none'}; "
        f"English voices Debian packages: {packaged}"
    )


def _check_flite(name: str) -> None:
    if name not in flite_voices():
        raise VoiceNotAvailable(
            f"unknown flite voice {name!r}; the Debian package flite has: {', '.join(flite_voices())}"
        )


def _check_espeak(name: str) -> None:
    language, _, variant = name.partition("+")
    if language not in espeak_languages():
        raise VoiceNotAvailable(
            f"unknown English espeak-ng voice {language!r} (the corpus text is English); "
            f"the Debian package espeak-ng-data has: {', '.join(espeak_languages())}"
        )
    if variant and variant not in espeak_variants():
        raise VoiceNotAvailable(
            f"unknown espeak-ng variant {variant!r} in {name!r}; `espeak-ng --voices=variant` lists them "
            f"(Debian package espeak-ng-data), e.g. m1 … m8, f1 … f5"
        )


def _festival(voice: Voice, texts: list[str], raw_paths: list[Path]) -> list[str | None]:
    _run_festival(voice, texts, raw_paths)
    errors = []
    for text, raw in zip(texts, raw_paths):
        # A text the batch could not speak is run alone to report festival's own error.
        stderr = "" if raw.is_file() else _run_festival(voice, [text], [raw])
        errors.append(None if raw.is_file() else f"festival wrote no audio: {_tail(stderr)}")
    return errors


def _run_festival(voice: Voice, texts: list[str], raw_paths: list[Path]) -> str:
    """Runs one festival process over ``texts``; an error in one text does not stop the others."""
    lines = [f"(voice_{voice.name})"]
    if voice.speed != 1.0:
        # Diphone/cluster voices read Duration_Stretch; HTS voices read hts_engine's -r (only
        # they define hts_engine_params: setting it unguarded fails every diphone utterance).
        lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / voice.speed!r})")
        lines.append(f"(if (boundp 'hts_engine_params) (set! hts_engine_params (append hts_engine_params "
                     f'(list (list "-r" {voice.speed!r})))))')
    for text, raw in zip(texts, raw_paths):
        lines.append(
            f"(unwind-protect (utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) "
            f"{_scheme_string(str(raw))} 'riff) nil)"
        )
    script = raw_paths[0].parent / f"{raw_paths[0].stem}.scm"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        result = _run(["festival", "-b", str(script)], check=False, timeout=_timeout(len(texts)))
    except subprocess.TimeoutExpired:
        return f"festival did not finish in {_timeout(len(texts)):.0f} s"
    return result.stderr


def _flite(voice: Voice, texts: list[str], raw_paths: list[Path]) -> list[str | None]:
    errors = []
    for text, raw in zip(texts, raw_paths):
        text_file = raw.with_suffix(".txt")
        text_file.write_text(text + "\n", encoding="utf-8")
        command = ["flite", "-voice", voice.name, "-f", str(text_file), "-o", str(raw)]
        if voice.speed != 1.0:
            command[1:1] = ["--setf", f"duration_stretch={1.0 / voice.speed!r}"]
        errors.append(_engine_error("flite", command, raw))
    return errors


def _espeak(voice: Voice, texts: list[str], raw_paths: list[Path]) -> list[str | None]:
    errors = []
    for text, raw in zip(texts, raw_paths):
        words_per_minute = round(ESPEAK_DEFAULT_WPM * voice.speed)
        command = ["espeak-ng", "-v", voice.name, "-s", str(words_per_minute), "-w", str(raw), "--stdin"]
        errors.append(_engine_error("espeak-ng", command, raw, stdin=text))
    return errors


def _engine_error(engine: str, command: list[str], raw: Path, stdin: str | None = None) -> str | None:
    try:
        result = _run(command, check=False, timeout=_timeout(1), stdin=stdin)
    except subprocess.TimeoutExpired:
        return f"{engine} did not finish in {_timeout(1):.0f} s"
    if result.returncode != 0:
        return f"{engine} failed (exit {result.returncode}): {_tail(result.stderr)}"
    return None if raw.is_file() else f"{engine} wrote no audio: {_tail(result.stderr)}"


def _to_corpus_wav(voice: Voice, raw: Path, out: Path) -> str | None:
    """``sox -R`` (repeatable dither) to 22,050 Hz mono 16-bit, pitch-shifted; ``None`` or why not."""
    command = ["sox", "-R", "-V1", str(raw), "-t", "wav", "-e", "signed-integer", "-b", "16", "-c", "1",
               "-r", str(SAMPLE_RATE), str(out)]
    if voice.pitch != 0.0:
        command += ["pitch", f"{100.0 * voice.pitch:g}"]
    result = _run(command, check=False)
    if result.returncode != 0:
        out.unlink(missing_ok=True)
        return f"sox failed (exit {result.returncode}): {_tail(result.stderr)}"
    error = _silence_error(out)
    if error is not None:
        out.unlink()
    return error


def _silence_error(path: Path) -> str | None:
    with wave.open(str(path), "rb") as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    if samples.size == 0:
        return "the voice produced no audio"
    peak = np.abs(samples.astype(np.int32)).max() / 32768.0
    if peak < SILENCE_PEAK:
        return f"the voice produced only silence (peak {20 * np.log10(max(peak, 1e-9)):.0f} dBFS)"
    return None


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tail(stderr: str, lines: int = 3) -> str:
    kept = [line.strip() for line in stderr.splitlines() if line.strip() and not set(line.strip()) <= set("-=")]
    return " / ".join(kept[-lines:]) or "no error message"


def _timeout(n_texts: int) -> float:
    return _TIMEOUT_S + _TIMEOUT_PER_TEXT_S * n_texts


def _run(command: list[str], *, check: bool = True, timeout: float | None = None, stdin: str | None = None):
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, errors="replace", check=check, timeout=timeout
    )
