"""Export any zoo model to SavedModel (servers) and TFLite/LiteRT (phones), with parity checks.

The export protocol: what a model exposes
------------------------------------------
An export needs functions with fixed input signatures. They come from, in order:

1. ``input_signature=[tf.TensorSpec(...), ...]`` passed by the caller: one signature,
   ``serving_default``, that calls ``model(x)`` (one input) or ``model([x1, x2, ...])``;
2. ``model.export_signatures()``, if the model defines it: ``{name: tf.function}``, each
   function decorated with an ``input_signature`` of plain ``tf.TensorSpec`` arguments
   (name the specs: the names become the input names servers and devices use).
   Autoregressive models return a whole-utterance function (a ``tf.while_loop`` over
   fixed-size buffers) and a step function (state in, state out);
3. ``model.inputs`` for Functional and Sequential models: one ``serving_default``.

A model may also define ``representative_data()``, returning samples in the format of
``tflite``'s ``representative_data``; the exporters use it when the caller passes no
data (int8 calibration from the command line, and realistic parity inputs such as
valid token ids).

A function may return a tensor, a tuple or a dict. Outputs are named by their dict keys,
else ``output_0``, ``output_1``, ... (the SavedModel convention), identically in the
SavedModel, the TFLite model and the parity report.

Parity
------
After writing, both exporters run the exported model and the Keras functions on the same
fixed inputs and compare every output: ``max|exported - keras| <= atol + rtol * max|keras|``
per output, over the elements finite on both sides. NaN or inf on one side where the other
has none (or a different infinity) fails, whatever the tolerance, and so does an output
whose Keras reference holds no finite value at all: nothing compared is not a pass.
Outputs whose length differs (an autoregressive decoder that stops a step earlier after
quantization) are compared over their common part; the report gives the length
difference, which fails beyond ``Tolerance.length_rtol`` of the reference length (0 in
float32). The inputs are the first ``PARITY_SAMPLES`` samples of the data given, else
seeded random ones: float ~ N(0, 1), integers in [0, 8), booleans; a dynamic dimension
is ``RANDOM_BATCH`` on axis 0 and ``RANDOM_LENGTH`` on any other axis (the TFLite
interpreter resizes its inputs to match). Failing the tolerance raises ``ParityError``;
the exported file stays where it was written for inspection.

Integer and boolean outputs (token ids, argmax decisions) must match exactly in float32.
In quantized exports their mismatch rate is reported, not gated: an id derived from a
near-tie of two float values flips when quantization moves either by a hair, however
small the error, and the float values it derives from are gated by the tolerance.

Settings for runners
--------------------
``tflite`` also writes ``<model>.json`` next to the ``.tflite``: ``{"class_name", "config"}``
with the model's Keras ``get_config()``, so a runner without tfspeech knows what it runs
(a TTS model's symbol set and ``MelConfig``, see ``export/synthesize_text.py``). Models
whose config is not plain JSON get none.
"""

from __future__ import annotations

import itertools
import json
import re
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from tfspeech import atomic

RANDOM_BATCH = 2
RANDOM_LENGTH = 16
RANDOM_INT_HIGH = 8
PARITY_SAMPLES = 4
CALIBRATION_SAMPLES = 100
QUANTIZE_MODES = (None, "float16", "dynamic", "int8")


@dataclass(frozen=True)
class Tolerance:
    """Pass when ``max|exported - keras| <= atol + rtol * max|keras|`` for an output.

    ``gate_discrete``: integer and boolean outputs (ids, decisions) must pass too; with
    False their mismatch rate is reported but does not fail the export (see the module doc).
    ``length_rtol``: the largest difference in an output's shape (e.g. the frames an
    autoregressive model generates before its stop token fires), relative to the Keras
    output's size along that axis, that still passes.
    """

    atol: float
    rtol: float
    gate_discrete: bool = True
    length_rtol: float = 0.0

    def bound(self, reference_max_abs: float) -> float:
        return self.atol + self.rtol * reference_max_abs

    def length_ok(self, difference: int, reference_length: int) -> bool:
        return difference <= self.length_rtol * reference_length

    def __str__(self) -> str:
        lengths = f", lengths within {100 * self.length_rtol:g}%" if self.length_rtol else ""
        return f"atol {self.atol:g} + rtol {self.rtol:g}{lengths}"


