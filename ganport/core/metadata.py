"""The ``ganport`` metadata object stored inside every exported ONNX model.

One JSON object under the key ``ganport`` of the model's ``metadata_props``: a runtime
with no checkpoint and no torch learns from it alone what the model is and how to feed
it. Written by export/, read here with onnxruntime only.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from ganport.core.classes import check_shares
from ganport.core.errors import InputError

METADATA_KEY = "ganport"
FORMAT_VERSION = 1
ROLES = ("generator", "discriminator")
INPUT_NAMES = {"generator": "z", "discriminator": "image"}
OUTPUT_NAMES = {"generator": "image", "discriminator": "logit"}
LABELS_INPUT = "labels"  # the second input (int64, (batch,)) of a model with class_input "labels"
# How a conditional model learns its class: ganport's own read it from z[:, 0] ("latent");
# most user code takes it as a second input ("labels").
CLASS_INPUTS = ("latent", "labels")
# What a discriminator outputs: a logit (ganport's own), or a probability (a user's D that
# ends in a sigmoid keeps it; its output is then named "probability").
D_OUTPUTS = ("logit", "probability")


@dataclass(frozen=True)
class ModelMetadata:
    """What an exported model is. ``static_batch`` is None for a symbolic batch axis;
    ``classes`` > 0: a class-conditional generator whose class z[:, 0] selects."""

    role: str
    arch: str
    nz: int
    channels: int
    height: int
    width: int
    dataset: str = ""
    training_step: int = 0
    weights: str = "ema"
    source_sha256: str = ""
    precision: str = "fp32"
    io_dtype: str = "float32"
    static_batch: int | None = None
    exporter: str = ""
    opset: int = 0
    ir_version: int = 0
    output_range: tuple[float, float] | None = (-1.0, 1.0)
    classes: int = 0
    class_source: str = "labels"  # or "clusters": modes of unlabelled data, not its labels
    # how often z[:, 0] draws each class (ganport.core.classes); None: equally often
    class_shares: tuple[float, ...] | None = None
    class_input: str = "latent"  # CLASS_INPUTS; "labels": a second input LABELS_INPUT
    d_output: str = "logit"  # D_OUTPUTS (discriminators)
    # a model written elsewhere: its layout as written (z, image, range, output shape), which
    # the exported graph adapts to the contract; empty for ganport's own models
    source_layout: dict[str, Any] = field(default_factory=dict)
    model_config: dict[str, Any] = field(default_factory=dict)
    # exact graph rewrites the exporter applied (ganport.export.rewrite), e.g. "gemm stem"
    rewrites: list[str] = field(default_factory=list)
    # precision "int8": how it was quantized (method, calibration, what stayed float)
    quantization: dict[str, Any] = field(default_factory=dict)
    # the runtime this file was prepared for (``ganport export --target``), "" for none
    target: str = ""
    producer: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def input_name(self) -> str:
        return INPUT_NAMES[self.role]

    @property
    def input_names(self) -> list[str]:
        """Every graph input, in order: the main one, then ``labels`` when the model has it."""
        return [self.input_name, LABELS_INPUT] if self.takes_labels else [self.input_name]

    @property
    def takes_labels(self) -> bool:
        return self.class_input == "labels"

    @property
    def output_name(self) -> str:
        if self.role == "discriminator" and self.d_output == "probability":
            return "probability"
        return OUTPUT_NAMES[self.role]

    @property
    def labelled_classes(self) -> int:
        """The classes that are the data's labels (what a classifier of the data can check
        a sample against): ``classes``, or 0 when they are k-means modes."""
        return self.classes if self.class_source == "labels" else 0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "model") -> ModelMetadata:
        """Parse and validate; every problem is an InputError naming what is wrong."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{source}: '{METADATA_KEY}' metadata is not valid JSON ({exc})"
            ) from exc
        if not isinstance(data, dict):
            raise InputError(f"{source}: '{METADATA_KEY}' metadata is not a JSON object")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise InputError(
                f"{source}: metadata format version {version!r} is not supported "
                f"(this ganport reads version {FORMAT_VERSION})"
            )
        # Fields a newer exporter added within the same format version only inform: a
        # runtime that does not know them still has all it needs.
        names = {f.name for f in dataclasses.fields(cls)}
        data = {name: value for name, value in data.items() if name in names}
        if isinstance(data.get("output_range"), list):
            data["output_range"] = tuple(data["output_range"])
        elif data.get("output_range") is not None:
            raise InputError(f"{source}: metadata output_range must be [low, high]")
        if isinstance(data.get("class_shares"), list):
            data["class_shares"] = tuple(data["class_shares"])
        try:
            meta = cls(**data)
        except TypeError as exc:
            raise InputError(f"{source}: incomplete ganport metadata ({exc})") from exc
        meta.validate(source)
        return meta

    def validate(self, source: str = "model") -> None:
        """Every field within what a consumer can use; an InputError names the first that
        is not."""
        if self.role not in ROLES:
            raise InputError(f"{source}: metadata role {self.role!r} is not one of {ROLES}")
        self._validate_shape(source)
        self._validate_classes(source)
        self._validate_io(source)

    def _validate_shape(self, source: str) -> None:
        for name in ("nz", "channels", "height", "width"):
            value = getattr(self, name)
            if not _positive_int(value):
                raise InputError(
                    f"{source}: metadata {name} must be a positive integer, not {value!r}"
                )
        if self.static_batch is not None and not _positive_int(self.static_batch):
            raise InputError(
                f"{source}: metadata static_batch must be null or a positive integer, "
                f"not {self.static_batch!r}"
            )
        if self.output_range is not None and not (
            len(self.output_range) == 2
            and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in self.output_range
            )
            and self.output_range[0] < self.output_range[1]
        ):
            raise InputError(
                f"{source}: metadata output_range must be [low, high], not {self.output_range!r}"
            )

    def _validate_classes(self, source: str) -> None:
        if not _is_int(self.classes) or self.classes < 0 or self.classes == 1:
            raise InputError(
                f"{source}: metadata classes must be 0 or at least 2, not {self.classes!r}"
            )
        if self.class_source not in ("labels", "clusters"):
            raise InputError(
                f"{source}: metadata class_source {self.class_source!r} is not labels/clusters"
            )
        if self.class_shares is not None and not isinstance(self.class_shares, tuple):
            raise InputError(f"{source}: metadata class_shares must be a list of numbers")
        check_shares(self.classes, self.class_shares, source)
        if self.class_shares is not None and self.class_source != "clusters":
            raise InputError(f"{source}: metadata class_shares are for modes (clusters) only")
        if self.class_input not in CLASS_INPUTS:
            raise InputError(
                f"{source}: metadata class_input {self.class_input!r} is not one of {CLASS_INPUTS}"
            )
        if self.takes_labels and self.classes < 2:
            raise InputError(f"{source}: a model with a labels input needs classes >= 2")

    def _validate_io(self, source: str) -> None:
        if self.d_output not in D_OUTPUTS:
            raise InputError(
                f"{source}: metadata d_output {self.d_output!r} is not one of {D_OUTPUTS}"
            )
        if self.d_output != "logit" and self.role != "discriminator":
            raise InputError(f"{source}: only a discriminator outputs a {self.d_output}")
        if not isinstance(self.source_layout, dict):
            raise InputError(f"{source}: metadata source_layout must be a JSON object")
        if self.io_dtype not in ("float32", "float16"):
            raise InputError(
                f"{source}: metadata io_dtype {self.io_dtype!r} is not float32/float16"
            )


def _is_int(value: Any) -> bool:
    """An int, not a bool (JSON's true is not a count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: Any) -> bool:
    return _is_int(value) and value >= 1


def session_metadata(session: Any, source: str = "model") -> ModelMetadata:
    """The ganport object of an onnxruntime session's model (see ``metadata_from_map``).

    onnxruntime hands metadata over as Python strings; bytes that are not UTF-8 (a damaged
    file) fail in that conversion, so they are reported like any other bad metadata.
    """
    try:
        props = session.get_modelmeta().custom_metadata_map
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source}: the model's metadata is not valid UTF-8 ({exc.reason})"
        ) from exc
    return metadata_from_map(props, source)


def metadata_from_map(props: dict[str, str], source: str = "model") -> ModelMetadata:
    """Read the ganport object from a model's metadata map (ONNX or onnxruntime's)."""
    if METADATA_KEY not in props:
        raise InputError(
            f"{source}: no '{METADATA_KEY}' metadata in this ONNX model; "
            "export it with `ganport export`"
        )
    return ModelMetadata.from_json(props[METADATA_KEY], source)
