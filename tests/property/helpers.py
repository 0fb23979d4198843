"""What every property test checks, and tiny ganport models built with onnx.helper.

The promise for any input a user can give: the command succeeds with a correct result, or
exits 1 or 2 with ONE line on stderr that names the file or option and the problem; never
"internal error", never a traceback, never a changed output file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import run_inprocess


def digest(path: Path) -> str | None:
    """sha256 of a file, of every file under a folder, or None when nothing is there."""
    path = Path(path)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if path.is_dir():
        h = hashlib.sha256()
        for p in sorted(path.rglob("*")):
            h.update(str(p.relative_to(path)).encode())
            if p.is_file():
                h.update(p.read_bytes())
        return h.hexdigest()
    return None


def ganport(
    capsys: pytest.CaptureFixture[str],
    *args: object,
    outputs: tuple[Path, ...] = (),
    names: tuple[str, ...] = (),
) -> tuple[int, str, str]:
    """Run the CLI in-process and check the promise; on failure ``names`` (any of them)
    must appear in the error line and every file of ``outputs`` must be unchanged."""
    before = {p: digest(p) for p in outputs}
    code, out, err = run_inprocess(capsys, *args)
    check_result(code, err, names)
    if code != 0:
        for path, old in before.items():
            assert digest(path) == old, f"{path} changed by a failed command: {err}"
    return code, out, err


def check_result(code: int, err: str, names: tuple[str, ...] = ()) -> None:
    assert "internal error" not in err and "Traceback" not in err, err
    if code == 0:
        return
    assert code in (1, 2), (code, err)
    errors = [line for line in err.splitlines() if line.startswith("ganport: ")]
    assert len(errors) == 1, err
    assert errors[0].startswith("ganport: error: ") and len(errors[0]) > 20, err
    assert err.rstrip().endswith(errors[0]), err  # nothing after the one line
    if names:
        assert any(name in errors[0] for name in names), (names, errors[0])


def tiny_model(
    path: Path,
    role: str = "generator",
    nz: int = 4,
    shape: tuple[int, int, int] = (1, 6, 6),
    *,
    meta: dict[str, Any] | None = None,
    raw_meta: str | None = None,
    in_name: str | None = None,
    out_name: str | None = None,
    elem_type: int | None = None,
    in_dims: list[Any] | None = None,
    seed: int = 0,
) -> Path:
    """A valid ganport generator or discriminator of a MatMul and a Reshape (the Reshape's
    shape is a constant, what ORT's shape inference must read), unless told otherwise."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ganport.core.metadata import ModelMetadata

    c, h, w = shape
    pixels = c * h * w
    rng = np.random.default_rng(seed)
    elem = TensorProto.FLOAT if elem_type is None else elem_type
    np_type = onnx.helper.tensor_dtype_to_np_dtype(elem)
    if role == "generator":
        in_name, out_name = in_name or "z", out_name or "image"
        dims = in_dims if in_dims is not None else ["batch", nz]
        weight = (rng.standard_normal((nz, pixels)) * 0.3).astype(np_type)
        nodes = [
            helper.make_node("MatMul", [in_name, "w"], ["flat"]),
            helper.make_node("Tanh", ["flat"], ["tanh"]),
            helper.make_node("Reshape", ["tanh", "shape"], [out_name]),
        ]
        shape_const = np.array([-1, c, h, w], np.int64)
        out_dims: list[Any] = ["batch", c, h, w]
    else:
        in_name, out_name = in_name or "image", out_name or "logit"
        dims = in_dims if in_dims is not None else ["batch", c, h, w]
        weight = (rng.standard_normal((pixels, 1)) * 0.1).astype(np_type)
        nodes = [
            helper.make_node("Reshape", [in_name, "flat_shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["col"]),
            helper.make_node("Reshape", ["col", "shape"], [out_name]),
        ]
        shape_const = np.array([-1], np.int64)
        out_dims = ["batch"]
    inits = [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(shape_const, "shape")]
    if role != "generator":
        inits.append(numpy_helper.from_array(np.array([-1, pixels], np.int64), "flat_shape"))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info(in_name, elem, dims)],
        [helper.make_tensor_value_info(out_name, elem, out_dims)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if raw_meta is None:
        fields = dict(role=role, arch="tiny", nz=nz, channels=c, height=h, width=w, opset=17)
        data = json.loads(ModelMetadata(**fields).to_json())
        data.update(meta or {})
        raw_meta = json.dumps(data)
    helper.set_model_props(model, {"ganport": raw_meta})
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path
