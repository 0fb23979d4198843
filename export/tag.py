"""Make an ONNX file exported elsewhere a ganport model: probe it, adapt it, check it.

A user's own ``torch.onnx.export`` output has no ganport metadata and its own layout: z as
(N, nz, 1, 1), flat or [0, 1] images, a (N, 1) score, int32 labels, its own tensor names.
``tag_models`` learns that layout by running the file on ONNX Runtime (the graph's
declared shapes are often symbolic, and a batch-dependent ``.squeeze()`` only shows when
run), then writes a copy whose graph meets the contract of DESIGN.md: the original graph
untouched in the middle, a few adapting nodes around it, the metadata inside, and a
manifest that names the source file. The copy is checked against the source at several
batch sizes before it is renamed into place; the source is only ever read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError

from ganport import __version__
from ganport.core.atomic import atomic_path, write_json
from ganport.core.errors import InputError, JobFailed, first_line
from ganport.core.latent import latent
from ganport.core.layout import (
    CONTRACT_RANGE,
    IMAGE_FLAT,
    IMAGE_NCHW,
    Z_FLAT,
    Z_NCHW,
    d_output_of,
    image_range_of,
    image_shape_of,
    score_shape_name,
)
from ganport.core.lock import folder_lock
from ganport.core.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestModel,
    ManifestSource,
    sha256_file,
)
from ganport.core.metadata import LABELS_INPUT, METADATA_KEY, ROLES, ModelMetadata
from ganport.export.checks import BatchCheck, CheckReport
from ganport.export.runtimes import ir_version_for
from ganport.infer.runtime.contract import check_contract
from ganport.infer.runtime.session import create_session
from ganport.train.adapt import Hints

MODEL_FILES = {"generator": "generator.onnx", "discriminator": "discriminator.onnx"}
CHECK_BATCH_SIZES = (1, 2, 7)  # the copy against the source; 1 and 7 catch a fixed batch
PROBE_ROWS = 64  # rows whose outputs decide the image range and the D's output kind
PROBE_SEED = 0
CHECK_SEED = 1
MIN_OPSET = 13  # Unsqueeze/Squeeze take their axes as an input from opset 13
EXACT = {"float32": 1e-6, "float16": 1e-3}  # the copy computes what the source does
FLOAT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16"}
INT_TYPES = {"tensor(int64)": "int64", "tensor(int32)": "int32"}
# Ops that move values without changing them: the activation before them ends the model.
SHAPE_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}
ENDINGS = {"Tanh": "tanh", "Sigmoid": "sigmoid"}
BATCH = "batch"


@dataclass
class Probe:
    """What one source file turned out to be, and how its copy maps onto it."""

    role: str
    path: Path
    sha256: str
    model: onnx.ModelProto
    session: ort.InferenceSession
    main: str  # the source's z or image input
    output: str
    io_dtype: str
    precision: str
    static_batch: int | None
    nz: int
    image_shape: tuple[int, int, int]
    image_layout: str
    image_range: tuple[float, float]
    z_layout: str = Z_FLAT
    labels: str | None = None
    labels_dtype: str = "int64"
    classes: int = 0
    score_shape: str = "(N,)"
    d_output: str = "logit"
    range_assumed: bool = False
    probe_images: np.ndarray | None = None  # G's images in [-1, 1], to probe a paired D

    @property
    def contract_output(self) -> str:
        if self.role == "generator":
            return "image"
        return "probability" if self.d_output == "probability" else "logit"

    @property
    def out_rest(self) -> tuple[int, ...]:
        """The contract's output shape per row."""
        return self.image_shape if self.role == "generator" else ()

    def layout(self) -> dict[str, Any]:
        """``source_layout`` of the metadata: what the source was, before adapting."""
        found: dict[str, Any] = {"origin": "onnx"}
        if self.role == "generator":
            found["z"] = self.z_layout
        found["image"] = self.image_layout
        found["image_range"] = list(self.image_range)
        if self.role == "discriminator":
            found["output_shape"] = self.score_shape
        if self.labels is not None:
            found["labels_dtype"] = self.labels_dtype
        found["inputs"] = [i.name for i in self.session.get_inputs()]
        found["outputs"] = [o.name for o in self.session.get_outputs()]
        return found

    def to_source(self, main: np.ndarray, labels: np.ndarray | None) -> dict[str, np.ndarray]:
        """The source's feeds for contract inputs (what the adapting input nodes compute)."""
        x = main
        if self.role == "generator" and self.z_layout == Z_NCHW:
            x = x.reshape(len(x), self.nz, 1, 1)
        if self.role == "discriminator":
            if self.image_range != CONTRACT_RANGE:
                x = (x + np.float32(1)) / np.float32(2)
            if self.image_layout == IMAGE_FLAT:
                x = x.reshape(len(x), -1)
        feeds = {self.main: np.ascontiguousarray(x, dtype=self.io_dtype)}
        if self.labels is not None and labels is not None:
            feeds[self.labels] = labels.astype(self.labels_dtype)
        return feeds

    def to_contract(self, y: np.ndarray) -> np.ndarray:
        """The source's output as the contract has it (what the adapting output nodes do)."""
        if self.role == "discriminator":
            return y.reshape(len(y))
        y = y.reshape(len(y), *self.image_shape)
        if self.image_range != CONTRACT_RANGE:
            y = y * y.dtype.type(2) - y.dtype.type(1)
        return y

    def summary(self) -> str:
        """One line: what was found, and what the copy changes."""
        parts = []
        if self.role == "generator":
            z_shape = f"(N, {self.nz}, 1, 1)" if self.z_layout == Z_NCHW else f"(N, {self.nz})"
            parts.append(f"z {z_shape}" + (f" → (N, {self.nz})" if self.z_layout == Z_NCHW else ""))
        parts.append(self._images())
        if self.role == "discriminator":
            score = self.score_shape
            parts.append(f"{self.d_output} {score}" + (" → (N,)" if score != "(N,)" else ""))
        if self.labels is not None:
            cast = " (cast from int64)" if self.labels_dtype == "int32" else ""
            parts.append(f"labels {self.labels_dtype}{cast}, {self.classes} classes")
        if self.io_dtype != "float32" or self.precision != "fp32":
            parts.append(f"{self.precision}, {self.io_dtype} I/O")
        batch = f"static batch {self.static_batch}" if self.static_batch else "symbolic batch"
        parts.append(batch)
        return f"{MODEL_FILES[self.role]}: " + "; ".join(parts)

    def _images(self) -> str:
        c, h, w = self.image_shape
        nchw = f"(N, {c}, {h}, {w})"
        flat = f"(N, {c * h * w})"
        if self.image_layout == IMAGE_FLAT:
            shape = f"{flat} → {nchw}" if self.role == "generator" else f"{nchw} → {flat}"
        else:
            shape = nchw
        lo, hi = (_number(v) for v in self.image_range)
        where = f"in [{lo}, {hi}]"
        if self.image_range != CONTRACT_RANGE:
            where += " → [-1, 1]" if self.role == "generator" else " (from [-1, 1])"
        if self.range_assumed:
            where += " (assumed: give --image-range 0,1 if it takes [0, 1])"
        return f"images {shape} {where}"


