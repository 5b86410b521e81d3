"""Clear errors for bad inputs to a loaded zoo model: wrong shape, integers, NaN rows.

A preset may declare the input its model's ``call`` takes, ``preset.json``'s
``"input": {"shape": [null, 64], "dtype": "float32"}`` (``null``: any size), optionally
with a value ``"range": [low, high]`` and a ``"hint"`` saying how to get there.
``zoo.load`` then guards the model it returns (``guard``), without changing its class:

- ``model(x)`` / ``predict`` / ``fit``: integer or boolean arrays (e.g. pixel counts) are
  cast to the declared float dtype; an input of another rank or size raises ``ValueError``
  naming the declared shape, before any graph runs (never an ``InvalidArgumentError``
  from inside the model); so do in-memory values outside the declared range;
- ``model.fit(x)`` with in-memory data (numpy arrays, lists, tensors): rows holding NaN
  or inf raise ``ValueError`` listing them, instead of training a model whose weights turn
  to NaN. Data streamed through ``tf.data`` is checked for shape and dtype only.

Lazy: importing this module loads no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["InputContract", "guard"]


class InputContract:
    """The declared input of a model: ``shape`` (None = any size) and a float ``dtype``."""

    def __init__(self, shape: Sequence[int | None], dtype: str = "float32", model_name: str = "the model",
                 value_range: Sequence[float] | None = None, hint: str = ""):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = str(dtype)
        self.model_name = model_name
        self.value_range = None if value_range is None else (float(value_range[0]), float(value_range[1]))
        self.hint = hint

    @classmethod
    def from_preset(cls, entry: Mapping, model_name: str) -> InputContract:
        return cls(entry["shape"], entry.get("dtype", "float32"), model_name, entry.get("range"),
                   entry.get("hint", ""))

    def describe(self) -> str:
        dims = ", ".join("batch" if i == 0 and d is None else ("any" if d is None else str(d))
                         for i, d in enumerate(self.shape))
        return f"{self.dtype} ({dims})"

    def check(self, x):
        """``x`` cast to the dtype when it holds integers or booleans; raises ``ValueError``
        for another rank, another size where the shape fixes one, or non-numeric data."""
        import numpy as np
        import tensorflow as tf

        if tf.is_tensor(x):
            if x.dtype.is_integer or x.dtype == tf.bool:
                x = tf.cast(x, self.dtype)
            elif not x.dtype.is_floating:
                raise self._error(f"{x.dtype.name} values")
            shape = tuple(x.shape)
        else:
            array = np.asarray(x)
            if array.dtype.kind in "iub":
                array = array.astype(self.dtype)
            elif array.dtype.kind != "f":
                raise self._error(f"{array.dtype} values")
            x, shape = array, array.shape
            self._check_range(array)
        if len(shape) != len(self.shape) or any(
                want is not None and got is not None and want != got for want, got in zip(self.shape, shape)):
            raise self._error(f"shape {tuple(shape)}")
        return x

    def _check_range(self, array) -> None:
        import numpy as np

        if self.value_range is None or array.size == 0:
            return
        finite = array[np.isfinite(array)]
        low, high = self.value_range
        if finite.size and (finite.min() < low or finite.max() > high):
            hint = f" {self.hint}" if self.hint else ""
            raise ValueError(f"{self.model_name} takes values in [{low:g}, {high:g}]; got values from "
                             f"{finite.min():g} to {finite.max():g}.{hint}")

    def check_finite(self, x) -> None:
        """Raises ``ValueError`` naming the rows of in-memory ``x`` that hold NaN or inf."""
        import numpy as np

        array = np.asarray(x, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).all(axis=1)) if array.ndim else []
        if len(bad):
            shown = ", ".join(map(str, bad[:10])) + (", ..." if len(bad) > 10 else "")
            raise ValueError(f"{self.model_name} cannot learn from NaN or inf: {len(bad)} row(s) of x hold them "
                             f"(rows {shown}); drop or impute those rows before fit")

    def _error(self, got: str) -> ValueError:
        return ValueError(f"{self.model_name} takes {self.describe()} inputs; got {got}. "
                          "Reshape or convert the data (integers are cast to float automatically).")


def guard(model, contract: InputContract) -> None:
    """Wraps ``model``'s ``call`` and ``fit`` (on this instance only) with ``contract``."""
    call, fit = model.call, model.fit

    def checked_call(inputs, *args, **kwargs):
        return call(contract.check(inputs), *args, **kwargs)

    def checked_fit(x=None, *args, **kwargs):
        if x is not None and not _streamed(x):
            x = contract.check(x)
            contract.check_finite(x)
        return fit(x, *args, **kwargs)

    checked_call.__doc__, checked_fit.__doc__ = call.__doc__, fit.__doc__
    model.call, model.fit = checked_call, checked_fit
    model.input_contract = contract


def _streamed(x) -> bool:
    """Data Keras reads batch by batch (tf.data, generators, PyDataset): not checked up front."""
    import numpy as np

    return not (isinstance(x, (np.ndarray, list, tuple)) or hasattr(x, "__array__") or _is_tensor(x))


def _is_tensor(x) -> bool:
    import tensorflow as tf

    return tf.is_tensor(x)
