"""The preset registry: list, inspect, load and save trained model configurations.

A preset is a folder ``<root>/<name>/`` holding (DESIGN.md, "the preset contract"):

- ``preset.json``: ``name``, ``class`` (the registered Keras name, ``package>Class``),
  ``module`` (where the class is defined), ``config`` (``model.get_config()``),
  ``build_config`` (``model.get_build_config()``: the input shapes that create the
  variables), ``weights`` (``{"file", "sha256"}``), ``data``, ``training``, ``metrics``;
- ``model.weights.h5``: the weights, at most ``MAX_WEIGHTS_BYTES``;
- ``CARD.md``: what the model is, how it was trained, what it measures.

Where presets are found (the first folder holding a name wins): ``root=`` when given;
otherwise each folder of ``TFSPEECH_ZOO_PATH`` (``os.pathsep``-separated), then the
presets shipped with tfspeech (the repository's ``zoo/``, the package ``tfspeech.presets``).
``catalog()`` reports every preset folder found, the broken ones and the shadowed ones too.

A preset may also declare the ``input`` its model takes; ``load`` then guards the model
against integer, misshapen and NaN inputs (``tfspeech.input_guard``).

``list``, ``info`` and ``catalog`` read JSON only: they import neither Keras nor TensorFlow,
so ``tfspeech zoo list`` answers at once. ``preset.json`` may name its ``headline``
metrics (the held-out quality figures ``zoo list`` shows); see ``headline``.

What a model class provides (this module never looks inside a model):

- registration with ``@keras.saving.register_keras_serializable(package=...)`` and a
  ``get_config()`` that ``from_config`` inverts;
- its variables must exist before the weights load. ``load`` calls the model's
  ``build_from_preset()`` method when it has one (for models whose variables depend on
  more than their input shapes, or whose forward pass is costly, e.g. an
  autoregressive decoder); otherwise it runs one forward pass on zeros shaped like the
  saved ``build_config`` (``None`` dimensions become 1), as Keras builds a subclassed model;
- optionally ``default_compile_args()``: a dict of ``model.compile`` arguments (loss,
  optimizer, metrics) for fine-tuning; ``load`` compiles with it, else returns the
  model uncompiled.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.resources
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tfspeech import atomic

if TYPE_CHECKING:  # Keras (and TensorFlow) load only when a model is built or saved
    import keras

PRESET_FILE = "preset.json"
WEIGHTS_FILE = "model.weights.h5"
CARD_FILE = "CARD.md"
ZOO_PATH_ENV = "TFSPEECH_ZOO_PATH"
MAX_WEIGHTS_BYTES = 15_000_000
MAX_ZOO_BYTES = 100_000_000  # the design page's budget for zoo/ in git
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_REQUIRED_KEYS = ("name", "class", "config", "weights", "data", "training", "metrics")


class PresetError(Exception):
    """A preset cannot be found, read, verified or built; the message names the fix."""


class PresetNotFoundError(PresetError, LookupError):
    """No preset of that name in the searched folders."""


class ChecksumError(PresetError):
    """A weights file's sha256 differs from the one recorded in preset.json."""


@dataclass(frozen=True)
class CatalogEntry:
    """One preset folder found by ``catalog``.

    ``preset``: its ``preset.json`` (None when broken); ``error``: why it cannot be read
    (None when fine); ``shadows``: folders of the same name later in the search order that
    this one hides (e.g. a shipped preset overridden through ``TFSPEECH_ZOO_PATH``).
    """

    name: str
    folder: Path
    preset: dict | None = None
    error: str | None = None
    shadows: tuple[Path, ...] = field(default=())


def roots(root: str | Path | None = None) -> list[Path]:
    """The folders searched for presets, in order (see the module doc)."""
    if root is not None:
        return [Path(root)]
    extra = [Path(p) for p in os.environ.get(ZOO_PATH_ENV, "").split(os.pathsep) if p]
    return extra + [Path(str(importlib.resources.files("tfspeech.presets")))]


def list(root: str | Path | None = None) -> list[str]:  # noqa: A001 - the registry's verb
    """Names of the available presets, sorted."""
    return sorted(_index(root))