@dataclass
class TagResult:
    """One written copy."""

    path: Path
    metadata: ModelMetadata
    checks: CheckReport
    summary: str
    seconds: float


@dataclass
class TagReport:
    """What ``tag_models`` wrote: one result per model, then the manifest."""

    results: list[TagResult] = field(default_factory=list)
    manifest: Manifest | None = None
    manifest_path: Path | None = None


def tag_models(
    source: str | Path,
    out: str | Path,
    *,
    role: str = "generator",
    discriminator: str | Path | None = None,
    options: Hints | None = None,
) -> TagReport:
    """Probe ``source`` (a ``role``) and ``discriminator`` by running them, and write their
    contract-keeping copies and ``manifest.json`` into ``out``.

    Every refusal (not ONNX, already ganport's, a layout the numbers cannot tell) comes
    before anything is written; the folder is locked while the copies are written.
    """
    options = options or Hints()
    out = Path(out)
    _check_request(Path(source), out, role, discriminator, options)
    first = probe_model(source, role, options)
    probes = [first]
    if discriminator is not None:
        probes.append(probe_model(discriminator, "discriminator", options, paired=first))
    _check_classes_used(probes, options)
    report = TagReport()
    with folder_lock(out, "tag"):
        for probe in probes:
            report.results.append(_write_copy(probe, out / MODEL_FILES[probe.role]))
        report.manifest = _manifest(probes, report.results)
        report.manifest_path = out / MANIFEST_NAME
        write_json(report.manifest_path, report.manifest.to_dict())
    return report


def _check_request(
    source: Path, out: Path, role: str, discriminator: str | Path | None, options: Hints
) -> None:
    if role not in ROLES:
        raise InputError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    if discriminator is not None and role != "generator":
        raise InputError("--discriminator pairs a D with a generator; the first file is a D")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: --out is a file; give a folder")
    if options.d_output not in (None, "logit", "probability"):
        raise InputError(f"--d-output must be logit or probability, not {options.d_output!r}")
    if options.d_output is not None and role == "generator" and discriminator is None:
        raise InputError("--d-output describes a discriminator; none is given")
    if options.classes is not None and options.classes < 2:
        raise InputError(f"--classes must be at least 2, not {options.classes}")
    sources = [source] + ([Path(discriminator)] if discriminator is not None else [])
    roles = [role, "discriminator"]
    for path, kind in zip(sources, roles, strict=False):
        target = out / MODEL_FILES[kind]
        if path.exists() and target.exists() and path.resolve() == target.resolve():
            raise InputError(f"{path}: --out {out} would replace this source; choose another")


