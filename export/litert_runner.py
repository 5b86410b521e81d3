"""Run an exported ``.tflite`` model with only ai-edge-litert and numpy, as a device does.

This file imports no TensorFlow and nothing from ``tfspeech``: copy it next to a
model on a phone, a Raspberry Pi or a server and run it there.
``tfspeech.export.tflite`` loads this same file for its parity check, so what the
check measured is what a device runs.

Python::

    runner = LiteRTRunner("model.tflite")
    print(runner)                              # signatures, inputs, outputs
    (mel,) = runner(ids)                       # default signature, positional inputs
    out = runner.run_signature("step", state=s, frame=f)   # any signature, named inputs

Command line (``.npy`` in, ``.npy`` out)::

    python export/litert_runner.py model.tflite                  # describe the model
    python export/litert_runner.py model.tflite --input x.npy --output-dir out/
    python export/litert_runner.py model.tflite --signature step \\
        --input state=s.npy --input frame=f.npy --output-dir out/

Positional inputs follow the order of ``runner.inputs`` (for models with signatures
that is the signature's input names, sorted). Dynamic dimensions (``-1`` in a
tensor's shape) take the size of the array given. Float arrays fed to an integer
tensor that carries a quantization scale are quantized; quantized integer outputs
come back as float32 (``dequantize=False`` keeps the raw integers).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter


@dataclass(frozen=True)
class TensorInfo:
    """One input or output: ``shape`` has -1 for dynamic dims; scale 0 = not quantized."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @classmethod
    def from_details(cls, name: str, details: dict) -> TensorInfo:
        scale, zero_point = details["quantization"]
        return cls(
            name=name,
            index=int(details["index"]),
            shape=tuple(int(d) for d in details["shape_signature"]),
            dtype=np.dtype(details["dtype"]),
            scale=float(scale),
            zero_point=int(zero_point),
        )

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and np.issubdtype(self.dtype, np.integer)

    def __str__(self) -> str:
        quant = f" (quantized: scale {self.scale:g}, zero point {self.zero_point})" if self.quantized else ""
        return f"{self.name}: {self.dtype.name}{list(self.shape)}{quant}"

    def prepare(self, array) -> np.ndarray:
        """``array`` checked against this tensor's shape and converted to its dtype."""
        array = np.asarray(array)
        if len(array.shape) != len(self.shape) or any(
            want not in (-1, got) for want, got in zip(self.shape, array.shape)
        ):
            raise ValueError(
                f"input '{self.name}' expects shape {list(self.shape)} (-1 = any size), "
                f"got an array of shape {list(array.shape)}"
            )
        if self.quantized and np.issubdtype(array.dtype, np.floating):
            info = np.iinfo(self.dtype)
            quantized = np.round(array / self.scale) + self.zero_point
            return np.clip(quantized, info.min, info.max).astype(self.dtype)
        if not np.can_cast(array.dtype, self.dtype, casting="same_kind"):
            raise ValueError(
                f"input '{self.name}' holds {self.dtype.name} values; got {array.dtype.name} "
                f"(convert the array, e.g. array.astype(np.{self.dtype.name}))"
            )
        return array.astype(self.dtype, copy=False)

    def dequantize(self, array: np.ndarray) -> np.ndarray:
        """A quantized integer output as float32 (``scale * (q - zero_point)``); others unchanged."""
        if not self.quantized:
            return array
        return (self.scale * (array.astype(np.float32) - self.zero_point)).astype(np.float32)


