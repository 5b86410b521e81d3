"""build_corpus: determinism, resumability, layout, voices mixed, skipped sentences, refused folders."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfspeech.data import corpus, layout, voices
from tfspeech.data.corpus import build_corpus

MAIN_VOICE = "festival:cmu_us_slt_arctic_hts"
REPO = Path(__file__).resolve().parents[2]


def file_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def count_synthesized(monkeypatch) -> list[str]:
    """Wraps voices.synthesize to record the texts it is asked to speak."""
    spoken, synthesize = [], voices.synthesize
    monkeypatch.setattr(voices, "synthesize", lambda voice, texts, paths: spoken.extend(texts) or
                        synthesize(voice, texts, paths))
    return spoken


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The same 4-sentence festival corpus built twice, into two folders."""
    root = tmp_path_factory.mktemp("built")
    first = build_corpus([MAIN_VOICE], 4, out_dir=root / "first", progress=False)
    second = build_corpus([MAIN_VOICE], 4, out_dir=root / "second", jobs=1, progress=False)
    return first, second


def test_two_builds_are_byte_identical(built):
    first, second = built
    hashes = file_hashes(first)
    assert sorted(hashes) == sorted([layout.METADATA, layout.MANIFEST] + [f"wavs/{p.name}" for p in
                                                                          (first / "wavs").iterdir()])
    assert len(hashes) == 2 + 4
    assert hashes == file_hashes(second)


def test_layout_and_manifest(built):
    first, _ = built
    manifest = json.loads((first / layout.MANIFEST).read_text(encoding="utf-8"))
    utterances = layout.read_corpus(first)
    assert [u.id for u in utterances] == [entry["id"] for entry in manifest["utterances"]]
    assert {u.speaker for u in utterances} == {MAIN_VOICE}
    for utterance, entry in zip(utterances, manifest["utterances"]):
        wav = utterance.wav_path(first)
        assert entry["wav"] == f"wavs/{wav.name}"
        assert entry["sha256"] == hashlib.sha256(wav.read_bytes()).hexdigest()
        assert entry["duration_s"] > 0.5
        assert utterance.phonemes.startswith("{") and utterance.text.endswith((".", "?", "!"))
        assert utterance.id.startswith("festival_cmu_us_slt_arctic_hts-")
    metadata_sha = hashlib.sha256((first / layout.METADATA).read_bytes()).hexdigest()
    assert manifest["files"] == {layout.METADATA: metadata_sha}
    assert manifest["arguments"] == {"voices": [MAIN_VOICE], "n": 4, "seed": 0, "sentences_file": None}
    assert manifest["command"] == f"tfspeech corpus build --voices {MAIN_VOICE} --n 4 --seed 0"
    assert manifest["engines"]["festival"] and manifest["engines"]["sox"]
    assert {"festival", "festvox-us-slt-hts", "sox", "wordnet-base"} <= set(manifest["packages"])
    assert manifest["skipped"] == [] and not (first / ".build").exists()
    assert str(first.parent) not in json.dumps(manifest)  # no absolute paths


def test_growing_the_corpus_keeps_ids_and_splits(built, tmp_path):
    first, _ = built
    small = {u.id: u.split for u in layout.read_corpus(first)}
    grown = build_corpus([MAIN_VOICE], 5, out_dir=tmp_path / "grown", progress=False)
    larger = {u.id: u.split for u in layout.read_corpus(grown)}
    assert len(larger) == 5 and small.items() <= larger.items()
    assert all((grown / "wavs" / f"{i}.wav").read_bytes() == (first / "wavs" / f"{i}.wav").read_bytes()
               for i in small)


def test_rebuild_resynthesizes_only_the_missing_wav(built, tmp_path, monkeypatch, capsys):
    first, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    missing = sorted((copy / "wavs").iterdir())[1]
    missing.unlink()
    stray = copy / ".build" / "tmp" / "leftover" / missing.name
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"half a wav")  # what a killed build leaves behind
    spoken = count_synthesized(monkeypatch)
    assert build_corpus([MAIN_VOICE], 4, out_dir=copy, progress=False) == copy
    assert len(spoken) == 1
    assert file_hashes(copy) == file_hashes(first)
    spoken.clear()
    build_corpus([MAIN_VOICE], 4, out_dir=copy, progress=False)  # complete: nothing to do
    assert spoken == [] and file_hashes(copy) == file_hashes(first)


def test_killed_build_finishes_when_run_again(built, tmp_path):
    first, _ = built
    out = tmp_path / "killed"
    code = (f"from tfspeech.data.corpus import build_corpus; "
            f"build_corpus([{MAIN_VOICE!r}], 4, out_dir={str(out)!r}, jobs=1, progress=False)")
    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        if (out / "wavs").is_dir() and any((out / "wavs").iterdir()):
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # the build and its synthesizers
    process.wait()
    if (out / layout.MANIFEST).exists():
        pytest.skip("the build finished before it could be killed")
    assert (out / ".build" / "plan.json").is_file()
    build_corpus([MAIN_VOICE], 4, out_dir=out, progress=False)
    assert file_hashes(out) == file_hashes(first)