def probe_model(
    path: str | Path,
    role: str,
    options: Hints | None = None,
    paired: Probe | None = None,
) -> Probe:
    """Read ``path`` and run it until its layout is known, or refuse naming the flag."""
    options = options or Hints()
    path = Path(path)
    model = _load_source(path)
    session, _ = create_session(path, "cpu")
    floats, ints = _split_inputs(session, role, path.name)
    main = floats[0]
    outputs = session.get_outputs()
    if len(outputs) != 1 or outputs[0].type not in FLOAT_TYPES:
        found = [f"{o.name} {o.type}" for o in outputs]
        raise InputError(f"{path.name}: outputs {found}; a {role} returns one float tensor")
    io_dtype = FLOAT_TYPES[main.type]
    if FLOAT_TYPES[outputs[0].type] != io_dtype:
        raise InputError(
            f"{path.name}: takes {io_dtype} but returns {FLOAT_TYPES[outputs[0].type]}; "
            "ganport reads and writes one float type"
        )
    base = {
        "role": role,
        "path": path,
        "sha256": sha256_file(path),
        "model": model,
        "session": session,
        "main": main.name,
        "output": outputs[0].name,
        "io_dtype": io_dtype,
        "precision": _precision(model),
        "static_batch": _static_batch(main.shape),
    }
    labels = _labels_of(ints, options, path.name)
    if role == "generator":
        return _probe_generator(base, main, labels, options)
    return _probe_discriminator(base, main, labels, options, paired)


def _check_classes_used(probes: list[Probe], options: Hints) -> None:
    if options.classes is not None and all(p.labels is None for p in probes):
        raise InputError(
            "--classes is for a model with a labels input, and none of these takes labels"
        )


