"""``tfspeech corpus build``: a deterministic, resumable, multi-voice synthesized speech corpus.

Every voice speaks every sentence (a parallel multi-speaker corpus), written in
the layout of ``tfspeech.data.layout``. The same arguments give byte-identical
files: ``manifest.json`` holds no time stamps and no absolute paths. Wavs are
written atomically (temporary file, then rename), so a killed build, run
again, synthesizes only the wavs it lacks. Utterance ids are
``<speaker tag>-<12 hex digits of the sentence's sha256>``, stable when the
corpus grows.

``manifest.json``::

    format, command, arguments {voices, n, seed, sentences_file},
    text {source, sha256, sentences, rejected_lines}, engines {command: version},
    packages {Debian package: version}, sample_rate, order, split,
    files {"metadata.csv": sha256},
    utterances [{id, speaker, split, wav, sha256, duration_s}],
    skipped [{id, speaker, text, reason}]
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm.auto import tqdm

from tfspeech.data import layout, sentences
from tfspeech.data import voices as engines
from tfspeech.data.voices import Voice

FORMAT = "tfspeech-corpus/1"
_BUILD = ".build"  # inside a corpus while it is being built: plan.json, lock, tmp/
_MAX_CHUNK = 8  # sentences per synthesis task (festival starts once per task)
_PRINTED_SKIPS = 20


def default_cache_dir() -> Path:
    """``$TFSPEECH_CACHE``, else ``$XDG_CACHE_HOME/tfspeech``, else ``~/.cache/tfspeech``."""
    if os.environ.get("TFSPEECH_CACHE"):
        return Path(os.environ["TFSPEECH_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "tfspeech"


def build_corpus(
    voices: list[str],
    n: int | None = 50,
    *,
    seed: int = 0,
    out_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    sentences_file: str | Path | None = None,
    jobs: int | None = None,
    progress: bool = True,
) -> Path:
    """Builds (or finishes, or re-checks) a corpus and returns its folder.

    ``voices``: specs such as ``festival:cmu_us_slt_arctic_hts`` (see
    ``tfspeech.data.voices``); ``n``: how many sentences, taken in the stable
    seeded order (``None``: all); ``sentences_file``: one sentence per line
    instead of WordNet's examples; ``out_dir``: the corpus folder (default:
    ``<cache>/corpora/<name>-<hash>``); ``jobs``: parallel synthesis processes
    (default: every core; it does not change the output). Sentences a voice
    cannot speak are skipped, printed, and listed in the manifest.
    """
    parsed = _parse_voices(voices)
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive number of sentences or None for all, got {n!r}")
    jobs = len(os.sched_getaffinity(0)) if jobs is None else jobs
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    text, texts = _load_text(sentences_file)
    chosen = sentences.stable_order(texts, seed)[:n]
    plan = _plan(parsed, n, seed, sentences_file, text)
    corpus_dir = Path(out_dir).expanduser() if out_dir is not None else _default_corpus_dir(cache_dir, plan)
    _refuse_inside_sources(corpus_dir)
    _refuse_foreign_folder(corpus_dir)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    build_dir = corpus_dir / _BUILD
    build_dir.mkdir(exist_ok=True)
    with open(build_dir / "lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another build is writing {corpus_dir}; wait for it to finish") from None
        _claim(corpus_dir, plan)
        phonemes, skipped = _phonemize(chosen, parsed, progress)
        skipped += _synthesize_missing(corpus_dir, chosen, parsed, phonemes, jobs, progress)
        _write_outputs(corpus_dir, plan, chosen, parsed, phonemes, skipped)
        shutil.rmtree(build_dir)
    _print_skipped(skipped, corpus_dir)
    return corpus_dir


def utterance_id(voice: Voice, sentence: sentences.Sentence) -> str:
    return f"{voice.tag}-{sentence.key}"


def _parse_voices(specs) -> list[Voice]:
    if isinstance(specs, str):
        specs = [specs]
    if not specs:
        raise ValueError("no voices given; e.g. voices=['festival:cmu_us_slt_arctic_hts']")
    parsed = [engines.parse_voice(spec) for spec in specs]
    for voice in parsed:
        engines.check_voice(voice)
    tags = [voice.tag for voice in parsed]
    for voice in parsed:
        if tags.count(voice.tag) > 1:
            raise ValueError(f"voice {voice.spec!r} is listed more than once; list each voice once")
    return parsed


def _load_text(sentences_file) -> tuple[dict, list[str]]:
    """The text source's manifest entry and its sentences (before ordering)."""
    if sentences_file is None:
        texts, rejected = sentences.wordnet_sentences(), []
        source = f"WordNet examples (Debian package {sentences.WORDNET_PACKAGE})"
    else:
        texts, rejected = sentences.read_sentences_file(sentences_file)
        if not texts:
            raise ValueError(f"sentences file {sentences_file} holds no usable line (one sentence per line)")
        source = f"file {Path(sentences_file).name}"
    return {
        "source": source,
        "sha256": hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest(),
        "sentences": len(texts),
        "rejected_lines": [{"line": r.line_number, "text": r.text, "reason": r.reason} for r in rejected],
    }, texts