# Float32 graphs differ from Keras only by kernel order of operations. float16 stores
# weights in half precision (11-bit mantissa, ~5e-4 relative); dynamic stores int8
# weights and quantizes activations on the fly per batch; int8 also fixes activation
# ranges from calibration data, the coarsest of the four.
DEFAULT_TOLERANCES: dict[str | None, Tolerance] = {
    None: Tolerance(atol=1e-4, rtol=1e-4),
    "float16": Tolerance(atol=1e-3, rtol=1e-2, gate_discrete=False, length_rtol=0.05),
    "dynamic": Tolerance(atol=1e-2, rtol=5e-2, gate_discrete=False, length_rtol=0.05),
    "int8": Tolerance(atol=2e-2, rtol=1e-1, gate_discrete=False, length_rtol=0.05),
}


class ExportError(RuntimeError):
    """The model could not be exported; the message says why and what to do."""


class UnsupportedOpsError(ExportError):
    """TFLite conversion needs ops outside the builtin set: ``flex_ops`` or ``custom_ops`` (TF op names)."""

    def __init__(self, flex_ops: tuple[str, ...], custom_ops: tuple[str, ...], allow_flex: bool):
        self.flex_ops, self.custom_ops = flex_ops, custom_ops
        parts = []
        if flex_ops and not allow_flex:
            parts.append(
                f"needs TensorFlow ops that are not TFLite builtins: {', '.join(flex_ops)}. "
                "Rewrite them with builtin ops (best for phones), or pass allow_flex=True "
                "(the app then needs the Flex delegate, several MB, and ai-edge-litert cannot "
                "run the parity check)"
            )
        if custom_ops:
            parts.append(
                f"needs ops that neither TFLite nor Flex provides: {', '.join(custom_ops)}. "
                "Rewrite them with builtin ops"
            )
        super().__init__("TFLite conversion " + "; it also ".join(parts) + ".")