def _load_source(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        model = onnx.load(str(path))
    except (DecodeError, OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"{path}: not a readable ONNX file ({first_line(exc)})") from exc
    if not model.graph.node or not model.graph.output:
        raise InputError(f"{path}: not an ONNX model (no graph)")
    if any(prop.key == METADATA_KEY for prop in model.metadata_props):
        raise InputError(f"{path}: already a ganport model; use it as it is")
    opset = _opset(model)
    if opset < MIN_OPSET:
        raise InputError(
            f"{path}: opset {opset}; tagging needs opset {MIN_OPSET} or newer "
            f"(re-export with opset_version={MIN_OPSET} or later)"
        )
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise InputError(f"{path}: fails onnx.checker ({first_line(exc)})") from exc
    return model


def _split_inputs(
    session: ort.InferenceSession, role: str, name: str
) -> tuple[list[ort.NodeArg], list[ort.NodeArg]]:
    """The float input (z or image) and the integer one (labels), or a refusal."""
    inputs = session.get_inputs()
    floats = [i for i in inputs if i.type in FLOAT_TYPES]
    ints = [i for i in inputs if i.type in INT_TYPES]
    if len(floats) != 1 or len(ints) > 1 or len(inputs) != len(floats) + len(ints):
        found = ", ".join(f"{i.name} {i.type}" for i in inputs)
        main = "z" if role == "generator" else "images"
        raise InputError(
            f"{name}: inputs ({found}) are not a {role}'s: one float tensor of {main}, "
            "and optionally one integer tensor of labels"
        )
    return floats, ints


def _labels_of(ints: list[ort.NodeArg], options: Hints, name: str) -> tuple[str, str, int] | None:
    """(input name, dtype, classes) of a labels input; classes cannot be probed."""
    if not ints:
        return None
    arg = ints[0]
    if len(arg.shape) != 1:
        raise InputError(
            f"{name}: its labels input {arg.name!r} is shaped {arg.shape}; ganport feeds (N,)"
        )
    if options.classes is None:
        raise InputError(
            f"{name}: takes labels (input {arg.name!r}); give --classes N, the number of classes"
        )
    return arg.name, INT_TYPES[arg.type], options.classes


def _probe_generator(
    base: dict[str, Any],
    main: ort.NodeArg,
    labels: tuple[str, str, int] | None,
    options: Hints,
) -> Probe:
    name = base["path"].name
    shape = list(main.shape)
    if len(shape) == 4 and all(d in (1, None) or isinstance(d, str) for d in shape[2:]):
        z_layout = Z_NCHW
    elif len(shape) == 2:
        z_layout = Z_FLAT
    else:
        raise InputError(
            f"{name}: z input {main.name!r} is shaped {shape}; a generator takes "
            f"{Z_FLAT} or {Z_NCHW} (a discriminator? give --role discriminator)"
        )
    nz = shape[1] if isinstance(shape[1], int) else None
    if nz is not None and options.nz is not None and options.nz != nz:
        raise InputError(f"{name}: z has {nz} entries per row, not the declared --nz {options.nz}")
    nz = nz or options.nz
    if nz is None:
        raise InputError(f"{name}: the size of z is not fixed in the graph; give --nz N")
    probe = Probe(
        nz=nz,
        image_shape=(1, 1, 1),
        image_layout=IMAGE_NCHW,
        image_range=CONTRACT_RANGE,
        z_layout=z_layout,
        **_labels_fields(labels),
        **base,
    )
    _check_classes(probe)
    z = latent(PROBE_ROWS, nz, PROBE_SEED)
    y = _run_rows(probe, z, _probe_labels(probe, PROBE_ROWS), "probe")
    rest = _rows_shape(probe, lambda b: latent(b, nz, PROBE_SEED), y)
    probe.image_shape, probe.image_layout = image_shape_of(rest, options.image_shape, name)
    ends_in = _ends_in(base["model"], base["output"])
    probe.image_range = image_range_of(y, options.image_range, ends_in, name)
    _check_values_in(y, probe.image_range, name, "images")
    probe.probe_images = probe.to_contract(y).astype(np.float32)
    return probe


def _probe_discriminator(
    base: dict[str, Any],
    main: ort.NodeArg,
    labels: tuple[str, str, int] | None,
    options: Hints,
    paired: Probe | None,
) -> Probe:
    name = base["path"].name
    declared = options.image_shape or (paired.image_shape if paired else None)
    shape, layout = _d_image_shape(list(main.shape), declared, name)
    if paired is not None and shape != paired.image_shape:
        raise InputError(
            f"{name}: takes images shaped {shape}, but the generator makes {paired.image_shape}"
        )
    image_range = options.image_range or (paired.image_range if paired else None)
    probe = Probe(
        nz=paired.nz if paired else options.nz or 1,
        image_shape=shape,
        image_layout=layout,
        image_range=image_range or CONTRACT_RANGE,
        range_assumed=image_range is None,
        **_labels_fields(labels),
        **base,
    )
    _check_classes(probe)
    images = _d_probe_images(probe, paired)
    y = _run_rows(probe, images, _probe_labels(probe, len(images)), "probe")
    rest = _rows_shape(probe, lambda b: images[:b], y)
    try:
        probe.score_shape = score_shape_name(rest)
    except InputError as exc:
        raise InputError(f"{name}: {exc} (a generator? leave out --role)") from exc
    ends_in = _ends_in(base["model"], base["output"])
    probe.d_output = d_output_of(y, options.d_output, ends_in, name)
    if probe.d_output == "probability":
        _check_values_in(y, (0.0, 1.0), name, "probabilities")
    return probe


def _d_image_shape(
    dims: list[Any], declared: tuple[int, int, int] | None, name: str
) -> tuple[tuple[int, int, int], str]:
    """A D's image shape: from its input dims, else the paired G's or --image-shape."""
    if len(dims) == 4:
        rest = dims[1:]
        if all(isinstance(d, int) for d in rest):
            shape = tuple(rest)
            if declared is not None and tuple(declared) != shape:
                raise InputError(f"{name}: takes images shaped {shape}, not {tuple(declared)}")
            return shape, IMAGE_NCHW  # type: ignore[return-value]
        if declared is None:
            raise InputError(f"{name}: its image input is shaped {dims}; give --image-shape C,H,W")
        return tuple(declared), IMAGE_NCHW  # type: ignore[return-value]
    if len(dims) == 2:
        if isinstance(dims[1], int):
            return image_shape_of((dims[1],), declared, name)
        if declared is None:
            raise InputError(f"{name}: takes flat images of unknown size; give --image-shape C,H,W")
        return tuple(declared), IMAGE_FLAT  # type: ignore[return-value]
    raise InputError(
        f"{name}: its image input is shaped {dims}; a discriminator takes "
        f"{IMAGE_NCHW} or {IMAGE_FLAT}"
    )


def _d_probe_images(probe: Probe, paired: Probe | None) -> np.ndarray:
    """Contract images in [-1, 1]: noise, and the paired G's images (what D really sees)."""
    rng = np.random.default_rng(PROBE_SEED)
    noise = rng.uniform(-1, 1, (PROBE_ROWS, *probe.image_shape)).astype(np.float32)
    if paired is None or paired.probe_images is None:
        return noise
    half = PROBE_ROWS // 2
    return np.concatenate([noise[:half], paired.probe_images[:half]])


def _labels_fields(labels: tuple[str, str, int] | None) -> dict[str, Any]:
    if labels is None:
        return {}
    name, dtype, classes = labels
    return {"labels": name, "labels_dtype": dtype, "classes": classes}


def _probe_labels(probe: Probe, rows: int) -> np.ndarray | None:
    return None if probe.labels is None else np.arange(rows, dtype=np.int64) % probe.classes


def _check_classes(probe: Probe) -> None:
    """Every label 0..classes-1 runs (an embedding with fewer rows fails on the rest); a
    refusal names the first label that fails."""
    if probe.labels is None:
        return
    rows = probe.static_batch or PROBE_ROWS
    for start in range(0, probe.classes, rows):
        labels = np.arange(start, min(start + rows, probe.classes), dtype=np.int64)
        try:
            _run_rows(probe, _example_rows(probe, len(labels)), labels, "labels")
        except InputError:
            for label in labels:
                try:
                    _run_rows(probe, _example_rows(probe, 1), label[None], "labels")
                except InputError as exc:
                    reason = str(exc).rpartition("Status Message: ")[2]
                    raise InputError(
                        f"{probe.path.name}: --classes {probe.classes} is too many: label "
                        f"{label} fails ({reason})"
                    ) from exc
            raise


def _example_rows(probe: Probe, rows: int) -> np.ndarray:
    """Contract inputs of ``rows`` rows: latent-convention z, or images in [-1, 1]."""
    if probe.role == "generator":
        return latent(rows, probe.nz, CHECK_SEED)
    rng = np.random.default_rng(CHECK_SEED)
    return rng.uniform(-1, 1, (rows, *probe.image_shape)).astype(np.float32)


def _run_rows(probe: Probe, main: np.ndarray, labels: np.ndarray | None, what: str) -> np.ndarray:
    """The source's output for contract rows, in pieces of its static batch if it has one."""
    static = probe.static_batch
    if static is None:
        return _run_source(probe, main, labels, what)
    pieces = []
    for start in range(0, len(main), static):
        rows = slice(start, start + static)
        part = _padded(main[rows], static)
        part_labels = None if labels is None else _padded(labels[rows], static)
        pieces.append(_run_source(probe, part, part_labels, what)[: len(main[rows])])
    return np.concatenate(pieces)


def _run_source(probe: Probe, main: np.ndarray, labels: np.ndarray | None, what: str) -> np.ndarray:
    """One run of the source; its failure is the user's file not fitting (InputError)."""
    feeds = probe.to_source(main, labels)
    try:
        (y,) = _run_quiet(probe.session, feeds, probe.output)
    except JobFailed as exc:
        shown = f"{probe.role} {what} run at batch {len(main)}"
        raise InputError(f"{probe.path.name}: the {shown} failed: {exc}") from exc
    return y


def _run_quiet(
    session: ort.InferenceSession, feeds: dict[str, np.ndarray], output: str
) -> list[np.ndarray]:
    """Run on the CPU with ORT's own error log off: probing expects some runs to fail (a
    label beyond an embedding), and the failure is reported here, once, in one line."""
    options = ort.RunOptions()
    options.log_severity_level = 4
    try:
        return session.run([output], feeds, options)
    except Exception as exc:  # onnxruntime raises its own exception types per failure
        raise JobFailed(f"onnxruntime failed to run the model: {first_line(exc)}") from exc


def _rows_shape(
    probe: Probe, rows_of: Callable[[int], np.ndarray], probed: np.ndarray
) -> tuple[int, ...]:
    """The output's shape per row, the same at every batch size, or a refusal.

    A D ending in ``.squeeze()`` with no axis returns a scalar for a batch of one: such a
    model cannot be fed any batch size, and nothing outside it can repair that.
    """
    sizes = [probe.static_batch] if probe.static_batch else [*CHECK_BATCH_SIZES, len(probed)]
    shapes = {}
    for size in sizes:
        if size == len(probed):
            shapes[size] = tuple(probed.shape)
            continue
        y = _run_rows(probe, rows_of(size), _probe_labels(probe, size), "probe")
        shapes[size] = tuple(y.shape)
    rests = {shape[1:] for shape in shapes.values()}
    consistent = len(rests) == 1 and all(s[:1] == (size,) for size, s in shapes.items())
    if not consistent:
        seen = ", ".join(f"{shape} at batch {size}" for size, shape in shapes.items())
        raise InputError(
            f"{probe.path.name}: its output's shape depends on the batch ({seen}; a "
            "squeeze() without an axis?); re-export it returning (N, ...) at every batch size"
        )
    return next(iter(rests))


def _ends_in(model: onnx.ModelProto, output: str) -> str | None:
    """The final activation, "tanh" or "sigmoid", when one computes the output (shape-only
    ops after it aside); None when another op does."""
    producers = {out: node for node in model.graph.node for out in node.output}
    node = producers.get(output)
    while node is not None and node.op_type in SHAPE_OPS:
        node = producers.get(node.input[0])
    return ENDINGS.get(node.op_type) if node is not None else None


def _check_values_in(y: np.ndarray, bounds: tuple[float, float], name: str, what: str) -> None:
    low, high = float(np.min(y)), float(np.max(y))
    if low < bounds[0] - 1e-5 or high > bounds[1] + 1e-5:
        raise InputError(
            f"{name}: its {what} lie in [{low:.3g}, {high:.3g}], outside "
            f"[{_number(bounds[0])}, {_number(bounds[1])}]; check --image-range/--d-output"
        )


def _precision(model: onnx.ModelProto) -> str:
    """fp16 when most float weights are float16."""
    counts = {onnx.TensorProto.FLOAT: 0, onnx.TensorProto.FLOAT16: 0}
    for tensor in model.graph.initializer:
        if tensor.data_type in counts:
            counts[tensor.data_type] += math.prod(tensor.dims)
    return "fp16" if counts[onnx.TensorProto.FLOAT16] > counts[onnx.TensorProto.FLOAT] else "fp32"


def _static_batch(dims: list[Any]) -> int | None:
    return dims[0] if dims and isinstance(dims[0], int) else None


# ---- the copy: the source graph, adapting nodes around it, metadata ---------------------


def adapted_model(probe: Probe) -> onnx.ModelProto:
    """The source graph with the contract's inputs and outputs, and ganport's metadata."""
    model = onnx.ModelProto()
    model.CopyFrom(probe.model)
    graph = model.graph
    wiring = _Wiring(graph)
    float_type = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(probe.io_dtype))
    main_name = "z" if probe.role == "generator" else "image"
    ios: list[tuple[str, str, list[_Step], bool]] = [
        (probe.main, main_name, _main_steps(probe), True)
    ]
    if probe.labels is not None:
        cast = [_Step("Cast", attrs={"to": onnx.TensorProto.INT32})]
        ios.append(
            (probe.labels, LABELS_INPUT, cast if probe.labels_dtype == "int32" else [], True)
        )
    ios.append((probe.output, probe.contract_output, _output_steps(probe), False))
    wiring.connect(ios)
    batch: int | str = probe.static_batch or BATCH
    initializers = {t.name for t in graph.initializer}
    kept_inputs = [v for v in graph.input if v.name in initializers]  # IR < 4 style weights
    new_inputs = [
        onnx.helper.make_tensor_value_info(main_name, float_type, [batch, *_main_dims(probe)])
    ]
    if probe.labels is not None:
        new_inputs.append(
            onnx.helper.make_tensor_value_info(LABELS_INPUT, onnx.TensorProto.INT64, [batch])
        )
    del graph.input[:]
    graph.input.extend([*new_inputs, *kept_inputs])
    del graph.output[:]
    graph.output.append(
        onnx.helper.make_tensor_value_info(
            probe.contract_output, float_type, [batch, *probe.out_rest]
        )
    )
    _fit_ir_version(model)
    meta = tag_metadata(probe, model)
    onnx.helper.set_model_props(model, {METADATA_KEY: meta.to_json()})
    model.doc_string = (
        f"ganport {probe.role} tagged from {probe.path.name}; metadata under '{METADATA_KEY}'"
    )
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise JobFailed(
            f"{probe.path.name}: the adapted copy fails onnx.checker ({first_line(exc)})"
        ) from exc
    return model