def catalog(root: str | Path | None = None) -> list[CatalogEntry]:
    """Every preset found, sorted by name, including broken ones (``error`` says why) and
    with the folders each one shadows. Never raises for a broken preset folder."""
    entries = []
    for name, folders in sorted(_all_folders(root).items()):
        try:
            preset, error = _read_preset(folders[0]), None
        except (PresetError, OSError, UnicodeDecodeError) as problem:
            preset, error = None, str(problem)
        entries.append(CatalogEntry(name, folders[0], preset, error, tuple(folders[1:])))
    return entries


def headline(preset: Mapping) -> dict[str, float]:
    """The preset's headline held-out quality figures, ``{metric: value}``.

    ``preset["headline"]`` (a list of metric names) when the preset names them; otherwise
    the first metric that is not a count (an integer above 1, such as a number of
    utterances). Empty when the preset has no metrics.
    """
    metrics = preset.get("metrics") or {}
    values = {key: entry.get("value") if isinstance(entry, Mapping) else entry for key, entry in metrics.items()}
    named = [key for key in preset.get("headline") or () if key in values]
    if named:
        return {key: values[key] for key in named}
    for key, value in values.items():
        if not (isinstance(value, int) and not isinstance(value, bool) and abs(value) > 1):
            return {key: value}
    return {}


def info(name: str, root: str | Path | None = None) -> dict:
    """The preset's ``preset.json`` as a dict, plus ``card`` (CARD.md text) and ``path`` (its folder)."""
    folder = _find(name, root)
    card = folder / CARD_FILE
    return {
        **_read_preset(folder),
        "card": card.read_text(encoding="utf-8") if card.is_file() else "",
        "path": str(folder),
    }


def load(name: str, root: str | Path | None = None, *, compile: bool = True,
         expect: type | tuple[type, ...] | None = None) -> "keras.Model":
    """Builds preset ``name`` with its trained weights, compiled for fine-tuning when the model says how.

    The weights' sha256 is verified before anything is built. ``expect``: the model class(es)
    the caller can use; a preset of another class is refused before it is built.

    Raises:
        PresetNotFoundError: no such preset (the message lists the available ones).
        ChecksumError: the weights file changed since it was saved.
        PresetError: a missing file, an unregistered class, weights that do not fit, or a
            class other than ``expect``.
    """
    folder = _find(name, root)
    preset = _read_preset(folder)
    model_class = _model_class(preset)
    if expect is not None and not issubclass(model_class, expect):
        wanted = " or ".join(c.__name__ for c in (expect if isinstance(expect, tuple) else (expect,)))
        raise PresetError(f"preset {name!r} is a {model_class.__name__}; this needs a {wanted} preset "
                          f"(`tfspeech zoo list` shows each preset's class)")
    weights = _verified_weights(folder, preset["weights"])
    model = model_class.from_config(preset["config"])
    _build(model, preset.get("build_config"))
    try:
        model.load_weights(weights)
    except ValueError as error:
        raise PresetError(
            f"{weights} does not fit the model built from {folder / PRESET_FILE}: {error}. "
            f"The class {preset['class']} changed since the preset was saved; re-train and "
            "re-save it, or check out the class version that saved it."
        ) from error
    if compile and hasattr(model, "default_compile_args"):
        model.compile(**model.default_compile_args())
    if preset.get("input"):
        from tfspeech.input_guard import InputContract, guard

        guard(model, InputContract.from_preset(preset["input"], f"{type(model).__name__} preset {name!r}"))
    return model