def _plan(parsed: list[Voice], n, seed: int, sentences_file, text: dict) -> dict:
    """Everything that determines the corpus: the manifest's head, also its cache key."""
    packages = [package for voice in parsed for package in engines.voice_packages(voice)] + ["sox"]
    if sentences_file is None:
        packages.append(sentences.WORDNET_PACKAGE)
    file_name = Path(sentences_file).name if sentences_file is not None else None
    command = ["tfspeech", "corpus", "build", "--voices", *(v.spec for v in parsed), "--n", str(n or 0),
               "--seed", str(seed)] + (["--sentences", file_name] if file_name else [])
    return {
        "format": FORMAT,
        "command": " ".join(command),
        "arguments": {"voices": [v.spec for v in parsed], "n": n, "seed": seed, "sentences_file": file_name},
        "text": text,
        "engines": engines.engine_versions(v.engine for v in parsed),
        "packages": engines.package_versions(packages),
        "sample_rate": engines.SAMPLE_RATE,
        "order": "ascending sha256(f'{seed}\\n{text}'), the first n sentences",
        "split": {
            "rule": "the first 8 bytes of sha256(f'split\\n{text}') as a fraction of 2**64, seed-independent",
            "bounds": dict(sentences.SPLIT_BOUNDS),
        },
    }


def _default_corpus_dir(cache_dir, plan: dict) -> Path:
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    args = plan["arguments"]
    source = Path(args["sentences_file"]).stem if args["sentences_file"] else "wordnet"
    more_voices = f"+{len(args['voices']) - 1}" if len(args["voices"]) > 1 else ""
    voices_part = args["voices"][0].split(":")[1] + more_voices
    digest = hashlib.sha256(json.dumps(plan, sort_keys=True).encode("utf-8")).hexdigest()[:8]
    name = f"{source}-{voices_part}-n{args['n'] or 'all'}-seed{args['seed']}-{digest}"
    return root / "corpora" / re.sub(r"[^A-Za-z0-9_.+=-]+", "_", name)


def _refuse_inside_sources(corpus_dir: Path) -> None:
    """Corpora are data, never committed: refuse a folder inside a git checkout of tfspeech."""
    resolved = corpus_dir.resolve()
    for folder in (resolved, *resolved.parents):
        if (folder / ".git").exists() and (folder / "tfspeech" / "__init__.py").is_file():
            raise ValueError(
                f"{corpus_dir} is inside the tfspeech source tree {folder}; corpora are never kept in "
                "the repository: leave out_dir unset (the cache folder) or choose a folder outside it"
            )


def _refuse_foreign_folder(corpus_dir: Path) -> None:
    """Never writes into a folder that holds other things than a (partial) tfspeech corpus."""
    if not corpus_dir.exists():
        return
    if not corpus_dir.is_dir():
        raise ValueError(f"{corpus_dir} is a file, not a folder; choose a folder for the corpus")
    ours = (corpus_dir / layout.MANIFEST).is_file() or (corpus_dir / _BUILD).is_dir()
    if not ours and any(corpus_dir.iterdir()):
        raise ValueError(
            f"{corpus_dir} is not empty and holds no tfspeech corpus; choose a new or empty folder"
        )


def _claim(corpus_dir: Path, plan: dict) -> None:
    """Checks that ``corpus_dir`` is new or holds this very build, records the plan, clears temporaries."""
    build_dir = corpus_dir / _BUILD
    earlier = None
    if (build_dir / "plan.json").is_file():
        earlier = json.loads((build_dir / "plan.json").read_text(encoding="utf-8"))
    elif (corpus_dir / layout.MANIFEST).is_file():
        manifest = json.loads((corpus_dir / layout.MANIFEST).read_text(encoding="utf-8"))
        earlier = {key: manifest.get(key) for key in plan}
    if earlier is not None and earlier != plan:
        if not (build_dir / "plan.json").is_file():
            shutil.rmtree(build_dir)  # leave a finished corpus as it was
        changed = sorted(key for key in plan if earlier.get(key) != plan[key])
        raise ValueError(
            f"{corpus_dir} holds a corpus built differently ({', '.join(changed)} differ); "
            "delete that folder or choose another out_dir"
        )
    _write_atomically(build_dir / "plan.json", _json(plan))
    shutil.rmtree(build_dir / "tmp", ignore_errors=True)
    (corpus_dir / layout.WAVS).mkdir(exist_ok=True)