def test_mixed_voices_form_a_parallel_corpus(tmp_path):
    specs = [MAIN_VOICE, "flite:rms", "espeak:en-gb+m3:pitch=-2:speed=1.1"]
    out = build_corpus(specs, 2, out_dir=tmp_path / "mixed", progress=False)
    utterances = layout.read_corpus(out)
    assert len(utterances) == 6 and len({u.id for u in utterances}) == 6
    assert {u.speaker for u in utterances} == set(specs)
    for text in {u.text for u in utterances}:
        same = [u for u in utterances if u.text == text]
        assert len(same) == 3 and len({u.split for u in same}) == 1 and len({u.phonemes for u in same}) == 1
    manifest = json.loads((out / layout.MANIFEST).read_text(encoding="utf-8"))
    assert set(manifest["engines"]) == {"festival", "flite", "espeak-ng", "sox"}
    assert {"flite", "espeak-ng", "espeak-ng-data"} <= set(manifest["packages"])


def test_unspeakable_sentences_are_skipped_and_listed(tmp_path, monkeypatch, capsys):
    lines = tmp_path / "digits.txt"
    lines.write_text("zero\none\n...\ntwo|three\none\nfour\n", encoding="utf-8")
    synthesize = voices.synthesize

    def engine_failing_on_four(voice, texts, paths):
        errors = synthesize(voice, texts, paths)
        return ["espeak-ng failed (exit 1): mocked" if text == "four" else e for text, e in zip(texts, errors)]

    monkeypatch.setattr(voices, "synthesize", engine_failing_on_four)
    out = build_corpus(["espeak:en-us", "flite:slt"], None, out_dir=tmp_path / "digits",
                       sentences_file=lines, progress=False)
    assert sorted(u.text for u in layout.read_corpus(out)) == ["one", "one", "zero", "zero"]
    manifest = json.loads((out / layout.MANIFEST).read_text(encoding="utf-8"))
    skipped = {(s["speaker"], s["text"]): s["reason"] for s in manifest["skipped"]}
    assert set(skipped) == {(v, t) for v in ("espeak:en-us", "flite:slt") for t in ("...", "four")}
    assert all("nothing to speak" in skipped[v, "..."] for v in ("espeak:en-us", "flite:slt"))
    assert all("mocked" in skipped[v, "four"] for v in ("espeak:en-us", "flite:slt"))
    rejected = [(r["line"], r["text"]) for r in manifest["text"]["rejected_lines"]]
    assert rejected == [(4, "two|three"), (5, "one")]
    assert manifest["arguments"]["sentences_file"] == "digits.txt" and manifest["text"]["sentences"] == 4
    printed = capsys.readouterr().err
    assert "4 utterance(s) skipped" in printed and "'four'" in printed and "'...'" in printed
    assert not any("four" in p.name for p in (out / "wavs").iterdir())


def test_bad_voices_fail_before_anything_is_written(tmp_path, monkeypatch):
    out = tmp_path / "never"
    monkeypatch.setattr(voices, "FESTIVAL_VOICES_DIR", tmp_path / "no-voices")
    for specs, message in [
        (["tacotron:lj"], "unknown engine 'tacotron'"),
        (["flite:nobody"], "unknown flite voice 'nobody'"),
        (["espeak:en-us", "festival:kal_diphone"], "apt-get install festvox-kallpc16k"),
        (["flite:rms", "flite:rms:speed=1"], "listed more than once"),
        ([], "no voices given"),
    ]:
        with pytest.raises(ValueError, match=message):
            build_corpus(specs, 2, out_dir=out, progress=False)
    assert not out.exists()


def test_refused_folders(tmp_path):
    inside = REPO / "corpus-that-must-not-exist"
    with pytest.raises(ValueError, match="inside the tfspeech source tree"):
        build_corpus([MAIN_VOICE], 2, out_dir=inside, progress=False)
    assert not inside.exists()
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and holds no tfspeech corpus"):
        build_corpus([MAIN_VOICE], 2, out_dir=foreign, progress=False)
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.txt"]


def test_a_different_build_into_the_same_folder_is_refused(built):
    first, _ = built
    before = file_hashes(first)
    with pytest.raises(ValueError, match="built differently.*arguments"):
        build_corpus([MAIN_VOICE], 4, seed=1, out_dir=first, progress=False)
    assert file_hashes(first) == before


def test_concurrent_build_is_refused(tmp_path):
    import fcntl

    out = tmp_path / "busy"
    (out / ".build").mkdir(parents=True)
    with open(out / ".build" / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RuntimeError, match="another build is writing"):
            build_corpus([MAIN_VOICE], 2, out_dir=out, progress=False)


def test_default_location_is_the_user_cache(tmp_path, monkeypatch, built):
    first, _ = built
    monkeypatch.setenv("TFSPEECH_CACHE", str(tmp_path / "cache"))
    out = build_corpus([MAIN_VOICE], 4, progress=False)
    assert out.parent == tmp_path / "cache" / "corpora"
    assert out.name.startswith("wordnet-cmu_us_slt_arctic_hts-n4-seed0-")
    assert file_hashes(out) == file_hashes(first)
    monkeypatch.delenv("TFSPEECH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert corpus.default_cache_dir() == tmp_path / "xdg" / "tfspeech"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert corpus.default_cache_dir() == Path.home() / ".cache" / "tfspeech"


@pytest.mark.slow
def test_fifty_sentence_builds_are_byte_identical(tmp_path):
    first = build_corpus([MAIN_VOICE], 50, out_dir=tmp_path / "a", progress=False)
    second = build_corpus([MAIN_VOICE], 50, out_dir=tmp_path / "b", jobs=1, progress=False)
    hashes = file_hashes(first)
    assert len(hashes) == 52 and hashes == file_hashes(second)
