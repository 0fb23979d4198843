"""Which real data a feature network belongs to: the data set's fingerprint, its seeded
split and the cache file named after it.

A feature network (``feature_net``) is reused only on the data it was trained on: the same
images and labels (``data_fingerprint``), image size and channels, and the same split of
them into its training images and the held-out ones. Plain numpy and hashing: no torch.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganport.core.errors import InputError

if TYPE_CHECKING:
    from ganport.infer.quality.feature_net import TrainedFeatureNet
    from ganport.train.data import Dataset

RECIPE_VERSION = 1  # part of the cache key: a changed recipe retrains instead of reusing
TEST_SIZE = 1000  # held-out images (at most a fifth of a small data set)


def split_indices(n_images: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split: ``TEST_SIZE`` held-out images (a fifth of a small set), the rest train."""
    test = min(TEST_SIZE, n_images // 5)
    order = np.random.default_rng(seed).permutation(n_images)
    return np.sort(order[test:]), np.sort(order[:test])


def data_fingerprint(dataset: Dataset) -> str:
    """sha256 of the images and labels: a cached network is reused only on the same data."""
    digest = hashlib.sha256(dataset.images.numpy().tobytes())
    if dataset.labels is not None:
        digest.update(dataset.labels.numpy().tobytes())
    return digest.hexdigest()


def cache_path(dataset: Dataset, seed: int, cache_dir: str | os.PathLike[str]) -> Path:
    """``<cache_dir>/<data>_<size>px_<channels>ch_seed<seed>_v<recipe>.pt``.

    A path-named data set gets its folder name plus a hash of its resolved path, so two
    folders called ``data`` do not share a network.
    """
    _, channels, size, _ = dataset.images.shape
    name = dataset.name
    from ganport.train.data import BUILTIN

    if name not in BUILTIN:
        resolved = str(Path(name).resolve())
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(resolved).name or "data")
        name = f"{stem}-{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"
    return Path(cache_dir) / f"{name}_{size}px_{channels}ch_seed{seed}_v{RECIPE_VERSION}.pt"


def default_cache_dir() -> Path:
    """Where feature networks are kept: the user's cache folder (XDG), never the working
    folder, so an installed CLI leaves nothing behind wherever it runs."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ganport" / "feature_nets"


def check_same_data(net: TrainedFeatureNet, dataset: Dataset) -> None:
    """Refuse a data set the network (and its split) was not trained on."""
    _, channels, size, _ = dataset.images.shape
    if (
        (channels, size) != (net.channels, net.image_size)
        or len(dataset) != net.n_images
        or data_fingerprint(dataset) != net.data_sha256
    ):
        raise InputError(
            f"the feature network {net.path or ''} was trained on {net.dataset!r} "
            f"({net.n_images} images, {net.image_size}px, {net.channels} channel(s)), "
            f"not on this {dataset.name!r} ({len(dataset)} images, {size}px, {channels})"
        )
