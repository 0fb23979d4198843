"""The latent convention every stage shares (DESIGN.md): row i of a seed's z is sample i."""

from __future__ import annotations

import numpy as np


def latent(n: int, nz: int, seed: int) -> np.ndarray:
    """z for ``n`` samples of ``seed``: ``default_rng(seed).standard_normal((n, nz), float32)``."""
    return np.random.default_rng(seed).standard_normal((n, nz), dtype=np.float32)