def save_preset(
    model: "keras.Model",
    name: str,
    *,
    root: str | Path,
    data: Mapping,
    training: Mapping,
    metrics: Mapping,
    card: str | None = None,
    overwrite: bool = False,
    headline: list[str] | tuple[str, ...] | None = None,
    input: Mapping | None = None,  # noqa: A002 - the preset.json key it fills
) -> Path:
    """Writes ``root/name/`` (preset.json, model.weights.h5, CARD.md); returns the folder.

    Args:
        model: a built model of a registered Keras class (see the module doc).
        name: the preset's name: letters, digits, ``.``, ``_``, ``-``.
        root: the zoo folder (the repository's ``zoo/`` for shipped presets).
        data: what it was trained on; must include ``fingerprint`` (e.g. the sha256 of
            the corpus manifest).
        training: must include ``command`` (reproduces the preset); also steps, wall
            time, hardware.
        metrics: ``{metric: {"value": number, "command": how to measure it}}`` on held-out data.
        card: CARD.md text; generated from the fields above when None.
        overwrite: replace an existing preset of that name.
        headline: the metrics that best say how good the model is (``zoo list`` shows
            them); default: the first metric that is not a count.
        input: ``{"shape": [None, 64], "dtype": "float32"}``, what the model's ``call``
            takes; ``load`` then turns bad inputs into clear errors (``tfspeech.input_guard``).
    """
    import numpy as np

    if not _NAME_PATTERN.fullmatch(name):
        raise ValueError(f"preset name {name!r}: use letters, digits, '.', '_', '-', starting with a letter or digit")
    _check_record(data, training, metrics)
    if headline is not None and not set(headline) <= set(metrics):
        raise ValueError(f"headline {[*headline]} names metrics not in metrics {sorted(metrics)}")
    class_name, module = _registered(model)
    if not model.built:
        raise PresetError(f"{type(model).__name__} is not built; call it on a batch before saving its preset")
    estimate = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    _check_size(estimate, "the model's weights")

    root = Path(root)
    folder = root / name
    if (folder / PRESET_FILE).exists() and not overwrite:
        raise FileExistsError(f"{folder} already holds a preset; pass overwrite=True to replace it")
    with atomic.folder(folder) as staging:  # hidden until complete, then swapped in whole
        _without_optimizer(model).save_weights(staging / WEIGHTS_FILE)
        _check_size((staging / WEIGHTS_FILE).stat().st_size, WEIGHTS_FILE)
        preset = {
            "name": name,
            "class": class_name,
            "module": module,
            "config": model.get_config(),
            "build_config": model.get_build_config(),
            "weights": {"file": WEIGHTS_FILE, "sha256": _sha256(staging / WEIGHTS_FILE)},
            "data": dict(data),
            "training": dict(training),
            "metrics": {k: dict(v) for k, v in metrics.items()},
            **({"headline": [*headline]} if headline else {}),
            **({"input": {"shape": [*input["shape"]], "dtype": input.get("dtype", "float32")}} if input else {}),
        }
        try:
            text = json.dumps(preset, indent=2, sort_keys=False) + "\n"
        except TypeError as error:
            raise ValueError(f"preset {name!r} holds a value JSON cannot store: {error}") from error
        (staging / PRESET_FILE).write_text(text, encoding="utf-8")
        card = _generated_card(preset) if card is None else card
        (staging / CARD_FILE).write_text(card, encoding="utf-8")
        _check_zoo_size(root, folder, staging)
    return folder


def _all_folders(root) -> dict[str, list[Path]]:
    """``{name: [folder, ...]}`` in search order (the first one is the one used)."""
    found: dict[str, list[Path]] = {}
    for base in roots(root):
        if base.is_dir():
            for preset in sorted(base.glob(f"[!.]*/{PRESET_FILE}")):
                found.setdefault(preset.parent.name, []).append(preset.parent)
    return found


def _index(root) -> dict[str, Path]:
    return {name: folders[0] for name, folders in _all_folders(root).items()}


def _find(name: str, root) -> Path:
    index = _index(root)
    if name in index:
        return index[name]
    searched = ", ".join(str(p) for p in roots(root))
    available = ", ".join(sorted(index)) or "none"
    close = difflib.get_close_matches(name, sorted(index), n=1, cutoff=0.4)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise PresetNotFoundError(
        f"no preset named {name!r}.{hint} Available: {available} (searched {searched}; "
        f"add folders with {ZOO_PATH_ENV} or root=)."
    )


def _read_preset(folder: Path) -> dict:
    path = folder / PRESET_FILE
    try:
        preset = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise PresetError(f"{path} is not valid JSON ({error}); {_restore_hint(path)}") from error
    if not isinstance(preset, dict):
        raise PresetError(f"{path} holds a JSON {type(preset).__name__}, not an object; {_restore_hint(path)}")
    missing = [key for key in _REQUIRED_KEYS if key not in preset]
    if missing:
        raise PresetError(f"{path} lacks {missing}; re-save the preset with tfspeech.zoo.save_preset")
    wrong = _wrong_types(preset)
    if wrong:
        raise PresetError(f"{path} has fields of the wrong type: {'; '.join(wrong)}. {_restore_hint(path)}")
    return preset