class LiteRTRunner:
    """A ``.tflite`` model with its signatures, callable on numpy arrays.

    Args:
        model_path: the ``.tflite`` file.
        num_threads: CPU threads for the interpreter (None: the runtime's default).
        dequantize: return quantized integer outputs as float32.
    """

    def __init__(self, model_path: str | Path, *, num_threads: int | None = None, dequantize: bool = True):
        self.path = Path(model_path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no TFLite model at {self.path}")
        self.dequantize = dequantize
        self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
        self.signature_names: list[str] = list(self._interpreter.get_signature_list())
        self._signature_runners: dict = {}
        self._allocated_shapes: list[tuple[int, ...]] | None = None

    @property
    def default_signature(self) -> str | None:
        """``serving_default`` if present, else the first signature; None for a model without any."""
        if not self.signature_names:
            return None
        return "serving_default" if "serving_default" in self.signature_names else self.signature_names[0]

    @property
    def inputs(self) -> list[TensorInfo]:
        """Inputs of the default signature, in positional order."""
        return self.input_details(self.default_signature)

    @property
    def outputs(self) -> list[TensorInfo]:
        """Outputs of the default signature, in the order ``__call__`` returns them."""
        return self.output_details(self.default_signature)

    def input_details(self, signature: str | None) -> list[TensorInfo]:
        if signature is None:
            return [TensorInfo.from_details(d["name"], d) for d in self._interpreter.get_input_details()]
        details = self._signature_runner(signature).get_input_details()
        return [TensorInfo.from_details(name, d) for name, d in details.items()]

    def output_details(self, signature: str | None) -> list[TensorInfo]:
        if signature is None:
            return [TensorInfo.from_details(d["name"], d) for d in self._interpreter.get_output_details()]
        details = self._signature_runner(signature).get_output_details()
        return [TensorInfo.from_details(name, d) for name, d in details.items()]

    def __call__(self, *arrays, signature: str | None = None) -> list[np.ndarray]:
        """Runs ``signature`` (default: ``default_signature``) on positional arrays; outputs in order."""
        signature = signature or self.default_signature
        inputs = self.input_details(signature)
        if len(arrays) != len(inputs):
            names = ", ".join(info.name for info in inputs)
            raise ValueError(f"the model takes {len(inputs)} input(s) ({names}); got {len(arrays)}")
        if signature is None:
            return self._run_without_signature(inputs, arrays)
        named = self.run_signature(signature, **{info.name: a for info, a in zip(inputs, arrays)})
        return list(named.values())

    def run_signature(self, name: str, **arrays) -> dict[str, np.ndarray]:
        """Runs signature ``name`` on inputs given by name; returns ``{output name: array}``."""
        inputs = {info.name: info for info in self.input_details(name)}
        if set(arrays) != set(inputs):
            raise ValueError(
                f"signature '{name}' takes inputs {sorted(inputs)}; got {sorted(arrays)}"
            )
        prepared = {key: inputs[key].prepare(value) for key, value in arrays.items()}
        raw = self._signature_runner(name)(**prepared)
        outputs = self.output_details(name)
        return {info.name: self._finish(info, raw[info.name]) for info in outputs}

    def _signature_runner(self, name: str):
        if name not in self.signature_names:
            raise KeyError(f"{self.path} has no signature '{name}'; it has {self.signature_names}")
        if name not in self._signature_runners:
            self._signature_runners[name] = self._interpreter.get_signature_runner(name)
        return self._signature_runners[name]

    def _run_without_signature(self, inputs: list[TensorInfo], arrays) -> list[np.ndarray]:
        prepared = [info.prepare(a) for info, a in zip(inputs, arrays)]
        shapes = [p.shape for p in prepared]
        if shapes != self._allocated_shapes:
            for info, shape in zip(inputs, shapes):
                self._interpreter.resize_tensor_input(info.index, shape, strict=True)
            self._interpreter.allocate_tensors()
            self._allocated_shapes = shapes
        for info, array in zip(inputs, prepared):
            self._interpreter.set_tensor(info.index, array)
        self._interpreter.invoke()
        return [self._finish(info, self._interpreter.get_tensor(info.index)) for info in self.output_details(None)]

    def _finish(self, info: TensorInfo, array: np.ndarray) -> np.ndarray:
        return info.dequantize(array) if self.dequantize else array

    def __str__(self) -> str:
        lines = [f"{self.path} ({self.path.stat().st_size:,} bytes)"]
        for signature in self.signature_names or [None]:
            lines.append(f"signature {signature}:" if signature else "no signatures (flat graph):")
            lines += [f"  in  {info}" for info in self.input_details(signature)]
            lines += [f"  out {info}" for info in self.output_details(signature)]
        return "\n".join(lines)


def _bind_inputs(specs: list[str], names: list[str]) -> list[str] | dict[str, str]:
    """``--input`` values as a positional list of files, or a ``{name: file}`` dict if all are named."""
    named = [s for s in specs if "=" in s]
    if not named:
        return specs
    if len(named) != len(specs):
        raise ValueError("--input: give all inputs as NAME=FILE.npy or none (positional)")
    bound = dict(s.split("=", 1) for s in specs)
    unknown = sorted(set(bound) - set(names))
    if unknown:
        raise ValueError(f"--input: unknown input name(s) {unknown}; the model's inputs are {names}")
    return bound


def main(argv: list[str] | None = None) -> int:
    """The command line; a wrong model, input file, input name or shape is one line, exit 2."""
    try:
        return _main(argv)
    except (ValueError, KeyError, OSError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"litert_runner: error: {message}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description="Run a .tflite model on .npy inputs with ai-edge-litert only.")
    parser.add_argument("model", help="the .tflite file")
    parser.add_argument("--input", action="append", default=[], metavar="[NAME=]FILE.npy",
                        help="one input array; repeat for each input (positional order, or NAME=FILE)")
    parser.add_argument("--signature", help="signature to run (default: serving_default or the first)")
    parser.add_argument("--output-dir", type=Path, help="where to write <output name>.npy (required with --input)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads")
    args = parser.parse_args(argv)

    runner = LiteRTRunner(args.model, num_threads=args.threads)
    if not args.input:
        print(runner)
        return 0
    if args.output_dir is None:
        parser.error("--output-dir is required with --input")
    signature = args.signature or runner.default_signature
    names = [info.name for info in runner.input_details(signature)]
    bound = _bind_inputs(args.input, names)
    if isinstance(bound, dict):
        outputs = runner.run_signature(signature, **{k: np.load(v) for k, v in bound.items()})
    else:
        arrays = runner(*[np.load(f) for f in bound], signature=signature)
        out_names = [info.name for info in runner.output_details(signature)]
        if signature is None:
            out_names = [f"output_{i}" for i in range(len(arrays))]
        outputs = dict(zip(out_names, arrays))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name, array in outputs.items():
        path = args.output_dir / f"{name.replace('/', '_').replace(':', '_')}.npy"
        np.save(path, array)
        print(f"{path}: {array.dtype.name}{list(array.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
