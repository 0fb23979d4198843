"""OpenVINO: an IR (``generator.xml`` + ``generator.bin``) that computes in float32 even
where a plain ``compile_model(path, "CPU")`` would compute in bfloat16.

OpenVINO's CPU plugin computes in bf16 by default on CPUs with bf16 units (AVX-512 BF16,
AMX) and says so nowhere: a DCGAN's images move by ~4e-3 from torch, and a conditional
generator rounds z[:, 0] to bf16 before its class rule reads it, so latents near a class
edge draw the neighbouring class. The IR cannot carry ``INFERENCE_PRECISION_HINT`` (the
plugin reads only its cache and quantisation options from a model's ``runtime_options``),
so the IR marks every layer ``precise``, the attribute the plugin keeps in the model's own
precision. The plugin replaces some ops with its own, unmarked ones, which it then runs in
bf16; the IR writes those in exact equivalents it keeps: a MatMul by constant weights as a
1×1 Convolution between Reshapes (not FullyConnected, nor Squeeze/Unsqueeze), a leaky
ReLU as Select(x > 0, x, x * a) (not the plugin's LeakyRelu). Measured on the DCGAN and
MLP generators and discriminators: every node then runs in f32, images within 3e-7 of
ONNX Runtime, no class drawn differently. The check runs the IR at
the default settings, so an op this misses fails the export rather than shipping bf16.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from ganport.export.targets import Target

# The rt_info attribute of ov::DisableFP16Compression ("precise"): the CPU plugin keeps a
# node so marked in its original precision under a bf16 or f16 inference precision.
PRECISE = "precise"


def convert(onnx_file: Path, dest: Path) -> None:
    """Write ``dest`` (.xml) and its ``.bin`` from ``onnx_file``: float32 weights kept as
    they are, MatMuls as 1×1 convolutions, every layer marked precise."""
    import openvino as ov

    model = _leaky_relus_as_selects(_matmuls_as_convolutions(ov.convert_model(str(onnx_file))))
    ov.save_model(model, str(dest), compress_to_fp16=False)
    _mark_precise(dest)


def _matmuls_as_convolutions(model: Any) -> Any:
    """Each 2-D MatMul by a constant weight, x @ W, as Reshape → 1×1 Convolution → Reshape:
    the same products and sums, in an op the plugin does not rebuild."""
    from openvino import opset13 as ops

    for op in model.get_ordered_ops():
        weight = _constant_weight(op)
        if weight is None:
            continue
        outputs, inputs = weight.shape  # (N, K): y[:, n] = sum_k x[:, k] * W[n, k]
        x = op.input(0).get_source_output()
        x4 = ops.reshape(x, _shape([0, inputs, 1, 1]), special_zero=True)
        kernel = ops.constant(weight.reshape(outputs, inputs, 1, 1))
        y4 = ops.convolution(x4, kernel, [1, 1], [0, 0], [0, 0], [1, 1])
        y = ops.reshape(y4, _shape([0, outputs]), special_zero=True)
        y.set_friendly_name(op.get_friendly_name())
        for target in op.output(0).get_target_inputs():
            target.replace_source_output(y.output(0))
    return model


def _leaky_relus_as_selects(model: Any) -> Any:
    """Each leaky ReLU (PRelu with one constant slope a) as Select(x > 0, x, x * a): torch's
    own arithmetic, in ops the plugin keeps (it rebuilds PRelu as its own LeakyRelu)."""
    from openvino import opset13 as ops

    for op in model.get_ordered_ops():
        slope = op.input(1).get_source_output() if op.get_type_name() == "PRelu" else None
        if slope is None or slope.get_node().get_type_name() != "Constant":
            continue
        a = slope.get_node().get_data()
        if a.size != 1:
            continue
        x = op.input(0).get_source_output()
        positive = ops.greater(x, ops.constant(np.zeros((), a.dtype)))
        y = ops.select(positive, x, ops.multiply(x, ops.constant(a.reshape(()))))
        y.set_friendly_name(op.get_friendly_name())
        for target in op.output(0).get_target_inputs():
            target.replace_source_output(y.output(0))
    return model


def _constant_weight(op: Any) -> np.ndarray | None:
    """The (N, K) weight of a MatMul ``x @ W`` with 2-D x and constant float W, else None."""
    if op.get_type_name() != "MatMul" or op.get_attributes()["transpose_a"]:
        return None
    x, w = (i.get_source_output() for i in op.inputs())
    if w.get_node().get_type_name() != "Constant" or not _rank_2(w) or not _rank_2(x):
        return None
    if w.get_element_type().to_string() not in ("f32", "f16"):
        return None
    weight = w.get_node().get_data()
    return np.ascontiguousarray(weight if op.get_attributes()["transpose_b"] else weight.T)


def _rank_2(output: Any) -> bool:
    rank = output.get_partial_shape().rank
    return rank.is_static and rank.get_length() == 2


def _shape(dims: list[int]) -> Any:
    from openvino import opset13 as ops

    return ops.constant(np.array(dims, np.int64))


def _mark_precise(xml: Path) -> None:
    """Add the ``precise`` attribute to every layer's rt_info in the IR file (OpenVINO's
    Python API has no call that sets it; the IR reader reads it back)."""
    tree = ET.parse(xml)
    for layer in tree.getroot().iter("layer"):
        info = layer.find("rt_info")
        if info is None:
            info = ET.Element("rt_info")
            layer.insert(0, info)
        ET.SubElement(info, "attribute", name=PRECISE, version="0")
    tree.write(xml, xml_declaration=True, encoding="utf-8")


TARGET = Target(
    "openvino",
    "OpenVINO IR (.xml + .bin) that computes in float32 even at OpenVINO's default settings",
    convert=convert,
)
