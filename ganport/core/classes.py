"""Which class a class-conditional generator draws: a function of the latent's first entry.

A conditional generator keeps the one-input contract ``z → image``: its class is read
from ``z[:, 0]``, cut into ``K`` bins of equal probability under N(0, 1). So the latent
convention still decides every sample, classes come out equally often without anyone
choosing them, and a runtime that wants class ``k`` only moves ``z[:, 0]`` into bin ``k``
(``latent_of_class``). numpy and the standard library only: torch (train/) and ONNX
Runtime (infer/) users share this one rule.

z[:, 0] is read at float16 precision and the edges are float16 values, so a float16
export (whose graph rounds z on entry) picks exactly the class the float32 model picks;
rounding the edges moves each bin's probability by less than 1e-3.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from ganport.core.errors import InputError

_NORMAL = NormalDist()


def class_edges(classes: int) -> np.ndarray:
    """The ``classes - 1`` bin edges of z[:, 0]: N(0, 1) quantiles i / classes, rounded to
    float16 values (held as float32)."""
    if classes < 2:
        raise InputError(f"a class-conditional model needs at least 2 classes, not {classes}")
    quantiles = [_NORMAL.inv_cdf(i / classes) for i in range(1, classes)]
    return np.array(quantiles, np.float16).astype(np.float32)


def class_of_latent(z: np.ndarray, classes: int) -> np.ndarray:
    """The class (int64, one per row) each latent row selects: the number of edges that
    z[:, 0], rounded to float16, exceeds."""
    first = np.asarray(z, np.float32)[:, :1].astype(np.float16).astype(np.float32)
    return (first > class_edges(classes)).sum(axis=1).astype(np.int64)


def latent_of_class(z: np.ndarray, classes: int, label: int) -> np.ndarray:
    """``z`` with z[:, 0] moved into bin ``label``, at the same quantile within the bin.

    Row i keeps all its other entries, so ``--class k`` samples of a seed differ from the
    plain ones only in class; z[:, 0] stays normally distributed within the bin.
    """
    if not 0 <= label < classes:
        raise InputError(f"class must be between 0 and {classes - 1}, not {label}")
    z = np.array(z, dtype=np.float32)
    quantile = np.array([_NORMAL.cdf(float(v)) for v in z[:, 0]])
    target = (label + np.clip(quantile, 1e-6, 1 - 1e-6)) / classes
    z[:, 0] = [_NORMAL.inv_cdf(float(q)) for q in target]
    # Clip into the values whose float16 rounding lies in the bin (clipping keeps the order).
    edges = class_edges(classes)
    if label > 0:
        lowest = np.nextafter(edges[label - 1].astype(np.float16), np.float16(np.inf))
        z[:, 0] = np.maximum(z[:, 0], lowest.astype(np.float32))
    if label < classes - 1:
        z[:, 0] = np.minimum(z[:, 0], edges[label])
    return z


def edge_latent(z: np.ndarray, classes: int) -> np.ndarray:
    """``z`` with z[:, 0] on and just beside the class edges (cycling over the rows).

    Where a runtime that reads z[:, 0] at another precision, or compares without the
    float16 rounding, draws another class: parity's hardest inputs for the class rule.
    """
    edges = class_edges(classes)
    up, down = np.float32(np.inf), np.float32(-np.inf)
    half_up, half_down = np.float16(np.inf), np.float16(-np.inf)
    values = np.concatenate(
        [
            edges,
            np.nextafter(edges, up),
            np.nextafter(edges, down),
            np.nextafter(edges.astype(np.float16), half_up).astype(np.float32),
            np.nextafter(edges.astype(np.float16), half_down).astype(np.float32),
        ]
    )
    z = np.array(z, dtype=np.float32)
    z[:, 0] = np.resize(values, len(z))
    return z
