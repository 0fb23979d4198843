"""An ONNX model's external data, read and inlined with the standard library alone.

ONNX lets a model keep any tensor in a file beside it (``onnx.save(...,
save_as_external_data=True)``), small constants included. ONNX Runtime loads that
layout, but its shape inference cannot read a constant it needs to know (a Reshape's
target shape, say) from an external file: the load fails with "Cannot parse data from
external tensors". ``inline_external_data`` then gives the model's bytes with every
external tensor read back into ``raw_data``, which ONNX Runtime loads from memory.

Loading from memory skips ONNX Runtime's own check that external data stays inside the
model's folder, so every location is checked here the same way first: relative, inside
the folder once symlinks are resolved, and the bytes it names present.

The runtime has no ``onnx`` package (DESIGN.md), so the protobuf wire format is walked
here, along the few message fields that can hold a tensor.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ganport.core.errors import InputError

# protobuf wire types
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
# TensorProto fields
_RAW_DATA, _EXTERNAL_DATA, _DATA_LOCATION, _TENSOR_NAME = 9, 13, 14, 8
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
# protobuf refuses a message of 2 GiB or more
MAX_INLINE_BYTES = (1 << 31) - (1 << 20)


class _Damaged(Exception):
    """The bytes are not the protobuf message they should be."""


def _varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _Damaged("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf: bytes | memoryview):
    """(field number, wire type, value or payload, start, end) of each field of a message."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _I64:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == _I32:
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == _LEN:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        else:
            raise _Damaged(f"wire type {wire}")
        if pos > len(buf):
            raise _Damaged("truncated field")
        yield number, wire, value, start, pos


def _field(number: int, payload: bytes) -> bytes:
    return _encode_varint((number << 3) | _LEN) + _encode_varint(len(payload)) + payload


# Where a tensor can sit: for each message kind, its fields that are messages, and their kind.
_SCHEMA: dict[str, dict[int, str]] = {
    "model": {7: "graph", 25: "function"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
}

Resolver = Callable[[str, dict[str, str]], bytes]


def _rewrite(buf: memoryview, kind: str, resolve: Resolver | None, found: list) -> bytes | None:
    """The message with external tensors inlined (None when nothing changed); every external
    tensor's (name, entries) is appended to ``found``."""
    if kind == "tensor":
        return _rewrite_tensor(buf, resolve, found)
    children = _SCHEMA[kind]
    parts: list[bytes] = []
    changed = False
    for number, wire, value, start, end in _fields(buf):
        if wire == _LEN and number in children:
            new = _rewrite(value, children[number], resolve, found)
            if new is not None:
                parts.append(_field(number, new))
                changed = True
                continue
        parts.append(bytes(buf[start:end]) if resolve is not None else b"")
    return b"".join(parts) if changed and resolve is not None else None


def _rewrite_tensor(buf: memoryview, resolve: Resolver | None, found: list) -> bytes | None:
    entries: dict[str, str] = {}
    name, external = "", False
    kept: list[bytes] = []
    for number, wire, value, start, end in _fields(buf):
        if number == _EXTERNAL_DATA and wire == _LEN:
            key = value_ = ""
            for sub_number, sub_wire, sub_value, _, _ in _fields(value):
                if sub_wire == _LEN and sub_number in (1, 2):
                    text = bytes(sub_value).decode("utf-8", "replace")
                    key, value_ = (text, value_) if sub_number == 1 else (key, text)
            entries[key] = value_
        elif number == _DATA_LOCATION and wire == _VARINT:
            external = value == _EXTERNAL
        elif number != _RAW_DATA:
            if number == _TENSOR_NAME and wire == _LEN:
                name = bytes(value).decode("utf-8", "replace")
            kept.append(bytes(buf[start:end]))
    if not external:
        return None
    found.append((name, entries))
    if resolve is None:
        return None
    return b"".join(kept) + _field(_RAW_DATA, resolve(name, entries))


def external_tensors(model_bytes: bytes, source: str) -> list[tuple[str, dict[str, str]]]:
    """(tensor name, external data entries) of every tensor stored outside the model file."""
    found: list[tuple[str, dict[str, str]]] = []
    try:
        _rewrite(memoryview(model_bytes), "model", None, found)
    except (_Damaged, IndexError, ValueError) as exc:
        raise InputError(f"{source}: not a loadable ONNX model (damaged protobuf: {exc})") from exc
    return found


def check_location(model: Path, name: str, entries: dict[str, str]) -> tuple[Path, int, int | None]:
    """The file, offset and length a tensor's external data names, or an InputError saying
    why it is refused: an absolute path, a path or symlink leaving the model's folder, a
    missing file, a range beyond its end."""
    location = entries.get("location", "")
    what = f"{model}: tensor {name!r} keeps its data in {location!r}"
    if not location:
        raise InputError(f"{model}: tensor {name!r} is external but names no location")
    if os.path.isabs(location) or Path(location).is_absolute() or location.startswith("\\"):
        raise InputError(f"{what}: refused: an absolute path (it must be relative to the model)")
    folder = model.resolve().parent
    target = folder / location
    try:
        real = target.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise InputError(f"{what}: cannot resolve it ({exc})") from exc
    if not real.is_relative_to(folder):
        how = "a symlink" if ".." not in Path(location).parts else "'..'"
        raise InputError(
            f"{what}: refused: through {how} it leaves the model's folder ({real}); "
            "keep external data beside the model or in a folder under it"
        )
    if not real.is_file():
        raise InputError(f"{what}: no such file beside the model")
    try:
        offset = int(entries.get("offset", "0") or 0)
        length = int(entries["length"]) if entries.get("length") else None
    except ValueError as exc:
        raise InputError(f"{what}: malformed offset or length ({exc})") from exc
    size = real.stat().st_size
    if offset < 0 or (length is not None and length < 0) or offset + (length or 0) > size:
        raise InputError(
            f"{what}: bytes {offset}..{offset + (length or 0)} lie beyond its end ({size} bytes)"
        )
    return real, offset, length


def inline_external_data(model: Path, model_bytes: bytes) -> bytes:
    """``model_bytes`` with every external tensor's data read into the model (checked by
    ``check_location``), for ONNX Runtime to load from memory."""
    total = len(model_bytes)

    def resolve(name: str, entries: dict[str, str]) -> bytes:
        nonlocal total
        path, offset, length = check_location(model, name, entries)
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read() if length is None else f.read(length)
        except OSError as exc:
            raise InputError(f"{model}: cannot read external data {path} ({exc})") from exc
        total += len(data)
        if total > MAX_INLINE_BYTES:
            raise InputError(
                f"{model}: its external data ({total} bytes and more) is too large to read "
                "into one model, and ONNX Runtime cannot load it from the files"
            )
        return data

    try:
        new = _rewrite(memoryview(model_bytes), "model", resolve, [])
    except (_Damaged, IndexError, ValueError) as exc:
        raise InputError(f"{model}: not a loadable ONNX model (damaged protobuf: {exc})") from exc
    return model_bytes if new is None else new
