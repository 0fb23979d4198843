"""Check that a loaded model keeps the graph contract of DESIGN.md before anything runs it.

A runtime learns the layout from the ``ganport`` metadata alone, so a graph whose
inputs, outputs or shapes disagree with that metadata would otherwise fail deep inside
onnxruntime with a message about tensors, not about the file the user gave.
"""

from __future__ import annotations

import onnxruntime as ort

from ganport.core.errors import InputError
from ganport.core.metadata import ModelMetadata

ORT_TYPES = {"float32": "tensor(float)", "float16": "tensor(float16)"}
Dim = int | str | None


def check_contract(
    session: ort.InferenceSession, meta: ModelMetadata, role: str, source: str
) -> None:
    """Raise InputError naming the first way ``session`` breaks the ``role`` contract."""
    if meta.role != role:
        raise InputError(f"{source}: metadata says this is a {meta.role}, not a {role}")
    inputs = session.get_inputs()
    names = [arg.name for arg in inputs]
    if names != meta.input_names:
        raise InputError(
            f"{source}: graph inputs are {names}; the metadata of this {role} promises "
            f"{meta.input_names}"
        )
    outputs = {arg.name: arg for arg in session.get_outputs()}
    if meta.output_name not in outputs:
        raise InputError(
            f"{source}: graph outputs are {list(outputs)}; a ganport {role} must output "
            f"{meta.output_name!r}"
        )
    image = (meta.channels, meta.height, meta.width)
    in_shape, out_shape = ((meta.nz,), image) if role == "generator" else (image, ())
    _check_value(inputs[0], in_shape, meta, source, "input")
    _check_value(outputs[meta.output_name], out_shape, meta, source, "output")
    if meta.takes_labels:
        _check_labels(inputs[1], meta, source)


def _check_labels(arg: ort.NodeArg, meta: ModelMetadata, source: str) -> None:
    shape: list[Dim] = list(arg.shape)
    if arg.type != "tensor(int64)" or len(shape) != 1:
        raise InputError(
            f"{source}: input {arg.name!r} is {arg.type} {shape}; the contract is int64 [batch]"
        )
    if isinstance(shape[0], int) and shape[0] != meta.static_batch:
        raise InputError(f"{source}: input {arg.name!r} has a fixed batch of {shape[0]}")


def _check_value(
    arg: ort.NodeArg, expected: tuple[int, ...], meta: ModelMetadata, source: str, kind: str
) -> None:
    want_type = ORT_TYPES[meta.io_dtype]
    if arg.type != want_type:
        raise InputError(
            f"{source}: {kind} {arg.name!r} is {arg.type}, but the metadata says io_dtype "
            f"{meta.io_dtype} ({want_type})"
        )
    shape: list[Dim] = list(arg.shape)
    want = ["batch", *expected]
    if len(shape) != len(want):
        raise InputError(f"{source}: {kind} {arg.name!r} has shape {shape}; the contract is {want}")
    batch, rest = shape[0], shape[1:]
    if isinstance(batch, int) and batch != meta.static_batch:
        declared = "a symbolic batch" if meta.static_batch is None else meta.static_batch
        raise InputError(
            f"{source}: {kind} {arg.name!r} has a fixed batch of {batch} but the metadata "
            f"declares {declared}"
        )
    for got, size in zip(rest, expected, strict=True):
        if isinstance(got, int) and got != size:
            raise InputError(
                f"{source}: {kind} {arg.name!r} has shape {shape}, but the metadata says {want}"
            )