def _phonemize(chosen, parsed, progress: bool) -> tuple[dict[str, str], list[dict]]:
    """ARPAbet per sentence key; a sentence the phonemizer rejects is skipped for every voice."""
    from tfspeech.text import phonemize

    phonemes, skipped = {}, []
    for sentence in tqdm(chosen, desc="phonemes", unit="sentence", disable=not progress, leave=False):
        try:
            phonemes[sentence.key] = phonemize(sentence.text)
        except ValueError as error:
            skipped += [_skip(voice, sentence, f"phonemizer: {error}") for voice in parsed]
    return phonemes, skipped


def _synthesize_missing(corpus_dir, chosen, parsed, phonemes, jobs, progress) -> list[dict]:
    """Synthesizes every wav not yet in ``wavs/``, in parallel; returns the skipped utterances."""
    wavs = corpus_dir / layout.WAVS
    todo = [
        (voice, sentence) for voice in parsed for sentence in chosen
        if sentence.key in phonemes and not (wavs / f"{utterance_id(voice, sentence)}.wav").is_file()
    ]
    # Chunks of one voice, small enough to keep every worker busy to the end.
    size = max(1, min(_MAX_CHUNK, math.ceil(len(todo) / (4 * jobs))))
    tasks = []
    for voice in parsed:
        missing = [sentence for v, sentence in todo if v == voice]
        tasks += [(voice, missing[i:i + size]) for i in range(0, len(missing), size)]
    total = len(todo)
    tmp_root = corpus_dir / _BUILD / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    skipped = []
    with tqdm(total=total, desc=f"corpus {corpus_dir.name}", unit="wav", disable=not progress) as bar, \
            ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_synthesize_chunk, voice, chunk, wavs, tmp_root) for voice, chunk in tasks]
        try:
            for future in as_completed(futures):
                chunk_skipped, done = future.result()
                skipped += chunk_skipped
                bar.update(done)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return skipped


def _synthesize_chunk(voice: Voice, chunk, wavs: Path, tmp_root: Path) -> tuple[list[dict], int]:
    with tempfile.TemporaryDirectory(dir=tmp_root) as tmp:
        tmp_paths = [Path(tmp) / f"{utterance_id(voice, s)}.wav" for s in chunk]
        errors = engines.synthesize(voice, [s.text for s in chunk], tmp_paths)
        skipped = []
        for sentence, tmp_path, error in zip(chunk, tmp_paths, errors):
            if error is None:
                os.replace(tmp_path, wavs / tmp_path.name)
            else:
                skipped.append(_skip(voice, sentence, error))
    return skipped, len(chunk)


def _write_outputs(corpus_dir, plan, chosen, parsed, phonemes, skipped) -> None:
    """metadata.csv and manifest.json, in sentence order then voice order, each written atomically."""
    utterances, entries = [], []
    for sentence in chosen:
        for voice in parsed:
            if sentence.key not in phonemes:
                continue
            utt = layout.Utterance(utterance_id(voice, sentence), sentence.text, phonemes[sentence.key],
                                   voice.spec, sentence.split)
            wav = utt.wav_path(corpus_dir)
            if not wav.is_file():
                continue
            utterances.append(utt)
            entries.append({"id": utt.id, "speaker": utt.speaker, "split": utt.split,
                            "wav": f"{layout.WAVS}/{wav.name}", "sha256": _sha256(wav),
                            "duration_s": _duration_s(wav)})
    metadata_tmp = corpus_dir / _BUILD / layout.METADATA
    layout.write_metadata(metadata_tmp, utterances)
    os.replace(metadata_tmp, corpus_dir / layout.METADATA)
    rank = {utterance_id(v, s): i for i, (s, v) in enumerate((s, v) for s in chosen for v in parsed)}
    skipped = sorted(skipped, key=lambda skip: rank[skip["id"]])
    manifest = {**plan, "files": {layout.METADATA: _sha256(corpus_dir / layout.METADATA)},
                "utterances": entries, "skipped": skipped}
    _write_atomically(corpus_dir / layout.MANIFEST, _json(manifest))


def _print_skipped(skipped: list[dict], corpus_dir: Path) -> None:
    if not skipped:
        return
    print(f"{len(skipped)} utterance(s) skipped (listed under 'skipped' in {corpus_dir / layout.MANIFEST}):",
          file=sys.stderr)
    for skip in skipped[:_PRINTED_SKIPS]:
        print(f"  {skip['speaker']}: {skip['text']!r}: {skip['reason']}", file=sys.stderr)
    if len(skipped) > _PRINTED_SKIPS:
        print(f"  ... and {len(skipped) - _PRINTED_SKIPS} more", file=sys.stderr)


def _skip(voice: Voice, sentence, reason: str) -> dict:
    return {"id": utterance_id(voice, sentence), "speaker": voice.spec, "text": sentence.text, "reason": reason}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _duration_s(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return round(w.getnframes() / w.getframerate(), 4)


def _json(data: dict) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def _write_atomically(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)
