"""Every file reader behind ``ganport score`` (arrays, images, IDX), given any file."""

from __future__ import annotations

import gzip
import io
import json
import struct

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from tests.property.helpers import ganport

REPORT = b'{"old": "report"}\n'

DTYPES = st.one_of(
    hnp.integer_dtypes(),
    hnp.unsigned_integer_dtypes(),
    hnp.floating_dtypes(),
    hnp.complex_number_dtypes(),
    hnp.boolean_dtypes(),
    hnp.datetime64_dtypes(),
    hnp.byte_string_dtypes(max_len=3),
)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=7)


def _score(capsys, model, path, tmp_path, **kw):
    report = tmp_path / "report.json"
    report.write_bytes(REPORT)
    code, out, _ = ganport(
        capsys, "score", model, path, "--json", report, outputs=(report,), names=(path.name,), **kw
    )
    if code == 0:
        data = json.loads(report.read_text())
        assert data["count"] == len(data["scores"]) >= 1
        assert all(0.0 <= s["probability"] <= 1.0 for s in data["scores"])
        assert out.count("p(real)") == data["count"] + 1
    return code, report


@given(
    array=hnp.arrays(DTYPES, SHAPES, elements={"allow_nan": True, "allow_infinity": True}),
    container=st.sampled_from(["npy", "npz-images", "npz-other", "npz-two", "fortran", "slice"]),
    rgb=st.booleans(),
)
def test_score_reads_any_array(capsys, tmp_path, tiny, array, container, rgb):
    path = tmp_path / ("x.npy" if container in ("npy", "fortran", "slice") else "x.npz")
    if container == "npy":
        np.save(path, array)
    elif container == "fortran":
        np.save(path, np.asfortranarray(array))
    elif container == "slice":
        np.save(path, array[..., ::2] if array.ndim else array)
    elif container == "npz-images":
        np.savez(path, images=array)
    elif container == "npz-other":
        np.savez(path, anything=array)
    else:
        np.savez(path, a=array, b=array)
    code, _ = _score(capsys, tiny["d3" if rgb else "d1"], path, tmp_path)
    if container == "npz-two" or array.ndim < 3 or array.size == 0:
        assert code == 2


@given(array=hnp.arrays(np.float32, hnp.array_shapes(min_dims=3, max_dims=4, max_side=6)))
def test_object_arrays_are_refused(capsys, tmp_path, tiny, array):
    path = tmp_path / "objects.npy"
    np.save(path, array.astype(object), allow_pickle=True)
    assert _score(capsys, tiny["d1"], path, tmp_path)[0] == 2


MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK", "YCbCr", "La", "RGBa"]


@given(
    mode=st.sampled_from(MODES),
    size=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    fmt=st.sampled_from(["PNG", "JPEG", "GIF", "TIFF", "BMP"]),
    cut=st.none() | st.floats(0, 1, exclude_max=True),
    seed=st.integers(0, 3),
    rgb=st.booleans(),
)
def test_score_reads_any_image(capsys, tmp_path, tiny, mode, size, fmt, cut, seed, rgb):
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)
    image = Image.fromarray(pixels, "RGB").convert(mode)
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=fmt)
    except (OSError, ValueError, KeyError):
        assume(False)  # Pillow cannot write this mode in this format
    data = buffer.getvalue()
    if cut is not None:
        data = data[: int(len(data) * cut)]
    path = tmp_path / ("image.jpg" if fmt == "JPEG" else "image.png")  # the name says PNG/JPEG
    path.write_bytes(data)
    code, _ = _score(capsys, tiny["d3" if rgb else "d1"], path, tmp_path)
    if cut is not None and cut < 0.5:
        assert code == 2


@given(
    magic=st.sampled_from([2051, 2049, 0, 2052, 0xFFFFFFFF]),
    ndim=st.integers(0, 5),
    dims=st.lists(st.integers(0, 9), min_size=0, max_size=5),
    extra=st.integers(-5, 5),
    gz=st.booleans(),
    cut_gzip=st.booleans(),
)
def test_score_reads_any_idx(capsys, tmp_path, tiny, magic, ndim, dims, extra, gz, cut_gzip):
    header = (
        struct.pack(">I", magic)[:3] + bytes([ndim]) + b"".join(struct.pack(">I", d) for d in dims)
    )
    body = bytes(np.random.default_rng(0).integers(0, 256, max(0, int(np.prod(dims)) + extra)))
    data = header + body
    if gz:
        data = gzip.compress(data)
        if cut_gzip:
            data = data[: len(data) // 2]
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(data)
    _score(capsys, tiny["d1"], path, tmp_path)


@given(data=st.binary(max_size=300), suffix=st.sampled_from([".npy", ".npz", ".png", ".jpg", ""]))
def test_score_reads_random_bytes(capsys, tmp_path, tiny, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    assert _score(capsys, tiny["d1"], path, tmp_path)[0] == 2
