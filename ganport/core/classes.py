"""Which class a class-conditional generator draws: a function of the latent's first entry.

A conditional generator keeps the one-input contract ``z → image``: its class is read
from ``z[:, 0]``, cut into ``K`` bins of equal probability under N(0, 1). So the latent
convention still decides every sample, classes come out equally often without anyone
choosing them, and a runtime that wants class ``k`` only moves ``z[:, 0]`` into bin ``k``
(``latent_of_class``). numpy and the standard library only: torch (train/) and ONNX
Runtime (infer/) users share this one rule.

A model may instead give each class its own probability, ``shares`` (summing to 1): the
k-means modes of unlabelled data come out as often as their clusters hold images, so G
draws each kind of image as often as the data does. Edge i is then the N(0, 1) quantile
of the first i shares' sum (added in order, in float64, as the browser's port does).

z[:, 0] is read in float32 against float32 edges, in every export: an fp16 export keeps
this small subgraph in float32 (reading the float32 input before any cast), so the fp32
and fp16 models pick the same class for every z bit pattern, and no graph holds a float16
Cast pair that an optimiser or a browser backend could drop or refuse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from ganport.core.errors import InputError

_NORMAL = NormalDist()


def class_edges(classes: int, shares: Sequence[float] | None = None) -> np.ndarray:
    """The ``classes - 1`` bin edges of z[:, 0], float32: N(0, 1) quantiles i / classes, or
    of the running sums of ``shares``.

    An edge nearer zero than the smallest normal float32 (the median edge of an even class
    count is exactly 0) moves to that smallest normal: GPUs flush subnormal numbers to
    zero, and with the edge at 0 a subnormal z[:, 0] would draw one class on the CPU and
    another on a GPU. This way every subnormal lies below its edge everywhere.
    """
    if classes < 2:
        raise InputError(f"a class-conditional model needs at least 2 classes, not {classes}")
    lower, _ = _bins(classes, shares)
    edges = np.array([_NORMAL.inv_cdf(q) for q in lower[1:]], np.float32)
    tiny = np.finfo(np.float32).tiny
    return np.where(np.abs(edges) < tiny, tiny, edges).astype(np.float32)


def check_shares(classes: int, shares: Sequence[float] | None, source: str = "model") -> None:
    """``shares``, when given, are ``classes`` positive probabilities summing to 1."""
    if shares is None:
        return
    if len(shares) != classes:
        raise InputError(f"{source}: {len(shares)} class shares for {classes} classes")
    if not all(isinstance(s, float | int) and 0 < s < 1 for s in shares):
        raise InputError(f"{source}: class shares must lie strictly between 0 and 1")
    if abs(math.fsum(shares) - 1) > 1e-6:
        raise InputError(f"{source}: class shares sum to {math.fsum(shares):.6f}, not 1")


def _bins(classes: int, shares: Sequence[float] | None) -> tuple[list[float], list[float]]:
    """Each class's lower cumulative probability and its width (its share)."""
    if shares is None:
        return [i / classes for i in range(classes)], [1 / classes] * classes
    check_shares(classes, shares)
    lower, total = [], 0.0
    for share in shares:
        lower.append(total)
        total += share
    return lower, [float(s) for s in shares]


def class_of_latent(
    z: np.ndarray, classes: int, shares: Sequence[float] | None = None
) -> np.ndarray:
    """The class (int64, one per row) each latent row selects: the number of edges that
    z[:, 0] (float32) exceeds."""
    first = np.asarray(z, np.float32)[:, :1]
    return (first > class_edges(classes, shares)).sum(axis=1).astype(np.int64)


def labels_for(
    z: np.ndarray,
    classes: int,
    label: int | None = None,
    shares: Sequence[float] | None = None,
) -> np.ndarray:
    """The ``labels`` input (int64, one per row) of a model that takes its class as an input.

    ``label`` for every row when asked; otherwise the class z[:, 0] selects (with the
    model's class ``shares``), the rule of ganport's own conditional models, so row i of a
    seed has one class in either form.
    """
    if label is None:
        return class_of_latent(z, classes, shares)
    if not 0 <= label < classes:
        raise InputError(f"class must be between 0 and {classes - 1}, not {label}")
    return np.full(len(z), label, np.int64)


def latent_of_class(
    z: np.ndarray, classes: int, label: int, shares: Sequence[float] | None = None
) -> np.ndarray:
    """``z`` with z[:, 0] moved into bin ``label``, at the same quantile within the bin.

    Row i keeps all its other entries, so ``--class k`` samples of a seed differ from the
    plain ones only in class; z[:, 0] stays normally distributed within the bin.
    """
    if not 0 <= label < classes:
        raise InputError(f"class must be between 0 and {classes - 1}, not {label}")
    z = np.array(z, dtype=np.float32)
    lower, width = _bins(classes, shares)
    quantile = np.array([_NORMAL.cdf(float(v)) for v in z[:, 0]])
    quantile = np.clip(quantile, 1e-6, 1 - 1e-6)
    if shares is None:  # the equal bins' own arithmetic, bit for bit as before shares
        target = (label + quantile) / classes
    else:
        target = lower[label] + quantile * width[label]
    z[:, 0] = [_NORMAL.inv_cdf(float(q)) for q in target]
    # Clip into the bin (edges[label - 1], edges[label]]; clipping keeps the order.
    edges = class_edges(classes, shares)
    if label > 0:
        z[:, 0] = np.maximum(z[:, 0], np.nextafter(edges[label - 1], np.float32(np.inf)))
    if label < classes - 1:
        z[:, 0] = np.minimum(z[:, 0], edges[label])
    return z


def edge_latent(z: np.ndarray, classes: int, shares: Sequence[float] | None = None) -> np.ndarray:
    """``z`` with z[:, 0] on and just beside the class edges (cycling over the rows).

    The edges, their float32 neighbours, and their float16 neighbours: where a runtime
    that reads z[:, 0] at another precision (a float16 cast, a dropped cast) draws another
    class. Parity's and the compatibility matrix's hardest inputs for the class rule.
    """
    edges = class_edges(classes, shares)
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