@dataclass(frozen=True)
class OutputParity:
    """One output of one signature: worst error over the parity samples and its bound.

    ``mismatch``: for integer/boolean outputs, the fraction of elements that differ (None for
    float outputs); ``gated``: False when that output is reported only (see ``Tolerance``).
    ``nonfinite_differ``: elements NaN/inf on one side only (always a failure);
    ``no_finite_reference``: the Keras output held no finite value (a failure: nothing was
    compared); ``length_difference``: the largest shape difference between the two outputs
    (errors are over their common part), ``length_ok`` whether it is within the tolerance.
    """

    signature: str
    output: str
    max_abs_error: float
    max_abs_reference: float
    bound: float
    mismatch: float | None = None
    gated: bool = True
    nonfinite_differ: int = 0
    no_finite_reference: bool = False
    length_difference: int = 0
    length_ok: bool = True

    @property
    def passed(self) -> bool:
        if self.nonfinite_differ or self.no_finite_reference:
            return False
        return bool(not self.gated or (self.max_abs_error <= self.bound and self.length_ok))

    @property
    def status(self) -> str:
        notes = []
        if self.nonfinite_differ:
            notes.append(f"{self.nonfinite_differ} NaN/inf on one side only")
        if self.no_finite_reference:
            notes.append("Keras output has no finite value")
        if self.length_difference:
            notes.append(f"lengths differ by {self.length_difference}")
        if not self.gated and self.mismatch is not None:
            notes.append(f"{100 * self.mismatch:.1f}% differ")
        verdict = ("ok" if self.passed else "FAIL") if self.gated or not self.passed else "reported"
        return verdict + (f" ({'; '.join(notes)})" if notes else "")


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote and how closely it matches Keras.

    ``checked`` is False only when the parity check could not run (a TFLite model with
    Flex ops, which ai-edge-litert cannot execute); ``passed`` is then False too.
    """

    format: str
    path: Path
    size_bytes: int
    quantize: str | None
    tolerance: Tolerance
    outputs: tuple[OutputParity, ...]
    flex_ops: tuple[str, ...] = ()
    checked: bool = True

    @property
    def passed(self) -> bool:
        return self.checked and all(o.passed for o in self.outputs)

    @property
    def max_abs_error(self) -> dict[str, float]:
        """``{"signature/output": max abs error}``."""
        return {f"{o.signature}/{o.output}": o.max_abs_error for o in self.outputs}

    def __str__(self) -> str:
        mode = self.quantize or "float32"
        lines = [
            f"{self.format} export: {self.path} ({self.size_bytes:,} bytes, {mode})",
            f"tolerance: {self.tolerance}",
        ]
        if self.flex_ops:
            lines.append(f"Flex ops (need the Flex delegate): {', '.join(self.flex_ops)}")
        if not self.checked:
            lines.append("parity: not checked (ai-edge-litert has no Flex delegate to run this model)")
            return "\n".join(lines)
        rows = [("signature", "output", "max abs error", "bound", "")]
        rows += [
            (o.signature, o.output, f"{o.max_abs_error:.3g}", f"{o.bound:.3g}", o.status)
            for o in self.outputs
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.append("parity: passed" if self.passed else "parity: FAILED")
        return "\n".join(lines)


class ParityError(ExportError):
    """The exported model differs from Keras by more than the tolerance; ``report`` has the numbers."""

    def __init__(self, report: ExportReport):
        self.report = report
        super().__init__(
            f"{report}\nThe exported model is kept at {report.path} for inspection. "
            "Look for ops that behave differently after conversion, or pass a looser "
            "tolerance=Tolerance(atol, rtol) if the error is acceptable for the use."
        )


@dataclass
class _Signature:
    """One exported function: flat named input specs, and the Keras function as reference."""

    name: str
    function: Callable
    concrete: tf.types.experimental.ConcreteFunction
    input_specs: list[tf.TensorSpec]

    def pack(self, flat):
        return tf.nest.pack_sequence_as(self.concrete.structured_input_signature[0], list(flat))

    def serving_function(self, call: Callable) -> tf.types.experimental.PolymorphicFunction:
        """A tf.function on the flat named specs returning ``{output name: tensor}``."""
        return tf.function(lambda *flat: _named_outputs(call(*flat)), input_signature=self.input_specs)

    def keras_function(self):
        return self.serving_function(lambda *flat: self.function(*self.pack(flat)))

    def frozen_function(self):
        """The same function with every variable folded into a constant (see ``tflite``)."""
        frozen = convert_variables_to_constants_v2(self.concrete, lower_control_flow=False)
        structure = self.concrete.structured_outputs
        return self.serving_function(
            lambda *flat: tf.nest.pack_sequence_as(structure, frozen(*flat), expand_composites=True)
        )


def resolve_signatures(model: keras.Model, input_signature=None) -> dict[str, Callable]:
    """The model's export functions, ``{name: tf.function with input_signature}`` (see module doc)."""
    if input_signature is not None:
        specs = list(input_signature)
    elif hasattr(model, "export_signatures"):
        functions = dict(model.export_signatures())
        for name, function in functions.items():
            if getattr(function, "input_signature", None) is None:
                raise ExportError(
                    f"{type(model).__name__}.export_signatures()['{name}'] is not a tf.function "
                    "with an input_signature; decorate it with "
                    "@tf.function(input_signature=[tf.TensorSpec(shape, dtype, name=...)])"
                )
        return functions
    else:
        try:
            keras_inputs = model.inputs
        except AttributeError:
            keras_inputs = None
        if not keras_inputs:
            raise ExportError(
                f"{type(model).__name__} has no known inputs (it is not a Functional/Sequential "
                "model). Pass input_signature=[tf.TensorSpec(shape, dtype, name=...)], or give "
                "the model an export_signatures() method (see tfspeech.export)."
            )
        specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in keras_inputs]

    def serve(*inputs):
        return model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)

    return {"serving_default": tf.function(serve, input_signature=specs)}