def _wrong_types(preset: Mapping) -> list[str]:
    """What in a parsed preset.json is not of the type the contract says (found by fuzzing:
    a hand-edited file must give a PresetError, not an AttributeError deep inside)."""
    def is_str_list(value):
        return isinstance(value, (tuple, type([]))) and all(isinstance(v, str) for v in value)

    expected = {
        "name": (lambda v: isinstance(v, str), "a string"),
        "class": (lambda v: isinstance(v, str), "a registered class name (string)"),
        "module": (lambda v: v is None or isinstance(v, str), "a module name (string)"),
        "config": (lambda v: isinstance(v, Mapping), "an object"),
        "build_config": (lambda v: v is None or isinstance(v, Mapping), "an object or null"),
        "weights": (lambda v: isinstance(v, Mapping) and isinstance(v.get("file"), str)
                    and isinstance(v.get("sha256"), str), 'an object {"file": ..., "sha256": ...}'),
        "data": (lambda v: isinstance(v, Mapping), "an object"),
        "training": (lambda v: isinstance(v, Mapping), "an object"),
        "metrics": (lambda v: isinstance(v, Mapping), "an object {metric: {value, command}}"),
        "headline": (lambda v: v is None or is_str_list(v), "a list of metric names"),
        "input": (lambda v: v is None or (isinstance(v, Mapping) and isinstance(v.get("shape"), (tuple, type([])))
                                          and all(d is None or (isinstance(d, int) and not isinstance(d, bool))
                                                  for d in v["shape"])
                                          and v.get("dtype", "float32") in ("float16", "float32", "float64")
                                          and _is_range(v.get("range"))),
                  'an object {"shape": [null or int, ...], "dtype": "float32", "range": [low, high]}'),
    }
    return [f"{key} must be {what}, not {json.dumps(preset[key])[:40]}"
            for key, (ok, what) in expected.items() if key in preset and not ok(preset[key])]


