"""Image and array files, in numpy only (no torch), so that training and the
torch-free runtime read and write pixels the same way.

Pixel convention (DESIGN.md): models see float32 in [-1, 1]; files hold uint8, and
the mapping is ``clip(round((x + 1) * 127.5), 0, 255)``.
"""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ganport.core.atomic import atomic_path
from ganport.core.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IDX_IMAGE_MAGIC = 2051
IDX_LABEL_MAGIC = 2049


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Map model output in [-1, 1] to uint8 pixels, the one way ganport does it."""
    return np.clip(np.rint((np.asarray(images, dtype=np.float32) + 1.0) * 127.5), 0, 255).astype(
        np.uint8
    )


def to_float(pixels: np.ndarray) -> np.ndarray:
    """Map uint8 pixels to float32 in [-1, 1]."""
    return (np.asarray(pixels, dtype=np.float32) / 127.5 - 1.0).astype(np.float32)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an MNIST-format IDX file (images: magic 2051, labels: 2049), gzipped or not.

    Gzip is recognised by its magic bytes, not the file name, so renamed files work.
    """
    path = Path(path)
    raw = _read_file(path)
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"{path}: corrupt gzip data ({exc})") from exc
    if len(raw) < 8:
        raise InputError(f"{path}: too short to be an IDX file")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (IDX_IMAGE_MAGIC, IDX_LABEL_MAGIC):
        raise InputError(
            f"{path}: not an MNIST IDX file (magic {magic}, expected {IDX_IMAGE_MAGIC} "
            f"for images or {IDX_LABEL_MAGIC} for labels)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape)
    if len(raw) - header != expected:
        raise InputError(
            f"{path}: IDX header announces {expected} bytes of data for shape {shape}, "
            f"file has {len(raw) - header} (truncated or corrupt)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def find_idx_pair(folder: str | os.PathLike[str]) -> tuple[Path, Path | None]:
    """Find ``train-images-idx3-ubyte[.gz]`` (and its labels, if present) in a folder."""
    folder = Path(folder)
    images = _first_existing(folder, "train-images-idx3-ubyte", "train-images.idx3-ubyte")
    if images is None:
        raise InputError(f"{folder}: no train-images-idx3-ubyte[.gz] file in this folder")
    labels = _first_existing(folder, "train-labels-idx1-ubyte", "train-labels.idx1-ubyte")
    return images, labels


def read_image_file(path: str | os.PathLike[str], channels: int) -> np.ndarray:
    """Read one PNG/JPEG as uint8 (H, W, channels), converting grey/colour as asked."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            array = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from exc
    array = array[:, :, None] if array.ndim == 2 else array
    if array.size == 0:
        raise InputError(f"{path}: the image has no pixels ({array.shape[1]}×{array.shape[0]})")
    return array


def read_image_folder(folder: str | os.PathLike[str], channels: int, size: int) -> np.ndarray:
    """Read every PNG/JPEG under a folder (sorted, recursively) as uint8 (N, C, size, size)."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{folder}: no .png/.jpg/.jpeg images in this folder")
    return np.stack([resize(read_image_file(f, channels), size) for f in files])


def read_array(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an .npy array, or the image array of an .npz archive, without unpickling anything.

    An .npz may hold one array, or several with one named ``images``, ``x`` or ``X``.
    """
    path = Path(path)
    _existing(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy's header parser raises ValueError, SyntaxError, TokenError...
        raise InputError(f"{path}: not a readable .npy/.npz array ({exc})") from exc
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        names = list(loaded.files)
        key = next((k for k in ("images", "x", "X") if k in names), None)
        if key is None and len(names) == 1:
            key = names[0]
        if key is None:
            raise InputError(
                f"{path}: .npz holds {names}; name the image array 'images', 'x' or 'X'"
            )
        try:
            return loaded[key]
        except Exception as exc:  # a corrupt member fails deep inside zipfile or numpy
            raise InputError(f"{path}: corrupt array {key!r} ({exc})") from exc


def array_to_nchw_uint8(array: np.ndarray, channels: int, source: str) -> np.ndarray:
    """Bring an image array to uint8 (N, C, H, W).

    Accepted layouts: (N, H, W), (N, H, W, C) and (N, C, H, W) with C in {1, 3}.
    Values: uint8 0..255; floats with negatives are taken as [-1, 1]; other floats
    as [0, 1] when their maximum is at most 1, else as 0..255.
    """
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[1] not in (1, 3) and array.shape[-1] in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise InputError(
            f"{source}: expected images shaped (N, H, W), (N, H, W, C) or (N, C, H, W), "
            f"got {array.shape}"
        )
    if array.size == 0:
        raise InputError(f"{source}: the image array is empty (shape {array.shape})")
    if array.dtype != np.uint8:
        if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise InputError(
                f"{source}: image array has dtype {array.dtype}; images are integers or floats"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            values = array.astype(np.float64)
        if not np.isfinite(values).all():
            raise InputError(f"{source}: image array holds NaN or Inf")
        if values.min() < 0:
            array = to_uint8(np.clip(values, -1.0, 1.0))
        elif values.max() <= 1.0:
            array = to_uint8(values * 2.0 - 1.0)
        else:
            array = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    if array.shape[1] != channels:
        array = (
            array.mean(axis=1, keepdims=True).round().astype(np.uint8)
            if channels == 1
            else (np.repeat(array, 3, axis=1))
        )
    return np.ascontiguousarray(array)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Resize one uint8 (H, W, C) image to (C, size, size); Pillow's antialiased bilinear filter."""
    if image.shape[0] == size and image.shape[1] == size:
        return np.ascontiguousarray(image.transpose(2, 0, 1))
    mode = "L" if image.shape[2] == 1 else "RGB"
    pil = Image.fromarray(image[:, :, 0] if mode == "L" else image, mode=mode)
    out = np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
    return out[None] if out.ndim == 2 else out.transpose(2, 0, 1)


def resize_batch(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 (N, C, H, W) images to (N, C, size, size)."""
    if images.shape[2] == size and images.shape[3] == size:
        return images
    return np.stack([resize(img.transpose(1, 2, 0), size) for img in images])


def make_grid(images: np.ndarray, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile float images (N, C, H, W) in [-1, 1] into one uint8 (H', W', C) picture."""
    images = to_uint8(images)
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    ncol = math.ceil(n / nrow)
    grid = np.zeros((padding + ncol * (h + padding), padding + nrow * (w + padding), c), np.uint8)
    for i, img in enumerate(images):
        r, col = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y : y + h, x : x + w] = img.transpose(1, 2, 0)
    return grid


def save_grid(images: np.ndarray, path: str | os.PathLike[str], nrow: int | None = None) -> Path:
    """Save float images (N, C, H, W) in [-1, 1] as one PNG grid, atomically."""
    grid = make_grid(images, nrow)
    pil = Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid)
    with atomic_path(path) as tmp:
        pil.save(tmp, format="PNG")
    return Path(path)


def _existing(path: Path) -> Path:
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    return path


def _read_file(path: Path) -> bytes:
    try:
        return _existing(path).read_bytes()
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a folder, expected a file") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _first_existing(folder: Path, *stems: str) -> Path | None:
    for stem in stems:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None