def tag_metadata(probe: Probe, model: onnx.ModelProto) -> ModelMetadata:
    """ganport's metadata for the copy of ``probe``'s source."""
    c, h, w = probe.image_shape
    return ModelMetadata(
        role=probe.role,
        arch=probe.path.stem,
        nz=probe.nz,
        channels=c,
        height=h,
        width=w,
        weights="raw",
        source_sha256=probe.sha256,
        precision=probe.precision,
        io_dtype=probe.io_dtype,
        static_batch=probe.static_batch,
        exporter="external",
        opset=_opset(model),
        ir_version=model.ir_version,
        output_range=CONTRACT_RANGE if probe.role == "generator" else None,
        classes=probe.classes,
        class_input="labels" if probe.labels is not None else "latent",
        d_output=probe.d_output if probe.role == "discriminator" else "logit",
        source_layout=probe.layout(),
        producer=_producer(),
    )


@dataclass(frozen=True)
class _Step:
    """One adapting node: ``op`` on the running value (and ``constant``, when given)."""

    op: str
    constant: np.ndarray | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


def _main_steps(probe: Probe) -> list[_Step]:
    """Contract input → source input."""
    if probe.role == "generator":
        axes = np.array([2, 3], np.int64)
        return [_Step("Unsqueeze", axes)] if probe.z_layout == Z_NCHW else []
    steps = []
    if probe.image_range != CONTRACT_RANGE:  # (x + 1) / 2
        one, two = np.array(1, probe.io_dtype), np.array(2, probe.io_dtype)
        steps += [_Step("Add", one), _Step("Div", two)]
    if probe.image_layout == IMAGE_FLAT:
        steps.append(_Step("Flatten", attrs={"axis": 1}))
    return steps