def saved_model(
    model: keras.Model,
    export_dir: str | Path,
    *,
    version: int | None = None,
    input_signature=None,
    sample_data=None,
    tolerance: Tolerance | None = None,
) -> ExportReport:
    """Writes a SavedModel in TF Serving layout, ``export_dir/<version>/``, and checks parity.

    Every export function becomes a named serving signature (the first is also
    ``serving_default``). Written with ``keras.export.ExportArchive``: it saves only
    the variables the functions use and the functions themselves, not the Keras
    Python object graph, so the result loads in TF Serving or ``tf.saved_model.load``
    without tfspeech.

    Args:
        model: a built Keras model (see the module doc for how signatures are found).
        export_dir: the model's folder; versions are integer sub-folders.
        version: defaults to one more than the highest existing version (1 at first).
        input_signature: see the module doc.
        sample_data: inputs for the parity check, as ``tflite``'s ``representative_data``
            (default: the model's ``representative_data()``, else seeded random inputs).
        tolerance: default ``DEFAULT_TOLERANCES[None]`` (float32).

    Returns:
        The report; parity compares ``tf.saved_model.load(...).signatures`` with Keras.
    Raises:
        ParityError: an output is beyond the tolerance (the SavedModel stays on disk).
    """
    signatures = _signatures(model, input_signature)
    sample_data = _model_data(model) if sample_data is None else sample_data
    export_dir = Path(export_dir)
    version_dir = export_dir / str(version if version is not None else _next_version(export_dir))
    if version_dir.exists():
        raise ExportError(f"{version_dir} already exists; pick another version or remove it")

    archive = keras.export.ExportArchive()
    archive.track(model)
    references = {}
    for signature in signatures:
        references[signature.name] = signature.keras_function()
        references[signature.name].get_concrete_function()
        archive.add_endpoint(signature.name, references[signature.name])
    try:
        export_dir.mkdir(parents=True, exist_ok=True)
        with atomic.folder(version_dir) as partial:  # a server watching export_dir never sees half a version
            archive.write_out(str(partial), verbose=False)
    except (OSError, tf.errors.OpError) as error:
        raise ExportError(f"cannot write the SavedModel to {version_dir}: "
                          f"{getattr(error, 'strerror', None) or getattr(error, 'message', error)}; "
                          "choose a writable folder") from error

    tolerance = tolerance or DEFAULT_TOLERANCES[None]
    loaded = tf.saved_model.load(str(version_dir))
    outputs = []
    for signature in signatures:
        served = loaded.signatures[signature.name]
        named = _named_samples(signature, _data_for(signature, signatures, sample_data), PARITY_SAMPLES)
        outputs += _compare(
            signature,
            references[signature.name],
            lambda inputs, served=served: {k: v.numpy() for k, v in served(**inputs).items()},
            _parity_inputs(signature, named),
            tolerance,
        )
    size = sum(p.stat().st_size for p in version_dir.rglob("*") if p.is_file())
    return _finish(ExportReport("saved_model", version_dir, size, None, tolerance, tuple(outputs)))


