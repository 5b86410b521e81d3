"""PNG pictures of attention alignments and spectrograms (TensorBoard images, ``synthesize --plot``).

Drawn with matplotlib's object API on an Agg canvas: no display, no global pyplot state.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def matrix_png(matrices, titles=None, xlabel: str = "", ylabel: str = "") -> bytes:
    """PNG bytes of one or more 2-D arrays drawn as images, one panel each (rows on the y axis).

    For an alignment ``(decoder steps, text)`` pass its transpose so text runs upwards and
    time to the right, the usual picture.
    """
    matrices = [np.asarray(m, dtype=np.float32) for m in (matrices if isinstance(matrices, (list, tuple))
                                                           else [matrices])]
    for matrix in matrices:
        if matrix.ndim != 2:
            raise ValueError(f"expected 2-D arrays to draw, got shape {matrix.shape}")
    titles = list(titles) if titles is not None else [""] * len(matrices)
    figure = Figure(figsize=(8, 2.6 * len(matrices)), layout="constrained")
    FigureCanvasAgg(figure)
    for index, (matrix, title) in enumerate(zip(matrices, titles)):
        axes = figure.add_subplot(len(matrices), 1, index + 1)
        image = axes.imshow(matrix, aspect="auto", origin="lower", interpolation="none")
        figure.colorbar(image, ax=axes)
        axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def save_alignment_plot(alignments, path: str | Path, titles=None) -> Path:
    """Writes the ``(decoder steps, text)`` alignments (one per sentence) as a PNG; returns the path."""
    path = Path(path)
    path.write_bytes(matrix_png([np.asarray(a).T for a in alignments], titles, "decoder step", "text position"))
    return path