def _output_steps(probe: Probe) -> list[_Step]:
    """Source output → contract output."""
    if probe.role == "discriminator":
        if probe.score_shape == "(N,)":
            return []
        return [_Step("Flatten", attrs={"axis": 1}), _Step("Squeeze", np.array([1], np.int64))]
    steps = []
    if probe.image_layout == IMAGE_FLAT:
        steps.append(_Step("Reshape", np.array([-1, *probe.image_shape], np.int64)))
    if probe.image_range != CONTRACT_RANGE:  # 2x - 1
        one, two = np.array(1, probe.io_dtype), np.array(2, probe.io_dtype)
        steps += [_Step("Mul", two), _Step("Sub", one)]
    return steps


def _main_dims(probe: Probe) -> list[int]:
    return [probe.nz] if probe.role == "generator" else list(probe.image_shape)


class _Wiring:
    """Renames the source's inputs and outputs and adds the adapting nodes around them.

    An input or output whose name and layout already are the contract's is left as it is;
    the others move to fresh internal names, and a contract name that the source used for
    something internal moves out of the way first.
    """

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.used = set(_names(graph))
        self.before: list[onnx.NodeProto] = []
        self.after: list[onnx.NodeProto] = []

    def fresh(self, base: str) -> str:
        name, i = base, 0
        while name in self.used:
            i += 1
            name = f"{base}_{i}"
        self.used.add(name)
        return name

    def connect(self, ios: list[tuple[str, str, list[_Step], bool]]) -> None:
        """``ios``: (source name, contract name, steps, is input) for each input and output."""
        done = {contract for source, contract, steps, _ in ios if source == contract and not steps}
        internal = {}
        for source, contract, _, _ in ios:
            if contract not in done:
                internal[source] = self.fresh(f"{source}_source")
                _rename(self.graph, source, internal[source])
        present = set(_names(self.graph))
        for _, contract, _, _ in ios:
            if contract not in done and contract in present:
                moved = self.fresh(f"{contract}_inner")
                _rename(self.graph, contract, moved)
        for source, contract, steps, is_input in ios:
            if contract in done:
                continue
            if not steps:
                _rename(self.graph, internal[source], contract)
                self.used.add(contract)
                continue
            if is_input:
                self.before += self._chain(contract, steps, internal[source])
            else:
                self.after += self._chain(internal[source], steps, contract)
        nodes = [*self.before, *self.graph.node, *self.after]
        del self.graph.node[:]
        self.graph.node.extend(nodes)

    def _chain(self, start: str, steps: list[_Step], end: str) -> list[onnx.NodeProto]:
        nodes, value = [], start
        for i, step in enumerate(steps):
            inputs = [value]
            if step.constant is not None:
                const = self.fresh(f"tag_{step.op.lower()}_{end}")
                self.graph.initializer.append(onnx.numpy_helper.from_array(step.constant, const))
                inputs.append(const)
            output = end if i == len(steps) - 1 else self.fresh(f"tag_{step.op.lower()}_{end}_out")
            name = self.fresh(f"tag_{step.op}_{end}")
            nodes.append(onnx.helper.make_node(step.op, inputs, [output], name=name, **step.attrs))
            value = output
        self.used.add(end)
        return nodes