def tflite(
    model: keras.Model,
    path: str | Path,
    quantize: str | None = None,
    representative_data=None,
    *,
    allow_flex: bool = False,
    integer_io: bool = False,
    input_signature=None,
    tolerance: Tolerance | None = None,
) -> ExportReport:
    """Writes a TFLite (LiteRT) model with one signature per export function, and checks parity.

    The variables are frozen into constants before conversion
    (``convert_variables_to_constants_v2`` on each concrete function): a converted
    ``tf.while_loop`` that reads variables otherwise fails at run time on
    ``READ_VARIABLE`` inside ``WHILE`` (see DESIGN.md, export contract).

    Args:
        model: a built Keras model (see the module doc for how signatures are found).
        path: the ``.tflite`` file to write.
        quantize: None (float32), ``"float16"`` (half-precision weights), ``"dynamic"``
            (int8 weights, activations quantized at run time) or ``"int8"`` (full
            integer: int8 weights and activations, calibrated on ``representative_data``).
            Default tolerances: None 1e-4 abs + 1e-4 rel; float16 1e-3 + 1e-2;
            dynamic 1e-2 + 5e-2; int8 2e-2 + 1e-1 (relative to the output's max |value|).
        representative_data: samples like the model's real inputs (default: the
            model's ``representative_data()`` if it has one); required for
            ``"int8"`` (the first ``CALIBRATION_SAMPLES`` calibrate), used by the parity
            check in every mode (the first ``PARITY_SAMPLES``). An iterable of samples,
            each an array (one input), a tuple of arrays (inputs in signature order) or
            a dict ``{input name: array}``; for a model with several signatures, a dict
            ``{signature name: iterable of samples}``.
        allow_flex: permit TensorFlow (Flex) ops that have no TFLite builtin; the model
            then runs only where the Flex delegate is linked, and the parity check is
            skipped (``report.checked`` is False).
        integer_io: with ``"int8"``, make float inputs and outputs int8 too (the runner
            quantizes and dequantizes with the tensors' scales); else they stay float32.
        input_signature: see the module doc.
        tolerance: overrides the mode's default.

    Returns:
        The report, printable as a table.
    Raises:
        UnsupportedOpsError: the model needs non-builtin ops (names them).
        ParityError: an output is beyond the tolerance (the .tflite file stays on disk).
    """
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"quantize={quantize!r}; choose one of {QUANTIZE_MODES}")
    representative_data = _model_data(model) if representative_data is None else representative_data
    if quantize == "int8" and representative_data is None:
        raise ValueError(
            "quantize='int8' needs representative_data: samples like the model's real "
            "inputs to calibrate activation ranges (see the tflite docstring for the format), "
            f"or a representative_data() method on {type(model).__name__}"
        )
    if integer_io and quantize != "int8":
        raise ValueError("integer_io=True needs quantize='int8'")
    signatures = _signatures(model, input_signature)
    data = {
        s.name: _named_samples(s, _data_for(s, signatures, representative_data), CALIBRATION_SAMPLES)
        for s in signatures
    }
    if quantize == "int8" and None in data.values():
        missing = [name for name, samples in data.items() if samples is None]
        raise ValueError(f"quantize='int8' needs representative_data for every signature; none for {missing}")
    tolerance = tolerance or DEFAULT_TOLERANCES[quantize]

    blob, flex_ops = _convert(signatures, quantize, data, allow_flex, integer_io)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_file(path, blob)  # a runner never reads half a model
        _write_runner_settings(model, path)
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}; choose a writable location") from error
    if flex_ops:
        return ExportReport("tflite", path, len(blob), quantize, tolerance, (), flex_ops, checked=False)

    runner = _runner_class()(path)
    outputs = []
    for signature in signatures:
        outputs += _compare(
            signature,
            signature.keras_function(),
            lambda inputs, name=signature.name: runner.run_signature(name, **inputs),
            _parity_inputs(signature, data[signature.name]),
            tolerance,
        )
    return _finish(ExportReport("tflite", path, len(blob), quantize, tolerance, tuple(outputs)))


