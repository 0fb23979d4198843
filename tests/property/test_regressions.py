"""Failing inputs the property tests found, kept as plain tests."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from tests.property.helpers import ganport, tiny_model


def test_empty_float_array_in_the_models_layout(capsys, tmp_path, tiny):
    """(0, C, H, W) float32 reached min() of an empty array: an internal ValueError."""
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros((0, 1, 6, 6), np.float32))
    code, _, err = ganport(capsys, "score", tiny["d1"], path, names=("empty.npy",))
    assert code == 2 and "empty" in err


def test_images_without_pixels(capsys, tmp_path, tiny):
    """(N, C, 0, 0) and (N, 0, W) arrays were scored as if they held images."""
    for shape in [(2, 1, 0, 0), (2, 0, 5), (2, 6, 6, 0)]:
        path = tmp_path / "nopixels.npy"
        np.save(path, np.zeros(shape, np.uint8))
        code, _, _ = ganport(capsys, "score", tiny["d1"], path, names=("nopixels.npy",))
        assert code == 2, shape


def test_complex_array_is_refused(capsys, tmp_path, tiny):
    """complex64 was cast to float, dropping the imaginary part without a word."""
    path = tmp_path / "complex.npy"
    np.save(path, np.ones((2, 6, 6), np.complex64))
    code, _, err = ganport(capsys, "score", tiny["d1"], path, names=("complex.npy",))
    assert code == 2 and "complex64" in err


def test_float64_beyond_float32_range(capsys, tmp_path, tiny):
    """1e300 became inf in float32: refused as 'NaN or Inf' though the file holds neither."""
    path = tmp_path / "huge.npy"
    np.save(path, np.full((2, 6, 6), 1e300))
    code, _, err = ganport(capsys, "score", tiny["d1"], path)
    assert code == 0, err


def test_static_batch_false_in_metadata(capsys, tmp_path):
    """ "static_batch": false passed validation and ended in range(..., 0): internal error."""
    model = tiny_model(tmp_path / "generator.onnx", meta={"static_batch": False})
    code, _, err = ganport(capsys, "sample", model, "-n", 2, "--out", tmp_path / "g.png")
    assert code == 2 and "static_batch" in err and str(model) in err


def test_malformed_output_range_in_metadata(capsys, tmp_path):
    for value in ("x", [1], [1, 0], [None, 1], {"a": 1}):
        model = tiny_model(tmp_path / "generator.onnx", meta={"output_range": value})
        code, _, err = ganport(capsys, "sample", model, "-n", 2, "--out", tmp_path / "g.png")
        assert code == 2 and "output_range" in err, value


def test_a_failing_graph_names_its_file(capsys, tmp_path, tiny):
    """A damaged Reshape constant fails in onnxruntime; the one line did not name the model."""
    model = onnx.load(tiny["g"])
    shape = next(t for t in model.graph.initializer if t.name == "shape")
    shape.CopyFrom(onnx.numpy_helper.from_array(np.array([-1, 1, 7, 6], np.int64), "shape"))
    path = tmp_path / "broken.onnx"
    onnx.save(model, path)
    code, _, err = ganport(capsys, "sample", path, "-n", 3, "--out", tmp_path / "g.png")
    assert code == 1 and str(path) in err and "Reshape" in err


@pytest.mark.parametrize("config", ["0", None, [1, 2]])
def test_a_checkpoint_whose_config_is_not_a_dict_is_named(
    capsys, tmp_path, mlp28_checkpoint, config
):
    """Found by the long profile: a config of "0" ended in an internal ValueError, and one of
    None in a message that did not name the file."""
    import torch

    state = torch.load(mlp28_checkpoint, weights_only=True)
    state["config"] = config
    ckpt = tmp_path / "checkpoint.pt"
    torch.save(state, ckpt)
    ganport(capsys, "export", ckpt, "--out", tmp_path / "out", names=(str(ckpt),))


@pytest.mark.parametrize("step", [None, -1, "3", True])
def test_a_checkpoint_whose_step_is_not_a_count_is_named(capsys, tmp_path, mlp28_checkpoint, step):
    """Found by the long profile: a step of None ended in an internal TypeError."""
    import torch

    state = torch.load(mlp28_checkpoint, weights_only=True)
    state["step"] = step
    ckpt = tmp_path / "checkpoint.pt"
    torch.save(state, ckpt)
    ganport(capsys, "export", ckpt, "--out", tmp_path / "out", names=(str(ckpt),))