def _names(graph: onnx.GraphProto) -> Iterator[str]:
    """Every value and node name in ``graph`` and its subgraphs."""
    for value in [*graph.input, *graph.output, *graph.value_info]:
        yield value.name
    for tensor in graph.initializer:
        yield tensor.name
    for node in graph.node:
        yield node.name
        yield from node.input
        yield from node.output
        for attr in node.attribute:
            for sub in [attr.g, *attr.graphs] if attr.HasField("g") else attr.graphs:
                yield from _names(sub)


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename value ``old`` to ``new`` wherever ``graph`` (and its subgraphs) use it."""
    for value in [*graph.input, *graph.output, *graph.value_info]:
        if value.name == old:
            value.name = new
    for tensor in graph.initializer:
        if tensor.name == old:
            tensor.name = new
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
        for attr in node.attribute:
            for sub in [attr.g, *attr.graphs] if attr.HasField("g") else attr.graphs:
                _rename(sub, old, new)


def _fit_ir_version(model: onnx.ModelProto) -> None:
    """The lowest IR version the opsets need (DESIGN: portability), unless the graph uses
    something newer; then the source's own."""
    original = model.ir_version
    model.ir_version = min(original, ir_version_for(list(model.opset_import)))
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError:
        model.ir_version = original


# ---- writing and checking --------------------------------------------------------------