def _is_range(value) -> bool:
    return value is None or (isinstance(value, (tuple, type([]))) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def _verified_weights(folder: Path, weights: Mapping) -> Path:
    path = folder / Path(weights["file"]).name
    if not path.is_file():
        raise PresetError(
            f"{path} is missing. If the preset came from git, the file may be untracked or "
            "stored with Git LFS (run `git lfs pull`); otherwise re-save the preset."
        )
    actual = _sha256(path)
    if actual != weights["sha256"]:
        raise ChecksumError(
            f"{path} is corrupt or changed: sha256 {actual}, expected {weights['sha256']} "
            f"(from {folder / PRESET_FILE}). {_restore_hint(path)}; or, if the "
            "new weights are intended, re-save the preset with tfspeech.zoo.save_preset."
        )
    return path


def _restore_hint(path: Path) -> str:
    """How to get a damaged preset file back, for where it lives: a git checkout, an
    installed tfspeech package, or a folder of the user's own."""
    path = Path(path).resolve()
    for parent in path.parents:
        if (parent / ".git").exists():
            return f"restore it with `git -C {parent} checkout -- {path.relative_to(parent)}`"
    shipped = Path(str(importlib.resources.files("tfspeech.presets"))).resolve()
    if shipped in path.parents:
        return ("it ships with the installed tfspeech package: restore it by reinstalling "
                "(`pip install --force-reinstall --no-deps tfspeech`)")
    return "restore it from your backup, or re-save the preset with tfspeech.zoo.save_preset"


def _model_class(preset: Mapping) -> type:
    import keras

    class_name, module = preset["class"], preset.get("module")
    if keras.saving.get_registered_object(class_name) is None and module and module.startswith("tfspeech."):
        importlib.import_module(module)
    cls = keras.saving.get_registered_object(class_name)
    if cls is None:
        where = f"`import {module}`" if module else "the module that defines it"
        raise PresetError(
            f"the preset's class {class_name!r} is not registered with Keras; run {where} "
            "before tfspeech.zoo.load (the class needs "
            "@keras.saving.register_keras_serializable)."
        )
    return cls


def _without_optimizer(model: "keras.Model") -> "keras.Model":
    """``model``, or a copy with the same weights and no optimizer when it has optimizer state:
    ``save_weights`` would store the optimizer's slots too (tripling an Adam model's file)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not optimizer.variables:
        return model
    copy = type(model).from_config(model.get_config())
    _build(copy, model.get_build_config())
    copy.set_weights(model.get_weights())
    return copy


def _build(model: "keras.Model", build_config) -> None:
    if model.built:
        return
    if hasattr(model, "build_from_preset"):
        model.build_from_preset()
    elif build_config and "input_shape" in build_config:
        model(_zeros(build_config["input_shape"]))
    elif build_config and "shapes_dict" in build_config:
        model(**{k.removesuffix("_shape"): _zeros(v) for k, v in build_config["shapes_dict"].items()})
    if not model.built:
        raise PresetError(
            f"{type(model).__name__} has no variables after from_config and no build_config "
            "to build them; give the class a build_from_preset() method that creates them"
        )


def _zeros(shape):
    """Zeros for a shape (a list of ints/None, None -> 1) or a nested dict/list of shapes."""
    import keras
    import numpy as np

    if isinstance(shape, Mapping):
        return {k: _zeros(v) for k, v in shape.items()}
    if all(d is None or isinstance(d, int) for d in shape):
        return np.zeros([1 if d is None else d for d in shape], dtype=keras.config.floatx())
    return [_zeros(s) for s in shape]


def _registered(model: "keras.Model") -> tuple[str, str]:
    import keras

    cls = type(model)
    class_name = keras.saving.get_registered_name(cls)
    if keras.saving.get_registered_object(class_name) is not cls:
        raise PresetError(
            f"{cls.__name__} is not a registered Keras class; a preset rebuilds its model from "
            "one. Decorate the model class with "
            "@keras.saving.register_keras_serializable(package='tfspeech')"
        )
    return class_name, cls.__module__


def _check_record(data: Mapping, training: Mapping, metrics: Mapping) -> None:
    problems = []
    if "fingerprint" not in data:
        problems.append("data needs a 'fingerprint' (e.g. the sha256 of the corpus manifest)")
    if "command" not in training:
        problems.append("training needs the 'command' that reproduces the preset")
    for metric, entry in metrics.items():
        if not isinstance(entry, Mapping) or not {"value", "command"} <= set(entry):
            problems.append(f"metric {metric!r} needs {{'value': ..., 'command': ...}}")
    if problems:
        raise ValueError("preset record incomplete: " + "; ".join(problems))


def _check_size(size: int, what: str) -> None:
    if size > MAX_WEIGHTS_BYTES:
        raise PresetError(
            f"{what} take {size / 1e6:.1f} MB; a preset's weights may take at most "
            f"{MAX_WEIGHTS_BYTES / 1e6:.0f} MB because they live in git. Shrink the model "
            "(fewer units or layers) or store float16 weights."
        )


def _check_zoo_size(root: Path, folder: Path, staging: Path) -> None:
    others = sum(
        p.stat().st_size for p in root.glob("[!.]*/*") if p.is_file() and p.parent != folder
    )
    total = others + sum(p.stat().st_size for p in staging.iterdir())
    if total > MAX_ZOO_BYTES:
        raise PresetError(
            f"{root} would hold {total / 1e6:.1f} MB of presets, over the {MAX_ZOO_BYTES / 1e6:.0f} MB "
            "limit for a zoo kept in git; shrink this preset or retire one"
        )


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _generated_card(preset: Mapping) -> str:
    def items(mapping):
        return "\n".join(f"- {key}: {value}" for key, value in mapping.items())

    metrics = "\n".join(
        f"| {metric} | {entry['value']} | `{entry['command']}` |"
        for metric, entry in preset["metrics"].items()
    )
    return (
        f"# {preset['name']}\n\n"
        f"A `{preset['class']}` preset of tfspeech.\n\n"
        "```python\n"
        "import tfspeech.zoo\n"
        f"model = tfspeech.zoo.load({preset['name']!r})\n"
        "```\n\n"
        f"## Data\n\n{items(preset['data'])}\n\n"
        f"## Training\n\n{items(preset['training'])}\n\n"
        "## Metrics (held out)\n\n"
        "| metric | value | command |\n|---|---|---|\n"
        f"{metrics}\n"
    )
