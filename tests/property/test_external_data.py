"""External data: every layout ONNX writes and ONNX Runtime accepts loads through
``create_session``; every location leaving the model's folder is refused, naming why."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.property.helpers import ganport


def externalize(source: Path, folder: Path, *, threshold=0, one_file=True, location="w.bin"):
    """Save ``source`` into ``folder`` with its tensors of at least ``threshold`` bytes
    external (0: every tensor, the small Reshape constants too), then point them at
    ``location`` (relative to the folder, or absolute), moving the data file there."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "generator.onnx"
    onnx.save(
        onnx.load(source),
        target,
        save_as_external_data=True,
        all_tensors_to_one_file=one_file,
        location="w.bin" if one_file else None,
        size_threshold=threshold,
    )
    if not one_file or location == "w.bin":
        return target
    model = onnx.load(target, load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(model, target)
    destination = Path(location) if os.path.isabs(location) else folder / location
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(folder / "w.bin", destination)
    return target


def _images(capsys, model, tmp_path):
    npy = tmp_path / "images.npy"
    npy.write_bytes(b"old")
    code, _, err = ganport(capsys, "sample", model, "-n", 5, "--npy", npy, outputs=(npy,))
    return code, err, (np.load(npy) if code == 0 else None)


@pytest.mark.parametrize(
    "layout",
    [
        dict(threshold=100),  # the weight only: ORT loads it by path
        dict(threshold=0),  # every tensor, small constants too (ORT's shape inference fails)
        dict(threshold=0, one_file=False),  # one file per tensor
        dict(threshold=0, location="weights/all.bin"),  # in a subfolder
        dict(threshold=0, location="a/b/c.data"),
    ],
    ids=["large-only", "all-tensors", "file-per-tensor", "subfolder", "deep-subfolder"],
)
def test_every_external_layout_loads(capsys, tmp_path, tiny, layout):
    _, _, expected = _images(capsys, tiny["g"], tmp_path)
    model = externalize(tiny["g"], tmp_path / "model", **layout)
    code, err, images = _images(capsys, model, tmp_path)
    assert code == 0, err
    np.testing.assert_array_equal(images, expected)


def test_all_external_exported_model_loads(capsys, tmp_path, mlp28_export):
    """The issue's case: a real export saved with size_threshold=0."""
    _, _, expected = _images(capsys, mlp28_export / "generator.onnx", tmp_path)
    model = externalize(mlp28_export / "generator.onnx", tmp_path / "model", threshold=0)
    code, err, images = _images(capsys, model, tmp_path)
    assert code == 0, err
    np.testing.assert_array_equal(images, expected)


@pytest.mark.parametrize("threshold", [0, 100])
@pytest.mark.parametrize(
    "escape,cause",
    [("dotdot", "'..'"), ("absolute", "absolute path"), ("symlink", "symlink")],
)
def test_escapes_are_refused_with_their_cause(capsys, tmp_path, tiny, escape, cause, threshold):
    folder = tmp_path / "inner" / "model"
    if escape == "dotdot":
        model = externalize(tiny["g"], folder, threshold=threshold, location="../w.bin")
    elif escape == "absolute":
        model = externalize(
            tiny["g"], folder, threshold=threshold, location=str(tmp_path / "elsewhere.bin")
        )
    else:
        model = externalize(tiny["g"], folder, threshold=threshold)
        outside = tmp_path / "outside.bin"
        shutil.move(folder / "w.bin", outside)
        os.symlink(outside, folder / "w.bin")
    code, err, _ = _images(capsys, model, tmp_path)
    assert code == 2 and cause in err and "refused" in err and str(model) in err, err


def test_symlink_inside_the_folder_loads(capsys, tmp_path, tiny):
    folder = tmp_path / "model"
    model = externalize(tiny["g"], folder, threshold=0)
    (folder / "real").mkdir()
    shutil.move(folder / "w.bin", folder / "real" / "w.bin")
    os.symlink(folder / "real" / "w.bin", folder / "w.bin")
    assert _images(capsys, model, tmp_path)[0] == 0


@given(
    threshold=st.sampled_from([0, 100]),
    damage=st.sampled_from(["missing", "truncate", "empty", "directory", "garbage"]),
    keep=st.floats(0, 1, exclude_max=True),
)
def test_damaged_external_data(capsys, tmp_path, tiny, threshold, damage, keep):
    folder = tmp_path / "model"
    shutil.rmtree(folder, ignore_errors=True)
    model = externalize(tiny["g"], folder, threshold=threshold)
    data = folder / "w.bin"
    blob = data.read_bytes()
    data.unlink()
    if damage == "truncate":
        data.write_bytes(blob[: int(len(blob) * keep)])
    elif damage == "empty":
        data.write_bytes(b"")
    elif damage == "directory":
        data.mkdir()
    elif damage == "garbage":
        data.write_bytes(os.urandom(len(blob)))
    code, err, _ = _images(capsys, model, tmp_path)
    if damage == "garbage":
        # same size: loads, or NaN fails the job, or a garbage Reshape constant is refused
        assert code == 0 or str(model) in err, err
    else:
        assert code == 2 and str(model) in err, err
