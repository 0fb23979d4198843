import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from ganport.core.errors import InputError
from ganport.core.images import read_idx
from ganport.train import load_dataset
from tests.conftest import FASHION_MNIST


def test_mnist5k_is_the_real_digits(mnist5k_28):
    data = mnist5k_28
    assert data.images.shape == (5000, 1, 28, 28)
    assert data.images.min() == -1.0 and data.images.max() == 1.0
    assert sorted(set(data.labels.tolist())) == list(range(10))
    # Real digits: ink is sparse (most pixels are background) but every image has some.
    ink = (data.images > 0).float().mean(dim=(1, 2, 3))
    assert 0.05 < ink.mean().item() < 0.3 and ink.min().item() > 0


def test_digits_are_resized():
    data = load_dataset("digits", 16)
    assert data.images.shape == (1797, 1, 16, 16)
    assert -1.0 <= data.images.min() < -0.99 and data.images.max() > 0.9


@pytest.mark.skipif(
    not FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist not installed"
)
def test_idx_loader_reads_real_fashion_mnist():
    data = load_dataset(str(FASHION_MNIST), 28)
    assert data.images.shape == (60000, 1, 28, 28)
    assert data.labels.shape == (60000,)
    assert np.bincount(data.labels.numpy()).tolist() == [6000] * 10
    labels = read_idx(FASHION_MNIST / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,)


def _idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_folder_plain_and_gzipped_detected_by_bytes(tmp_path, gzipped):
    pixels = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    labels = np.arange(20) % 10
    images_raw, labels_raw = _idx_bytes(pixels, 0x803), _idx_bytes(labels, 0x801)
    if gzipped:
        images_raw, labels_raw = gzip.compress(images_raw), gzip.compress(labels_raw)
    # Plain names even when gzipped: the loader looks at the bytes, not the suffix.
    (tmp_path / "train-images-idx3-ubyte").write_bytes(images_raw)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels_raw)
    data = load_dataset(str(tmp_path), 28)
    np.testing.assert_array_equal(((data.images[:, 0].numpy() + 1) * 127.5).round(), pixels)
    assert data.labels.tolist() == labels.tolist()


def test_truncated_idx_is_a_clear_error(tmp_path):
    raw = _idx_bytes(np.zeros((4, 28, 28)), 0x803)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw[:-10])
    with pytest.raises(InputError, match="truncated"):
        load_dataset(str(tmp_path), 28)


def test_wrong_magic_is_a_clear_error(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x09\x99" + b"\x00" * 20)
    with pytest.raises(InputError, match="not an MNIST IDX file"):
        load_dataset(str(tmp_path), 28)


def test_npy_and_npz(tmp_path):
    rng = np.random.default_rng(1)
    uint8 = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    np.save(tmp_path / "a.npy", uint8)
    data = load_dataset(str(tmp_path / "a.npy"), 32, channels=3)
    assert data.images.shape == (10, 3, 32, 32)
    np.testing.assert_allclose(
        data.images.numpy(), uint8.transpose(0, 3, 1, 2) / 127.5 - 1, atol=1e-6
    )
    np.savez(tmp_path / "b.npz", images=rng.uniform(-1, 1, (6, 1, 28, 28)), labels=np.arange(6))
    assert load_dataset(str(tmp_path / "b.npz"), 14).images.shape == (6, 1, 14, 14)


def test_image_folder(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((40, 40, 3), 60 * i, np.uint8)).save(tmp_path / f"{i}.png")
    data = load_dataset(str(tmp_path), 32, channels=1)
    assert data.images.shape == (3, 1, 32, 32)
    assert data.images[2].mean().item() == pytest.approx(120 / 127.5 - 1, abs=0.01)


def test_bad_paths_and_formats(tmp_path):
    with pytest.raises(InputError, match="neither a built-in data set"):
        load_dataset(str(tmp_path / "missing"), 28)
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(InputError, match=r"not a readable \.npy"):
        load_dataset(str(tmp_path / "junk.npy"), 28)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="unsupported data file"):
        load_dataset(str(tmp_path / "notes.txt"), 28)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"no \.png"):
        load_dataset(str(empty), 28)