def _convert(signatures, quantize, data, allow_flex, integer_io) -> tuple[bytes, tuple[str, ...]]:
    """The TFLite flatbuffer and the Flex ops it needs; builtins are tried first."""
    frozen = {s.name: s.frozen_function().get_concrete_function() for s in signatures}
    with tempfile.TemporaryDirectory() as tmp:
        # A SavedModel of the frozen functions gives the TFLite signatures our names;
        # from_concrete_functions would name several of them after their graphs.
        # The converter never differentiates; saving custom gradients (e.g. tfb.Sigmoid's
        # log-det) fails on the frozen captures, so leave them out.
        options = tf.saved_model.SaveOptions(experimental_custom_gradients=False)
        tf.saved_model.save(tf.Module(), tmp, signatures=frozen, options=options)
        try:
            return _run(_converter(tmp, signatures, quantize, data, False, integer_io)), ()
        except Exception as error:  # ConverterError; its .errors say which ops failed
            flex_ops, custom_ops = _unsupported_ops(error)
            if custom_ops or (flex_ops and not allow_flex):
                raise UnsupportedOpsError(flex_ops, custom_ops, allow_flex) from error
            if not flex_ops:
                raise ExportError(f"TFLite conversion failed: {_first_lines(error)}") from error
        return _run(_converter(tmp, signatures, quantize, data, True, integer_io)), flex_ops


def _converter(saved_dir, signatures, quantize, data, flex, integer_io) -> tf.lite.TFLiteConverter:
    keys = [s.name for s in signatures]
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_dir, signature_keys=keys)
    builtins = tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if quantize == "int8" else tf.lite.OpsSet.TFLITE_BUILTINS
    converter.target_spec.supported_ops = [builtins] + ([tf.lite.OpsSet.SELECT_TF_OPS] if flex else [])
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        converter.representative_dataset = lambda: (
            (name, sample) for name, samples in data.items() for sample in samples[:CALIBRATION_SAMPLES]
        )
        if integer_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter


def _run(converter: tf.lite.TFLiteConverter) -> bytes:
    with warnings.catch_warnings():
        # int8 calibration runs TensorFlow's own deprecated tf.lite.Interpreter: not ours to fix.
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")
        return converter.convert()


def _unsupported_ops(error: Exception) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(flex-capable op names, ops with no kernel anywhere) from a ConverterError."""
    flex, custom = set(), set()
    for item in getattr(error, "errors", []):
        op = item.operator.name.removeprefix("tf.")
        if item.error_code == item.ERROR_NEEDS_FLEX_OPS:
            flex.add(op)
        elif item.error_code == item.ERROR_NEEDS_CUSTOM_OPS:
            custom.add(op)
    return tuple(sorted(flex)), tuple(sorted(custom))


def _first_lines(error: Exception, n: int = 8) -> str:
    """The converter's message without its MLIR location dumps."""
    lines = [line for line in str(error).splitlines() if line.strip() and not line.startswith("loc(")]
    return "\n".join(lines[:n])


def _signatures(model, input_signature) -> list[_Signature]:
    signatures = []
    for name, function in resolve_signatures(model, input_signature).items():
        concrete = function.get_concrete_function()
        args, kwargs = concrete.structured_input_signature
        if kwargs:
            raise ExportError(f"signature '{name}' has keyword inputs {sorted(kwargs)}; make them positional")
        flat = tf.nest.flatten(args)
        names = _unique_names([spec.name or f"input_{i}" for i, spec in enumerate(flat)])
        specs = [tf.TensorSpec(s.shape, s.dtype, name=n) for s, n in zip(flat, names)]
        signatures.append(_Signature(name, function, concrete, specs))
    return signatures


def _unique_names(names: list[str]) -> list[str]:
    cleaned = [re.sub(r"[^A-Za-z0-9_]", "_", n) for n in names]
    return [n if cleaned.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(cleaned)]


def _named_outputs(structure) -> dict[str, tf.Tensor]:
    if isinstance(structure, Mapping) and all(isinstance(k, str) for k in structure) and all(
        tf.is_tensor(v) for v in structure.values()
    ):
        return dict(structure)
    return {f"output_{i}": t for i, t in enumerate(tf.nest.flatten(structure))}


