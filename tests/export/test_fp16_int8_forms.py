"""The forms fp16 and int8 exports are written in so that runtimes besides ONNX Runtime read
them: a float16 Gemm's bias as its own Add (tract), int8 files at opset 19 (ONNX's
reference evaluator), each measured to change nothing ONNX Runtime computes."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from ganport.core.latent import latent
from ganport.core.metadata import metadata_from_map
from ganport.export.convert import to_float16
from ganport.export.quantize import int8_opset
from ganport.infer.engines import get_engine


def _dense(beta: float = 1.0) -> onnx.ModelProto:
    """x (batch, 16) → Gemm with a bias → Relu, float32, opset 18."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((32, 16)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal(32).astype(np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="dense", transB=1, beta=beta),
            helper.make_node("Relu", ["y"], ["out"], name="relu"),
        ],
        "dense",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 32])],
        [weight, bias],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_fp16_gemm_bias_is_its_own_add_and_onnxruntime_computes_the_same():
    from onnxruntime.transformers.float16 import convert_float_to_float16

    x = latent(64, 16, seed=0)
    ours = to_float16(_dense())
    gemm = next(n for n in ours.graph.node if n.op_type == "Gemm")
    add = next(n for n in ours.graph.node if n.op_type == "Add")
    assert len(gemm.input) == 2 and gemm.input[1] == "w"
    assert add.input[0] == gemm.output[0] and add.input[1] == "b"
    plain = convert_float_to_float16(_dense(), keep_io_types=True)
    assert np.array_equal(_run(ours, x), _run(plain, x))


def test_a_gemm_that_scales_its_bias_keeps_it():
    ours = to_float16(_dense(beta=0.5))
    assert [n.op_type for n in ours.graph.node if n.op_type in ("Gemm", "Add")] == ["Gemm"]
    assert len(next(n for n in ours.graph.node if n.op_type == "Gemm").input) == 3


def test_int8_opset_is_19_unless_the_oldest_runtime_cannot_load_it():
    raised, why = int8_opset(18)
    assert raised == 19 and "not the 18 asked" in why
    assert int8_opset(13, "1.16")[0] == 19
    assert int8_opset(21) == (21, "")
    kept, why = int8_opset(18, "1.15")
    assert kept == 18 and "reference evaluator" in why and "cannot run" in why


@pytest.fixture(scope="module")
def int8_exports(tmp_path_factory, mlp28_checkpoint):
    """The MLP 28's G in int8 at the default opset and aimed at onnxruntime 1.15."""
    from ganport.export import ExportOptions, export_checkpoint

    folders = {}
    for oldest in (None, "1.15"):
        out = tmp_path_factory.mktemp(f"int8-{oldest}")
        options = ExportOptions(int8=True, oldest_onnxruntime=oldest)
        export_checkpoint(mlp28_checkpoint, out, which="generator", options=options)
        folders[oldest] = out / "generator_int8.onnx"
    return folders


def _metadata(path):
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return metadata_from_map(props, str(path))


def test_an_int8_export_runs_on_the_reference_evaluator(int8_exports):
    path = int8_exports[None]
    meta = _metadata(path)
    assert meta.opset == 19 and "not the 18 asked" in meta.quantization["opset_note"]
    z = latent(7, meta.nz, seed=0)
    (got,) = get_engine("onnx-reference").load(path).run({"z": z})
    (want,) = get_engine("onnxruntime").load(path).run({"z": z})
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_int8_for_onnxruntime_1_15_stays_at_18_and_says_what_it_loses(int8_exports):
    path = int8_exports["1.15"]
    meta = _metadata(path)
    assert meta.opset == 18 and "cannot run this file" in meta.quantization["opset_note"]
    with pytest.raises(Exception, match=r"DequantizeLinear.*version 18"):
        get_engine("onnx-reference").load(path).run({"z": latent(7, meta.nz, seed=0)})
