"""ONNX files given to ``ganport sample`` and ``ganport score``: random, truncated and
bit-flipped bytes, and valid models that break the contract or carry bad metadata."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto

from tests.property.helpers import ganport, tiny_model

OUT = b"old grid"


def _sample(capsys, tmp_path, model, *extra):
    npy, grid = tmp_path / "out.npy", tmp_path / "out.png"
    npy.write_bytes(OUT)
    grid.write_bytes(OUT)
    code, _, _ = ganport(
        capsys,
        "sample",
        model,
        "-n",
        3,
        "--npy",
        npy,
        "--out",
        grid,
        *extra,
        outputs=(npy, grid),
        names=(model.name, str(model)),
    )
    return code, npy


@given(
    how=st.sampled_from(["random", "truncate", "flip", "append"]),
    data=st.binary(min_size=1, max_size=400),
    where=st.floats(0, 1, exclude_max=True),
    role=st.sampled_from(["generator", "discriminator"]),
)
def test_damaged_onnx_bytes(capsys, tmp_path, tiny, how, data, where, role):
    seed = tiny["g" if role == "generator" else "d1"].read_bytes()
    cut = int(len(seed) * where)
    if how == "random":
        blob = data
    elif how == "truncate":
        blob = seed[:cut]
    elif how == "flip":
        blob = bytearray(seed)
        for i, byte in enumerate(data[:8]):
            blob[(cut + i * 997) % len(blob)] ^= byte or 1
        blob = bytes(blob)
    else:
        blob = seed[:cut] + data
    model = tmp_path / f"{role}.onnx"
    model.write_bytes(blob)
    if role == "generator":
        code, npy = _sample(capsys, tmp_path, model)
        if code == 0:
            images = np.load(npy)
            assert images.shape[0] == 3 and np.isfinite(images).all()
    else:
        grey = tmp_path / "grey.npy"
        np.save(grey, np.zeros((2, 6, 6), np.uint8))
        ganport(capsys, "score", model, grey, names=(model.name,))


META_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70000),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(st.integers(-2, 5), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
META_KEYS = st.sampled_from(
    [
        "role",
        "nz",
        "channels",
        "height",
        "width",
        "classes",
        "class_source",
        "class_shares",
        "class_input",
        "d_output",
        "io_dtype",
        "static_batch",
        "output_range",
        "precision",
        "format_version",
        "source_layout",
        "model_config",
        "rewrites",
        "quantization",
        "producer",
        "unknown_field",
    ]
)


@given(
    changes=st.dictionaries(META_KEYS, META_VALUES, max_size=3),
    drop=st.lists(META_KEYS, max_size=2),
    raw=st.none() | st.sampled_from(["", "{", "[]", "null", "1", '"x"', "\udcff", "{}"]),
)
def test_metadata_of_any_shape(capsys, tmp_path, changes, drop, raw):
    from ganport.core.metadata import ModelMetadata

    base = json.loads(
        ModelMetadata(role="generator", arch="tiny", nz=4, channels=1, height=6, width=6).to_json()
    )
    base.update(changes)
    for key in drop:
        base.pop(key, None)
    text = raw if raw is not None else json.dumps(base)
    model = tiny_model(
        tmp_path / "generator.onnx", raw_meta=text.encode("utf-8", "replace").decode()
    )
    code, npy = _sample(capsys, tmp_path, model)
    if code == 0:
        images = np.load(npy)
        assert images.shape[0] == 3 and np.abs(images).max() <= 1.0


ELEM = st.sampled_from(
    [TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.INT64]
)


@given(
    role=st.sampled_from(["generator", "discriminator"]),
    claimed_role=st.sampled_from(["generator", "discriminator"]),
    in_name=st.sampled_from(["z", "image", "x", "labels"]),
    out_name=st.sampled_from(["image", "logit", "probability", "y"]),
    elem=ELEM,
    in_dims=st.none()
    | st.lists(st.one_of(st.integers(0, 8), st.just("batch"), st.none()), max_size=5),
    io_dtype=st.sampled_from(["float32", "float16"]),
    meta_shape=st.tuples(st.integers(1, 4), st.integers(1, 7), st.integers(1, 7)),
    static_batch=st.none() | st.integers(1, 4),
)
def test_models_that_break_the_contract(
    capsys,
    tmp_path,
    role,
    claimed_role,
    in_name,
    out_name,
    elem,
    in_dims,
    io_dtype,
    meta_shape,
    static_batch,
):
    c, h, w = meta_shape
    meta = {
        "role": claimed_role,
        "io_dtype": io_dtype,
        "static_batch": static_batch,
        "channels": c,
        "height": h,
        "width": w,
    }
    model = tiny_model(
        tmp_path / f"{role}.onnx",
        role,
        shape=(1, 6, 6),
        meta=meta,
        in_name=in_name,
        out_name=out_name,
        elem_type=elem,
        in_dims=in_dims,
    )
    if claimed_role == "generator":
        code, npy = _sample(capsys, tmp_path, model)
        if code == 0:
            assert np.load(npy).shape == (3, c, h, w)
    else:
        images = tmp_path / "images.npy"
        np.save(images, np.zeros((2, 6, 6), np.uint8))
        code, _, _ = ganport(capsys, "score", model, images, names=(model.name,))