def _next_version(export_dir: Path) -> int:
    versions = [int(p.name) for p in export_dir.glob("*") if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def _model_data(model):
    return model.representative_data() if hasattr(model, "representative_data") else None


def _data_for(signature: _Signature, signatures: list[_Signature], data):
    """The part of ``data`` meant for ``signature`` (None: random inputs)."""
    if data is None:
        return None
    if isinstance(data, Mapping):
        return data.get(signature.name)
    if len(signatures) > 1:
        raise ValueError(
            f"the model has several signatures ({[s.name for s in signatures]}): pass the data "
            "as a dict {signature name: iterable of samples}"
        )
    return data


Named = dict[str, np.ndarray]


def _named_samples(signature: _Signature, samples: Iterable | None, limit: int) -> list[Named] | None:
    """Up to ``limit`` samples as checked ``{input name: array}`` dicts; None if no data."""
    if samples is None:
        return None
    named = [_as_named(signature, sample) for sample in itertools.islice(iter(samples), limit)]
    if not named:
        raise ValueError(f"the data for signature '{signature.name}' holds no samples")
    return named


def _parity_inputs(signature: _Signature, named: list[Named] | None) -> list[Named]:
    """The first ``PARITY_SAMPLES`` named samples, or two seeded random ones."""
    if named is not None:
        return named[:PARITY_SAMPLES]
    rng = np.random.default_rng(0)
    return [{s.name: _random_array(s, rng) for s in signature.input_specs} for _ in range(2)]


def _as_named(signature: _Signature, sample) -> Named:
    specs = signature.input_specs
    takes = f"signature '{signature.name}' takes inputs {[s.name for s in specs]}"
    if isinstance(sample, Mapping):
        if set(sample) != {s.name for s in specs}:
            raise ValueError(f"{takes}; a sample has {sorted(sample)}")
        arrays = [sample[s.name] for s in specs]
    elif isinstance(sample, (tuple, list)):
        arrays = list(sample)
    else:
        arrays = [sample]
    if len(arrays) != len(specs):
        raise ValueError(f"{takes}; a sample has {len(arrays)} array(s)")
    named = {}
    for spec, array in zip(specs, arrays):
        array = np.asarray(array, dtype=spec.dtype.as_numpy_dtype)
        if not spec.shape.is_compatible_with(array.shape):
            raise ValueError(
                f"input '{spec.name}' of signature '{signature.name}' has shape {spec.shape}; "
                f"a sample has {array.shape}"
            )
        named[spec.name] = array
    return named


def _random_array(spec: tf.TensorSpec, rng: np.random.Generator) -> np.ndarray:
    dynamic = [RANDOM_BATCH] + [RANDOM_LENGTH] * max(len(spec.shape) - 1, 0)
    shape = [d if d is not None else default for d, default in zip(spec.shape, dynamic)]
    dtype = spec.dtype.as_numpy_dtype
    if spec.dtype.is_floating:
        return rng.standard_normal(shape).astype(dtype)
    if spec.dtype.is_integer:
        return rng.integers(0, RANDOM_INT_HIGH, shape).astype(dtype)
    if spec.dtype.is_bool:
        return rng.random(shape) < 0.5
    raise ExportError(
        f"cannot draw random inputs for '{spec.name}' ({spec.dtype.name}); pass data for the parity check"
    )


def _compare(signature, reference_fn, exported_fn, samples, tolerance) -> list[OutputParity]:
    """Per output over ``samples``: worst ``|exported - keras|`` and ``|keras|`` on the elements
    finite on both sides, NaN/inf found on one side only, length differences (compared over
    the common part) and, for integer/boolean outputs, the fraction of elements that differ."""
    name = signature.name
    stats: dict[str, dict] = {}
    for inputs in samples:
        positional = [inputs[s.name] for s in signature.input_specs]
        expected = {k: v.numpy() for k, v in reference_fn(*positional).items()}
        actual = exported_fn(inputs)
        if set(actual) != set(expected):
            raise ExportError(
                f"signature '{name}': exported outputs {sorted(actual)} differ from Keras outputs {sorted(expected)}"
            )
        for key, value in expected.items():
            entry = stats.setdefault(key, {"error": 0.0, "scale": 0.0, "differ": [0, 0], "nonfinite": 0,
                                           "finite_reference": 0, "reference_size": 0, "length": 0,
                                           "length_ok": True, "discrete": value.dtype.kind in "iub"})
            _accumulate(entry, name, key, value, np.asarray(actual[key]), tolerance)
    parities = []
    for key in sorted(stats):
        entry = stats[key]
        mismatch = entry["differ"][0] / max(entry["differ"][1], 1) if entry["discrete"] else None
        parities.append(OutputParity(
            name, key, entry["error"], entry["scale"], tolerance.bound(entry["scale"]), mismatch,
            gated=not entry["discrete"] or tolerance.gate_discrete,
            nonfinite_differ=entry["nonfinite"],
            no_finite_reference=entry["reference_size"] > 0 and entry["finite_reference"] == 0,
            length_difference=entry["length"], length_ok=entry["length_ok"]))
    return parities


def _accumulate(entry: dict, signature: str, key: str, reference: np.ndarray, exported: np.ndarray,
                tolerance: Tolerance) -> None:
    """Adds one sample's comparison of output ``key`` to ``entry`` (see ``_compare``)."""
    if reference.ndim != exported.ndim:
        raise ExportError(f"signature '{signature}' output '{key}': Keras gives shape {reference.shape}, "
                          f"the exported model {exported.shape}")
    for axis, (want, got) in enumerate(zip(reference.shape, exported.shape)):
        if want != got:
            entry["length"] = max(entry["length"], abs(want - got))
            entry["length_ok"] = entry["length_ok"] and tolerance.length_ok(abs(want - got), want)
    common = tuple(slice(0, min(a, b)) for a, b in zip(reference.shape, exported.shape))
    reference = reference[common].astype(np.float64)
    exported = exported[common].astype(np.float64)
    finite_reference, finite_exported = np.isfinite(reference), np.isfinite(exported)
    both = finite_reference & finite_exported
    same_nonfinite = (reference == exported) | (np.isnan(reference) & np.isnan(exported))
    entry["nonfinite"] += int(np.count_nonzero(~both & ~same_nonfinite))  # NaN, +inf, -inf must agree
    entry["finite_reference"] += int(np.count_nonzero(finite_reference))
    entry["reference_size"] += reference.size
    diff = np.abs(exported[both] - reference[both])
    entry["error"] = max(entry["error"], float(diff.max(initial=0.0)))
    entry["scale"] = max(entry["scale"], float(np.abs(reference[both]).max(initial=0.0)))
    if entry["discrete"]:
        entry["differ"][0] += int(np.count_nonzero(diff))
        entry["differ"][1] += diff.size


def runner_settings_path(model_path: str | Path) -> Path:
    """Where ``tflite`` writes the model's settings for runners: ``<model>.json``."""
    return Path(model_path).with_suffix(".json")


def _write_runner_settings(model: keras.Model, model_path: Path) -> None:
    try:
        text = json.dumps({"class_name": type(model).__name__, "config": model.get_config()}, indent=1)
    except (TypeError, ValueError, NotImplementedError):  # a config with arrays or objects: no settings
        return
    atomic.write_file(runner_settings_path(model_path), text + "\n")


def _finish(report: ExportReport) -> ExportReport:
    if not report.passed:
        raise ParityError(report)
    return report


@cache
def _runner_class():
    """``LiteRTRunner`` from ``export/litert_runner.py`` (installed as ``tfspeech.runtime``).

    One file serves both sides: a device copies it, the parity check imports it, so
    the check runs the model exactly as a device would.
    """
    from tfspeech.runtime.litert_runner import LiteRTRunner

    return LiteRTRunner
