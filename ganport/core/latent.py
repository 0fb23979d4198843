"""The latent convention in numpy alone, streamed: row i of a seed's z is sample i.

``default_rng(seed).standard_normal((n, nz), float32)`` fills its rows one after the
other, so drawing consecutive (batch, nz) chunks from one generator yields exactly the
rows of the single big draw. That lets 100,000 samples stream in bounded memory and
keeps every row independent of the batch size (tests/core/test_latent.py checks both).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ganport.core.errors import InputError

# Mixed into per-row seeds so truncation redraws never reuse the main z stream.
_TRUNCATION_STREAM = 0x7472756E
# Below this threshold almost every entry is redrawn over and over (about 1 / (0.8 T)
# draws each): a job that never ends rather than an answer.
MIN_TRUNCATION = 0.01


def latent(n: int, nz: int, seed: int, truncation: float | None = None) -> np.ndarray:
    """All of z for ``n`` samples of ``seed`` at once (small n; stream large n)."""
    return np.concatenate(list(latent_batches(n, nz, seed, n, truncation)))


def latent_batches(
    n: int, nz: int, seed: int, batch_size: int, truncation: float | None = None
) -> Iterator[np.ndarray]:
    """z for ``n`` samples of ``seed`` in consecutive (≤ batch_size, nz) chunks.

    Arguments are checked here, at the call, not at the first ``next()``.
    """
    _check(n, seed, batch_size, truncation)
    return _draw(n, nz, seed, batch_size, truncation)


def _draw(
    n: int, nz: int, seed: int, batch_size: int, truncation: float | None
) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    for start in range(0, n, batch_size):
        z = rng.standard_normal((min(batch_size, n - start), nz), dtype=np.float32)
        yield z if truncation is None else truncate(z, truncation, seed, start)


def truncate(z: np.ndarray, threshold: float, seed: int, first_row: int = 0) -> np.ndarray:
    """The truncation trick: redraw every entry with |z| > threshold until none is left.

    Redraws come from a generator seeded by (seed, row index) alone, so a row's
    truncated z is the same whatever batch it is drawn in. Entries already within the
    threshold are kept, so a large threshold changes nothing.
    """
    z = z.copy()
    for row in np.flatnonzero((np.abs(z) > threshold).any(axis=1)):
        rng = np.random.default_rng((seed, _TRUNCATION_STREAM, first_row + int(row)))
        values = z[row]
        outside = np.abs(values) > threshold
        while outside.any():
            values[outside] = rng.standard_normal(int(outside.sum()), dtype=np.float32)
            outside = np.abs(values) > threshold
    return z


def slerp(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` points from ``a`` to ``b`` along the great circle (spherical interpolation).

    Gaussian latents concentrate near a sphere; a straight line between two of them
    passes through low-norm z the generator rarely saw, so interpolate on the arc.
    Falls back to a straight line when a and b are (anti)parallel.
    """
    if steps < 2:
        raise InputError(f"interpolation needs at least 2 steps, not {steps}")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    cos = np.dot(a64, b64) / (np.linalg.norm(a64) * np.linalg.norm(b64))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return ((1 - t) * a64 + t * b64).astype(np.float32)
    weights_a = np.sin((1 - t) * omega) / np.sin(omega)
    weights_b = np.sin(t * omega) / np.sin(omega)
    return (weights_a * a64 + weights_b * b64).astype(np.float32)


def _check(n: int, seed: int, batch_size: int, truncation: float | None) -> None:
    if n < 1:
        raise InputError(f"number of samples must be at least 1, not {n}")
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, not {batch_size}")
    if seed < 0:
        raise InputError(f"seed must be a non-negative integer, not {seed}")
    if truncation is not None and not truncation > 0:
        raise InputError(f"truncation threshold must be positive, not {truncation}")
    if truncation is not None and truncation < MIN_TRUNCATION:
        raise InputError(
            f"truncation threshold {truncation} is below {MIN_TRUNCATION}: nearly every latent "
            "value would be redrawn without end"
        )