def _write_copy(probe: Probe, path: Path) -> TagResult:
    """Write the copy to a temporary name, check it against the source, rename it."""
    start = time.perf_counter()
    model = adapted_model(probe)
    meta = tag_metadata(probe, model)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
        report = check_copy(probe, tmp, meta)
        if not report.passed:
            raise JobFailed(
                f"{path.name}: the copy does not compute what {probe.path.name} does: "
                + "; ".join(report.problems)
            )
    return TagResult(path, meta, report, probe.summary(), time.perf_counter() - start)


def check_copy(probe: Probe, path: Path, meta: ModelMetadata) -> CheckReport:
    """Run source and copy on the same inputs at each batch size: the copy's output must be
    the source's through the adaptation, in the contract's shape."""
    session, _ = create_session(path, "cpu")
    try:
        check_contract(session, meta, probe.role, path.name)
    except InputError as exc:
        raise JobFailed(f"the copy breaks the runtime's contract: {exc}") from exc
    atol = EXACT[probe.io_dtype]
    report = CheckReport(atol=atol, symbolic_batch=probe.static_batch is None)
    sizes = [probe.static_batch] if probe.static_batch else list(CHECK_BATCH_SIZES)
    for size in sizes:
        main = _example_rows(probe, size)
        labels = _probe_labels(probe, size)
        want = probe.to_contract(_run_source(probe, main, labels, "check"))
        feeds = {meta.input_name: main.astype(probe.io_dtype)}
        if labels is not None:
            feeds[LABELS_INPUT] = labels
        try:
            (got,) = _run_quiet(session, feeds, meta.output_name)
        except JobFailed as exc:
            report.fail(f"at batch {size}: {exc}")
            continue
        expected = (size, *probe.out_rest)
        if got.shape != expected or want.shape != expected:
            report.fail(f"at batch {size} the copy returns {got.shape}, not {expected}")
            report.batches.append(BatchCheck(size, list(got.shape), math.inf, False))
            continue
        error = float(np.max(np.abs(got.astype(np.float64) - want))) if got.size else 0.0
        passed = bool(np.isfinite(got).all()) and error <= atol
        report.batches.append(BatchCheck(size, list(got.shape), error, passed))
        if not passed:
            report.fail(f"at batch {size} the copy differs from the source by {error:.3g}")
    return report


def _manifest(probes: list[Probe], results: list[TagResult]) -> Manifest:
    models = [_manifest_entry(result) for result in results]
    origins = {
        p.role: {
            "kind": "onnx",
            "file": str(p.path.resolve()),
            "sha256": p.sha256,
            "layout": p.layout(),
        }
        for p in probes
    }
    source = ManifestSource(
        checkpoint=None, sha256=probes[0].sha256, step=0, config={}, models=origins
    )
    return Manifest(source=source, weights="raw", models=models, versions=_producer())


def _manifest_entry(result: TagResult) -> ManifestModel:
    model = onnx.load(str(result.path), load_external_data=False)
    meta = result.metadata
    return ManifestModel(
        file=result.path.name,
        role=meta.role,
        sha256=sha256_file(result.path),
        size_bytes=result.path.stat().st_size,
        opset=meta.opset,
        ir_version=model.ir_version,
        exporter=meta.exporter,
        precision=meta.precision,
        static_batch=meta.static_batch,
        inputs=[_describe(v) for v in model.graph.input],
        outputs=[_describe(v) for v in model.graph.output],
        export_seconds=round(result.seconds, 3),
        checks=result.checks.to_dict(),
    )


def _describe(value: onnx.ValueInfoProto) -> dict[str, Any]:
    tensor = value.type.tensor_type
    return {
        "name": value.name,
        "shape": [d.dim_param or d.dim_value for d in tensor.shape.dim],
        "dtype": onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name,
    }


def _producer() -> dict[str, str]:
    return {"ganport": __version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__}


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _padded(rows: np.ndarray, size: int) -> np.ndarray:
    pad = np.zeros((size - len(rows), *rows.shape[1:]), rows.dtype)
    return np.concatenate([rows, pad])


def _number(value: float) -> str:
    return f"{value:g}"
