"""Export generators and discriminators: from a checkpoint, a checkpoint path, or your own
``nn.Module``, with ganport metadata inside and checks that run the model.

Each file is written to a temporary name, checked, and only then renamed into place, so a
failed export never leaves a file that looks complete.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from ganport.core.atomic import atomic_model_path
from ganport.core.classes import class_of_latent
from ganport.core.errors import InputError, JobFailed
from ganport.core.latent import latent
from ganport.core.manifest import ManifestModel, sha256_file
from ganport.core.metadata import METADATA_KEY, ModelMetadata
from ganport.export.checks import DEFAULT_BATCH_SIZES, CheckReport, check_export
from ganport.export.convert import (
    export_module,
    fit_ir_version,
    name_nodes,
    opset_of,
    save_onnx,
    to_float16,
)
from ganport.export.fold import fold_batchnorm
from ganport.export.quantize import (
    CALIBRATION_SEED,
    DEFAULT_CALIBRATION,
    DEFAULT_METHOD,
    int8_opset,
    quantize_int8,
)
from ganport.export.rewrite import (
    ClassInput,
    depth_to_space_dcr,
    gemm_stem,
    int8_form,
    mobile_form,
    reads_class_from_latent,
)
from ganport.export.runtimes import check_loadable
from ganport.export.targets import get_target
from ganport.export.targets.prepare import prepare_for_target
from ganport.infer.runtime.session import create_session
from ganport.train.adapt import (
    ContractDiscriminator,
    ContractGenerator,
    Hints,
    Layout,
    contract_module,
    probe_discriminator,
    probe_generator,
    probe_inputs,
)
from ganport.train.checkpoint import Checkpoint, load_checkpoint, versions
from ganport.train.own import contract_form

DEFAULT_OPSET = 18
DEFAULT_EXPORTER = "dynamo"


# An int8 generator's judge: (fp32 sampler, int8 sampler, metadata) → an object with
# ``passed``, ``problems`` and ``to_dict()``; infer.compare's Int8Judge is the one the CLI uses.
Sampler = Callable[[np.ndarray], np.ndarray]
Int8Judge = Callable[[Sampler, Sampler, ModelMetadata], Any]


@dataclass(frozen=True)
class ExportOptions:
    """How to export. ``static_batch`` fixes the batch size; ``fp16`` halves the weights;
    ``int8`` quantizes them (``calibration`` samples, ``calibration_method``), and
    ``int8_judge`` compares an int8 generator's samples with the fp32 model's."""

    opset: int = DEFAULT_OPSET
    exporter: str = DEFAULT_EXPORTER
    fp16: bool = False
    int8: bool = False
    calibration: int = DEFAULT_CALIBRATION
    calibration_method: str = DEFAULT_METHOD
    int8_judge: Int8Judge | None = None
    gemm_stem: bool = True  # a DCGAN G's first ConvTranspose as Gemm + Reshape (rewrite.py)
    static_batch: int | None = None
    weights: str = "ema"
    check: bool = True
    check_batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    fold_batchnorm: bool = True
    oldest_onnxruntime: str | None = None  # refuse what this release could not load
    target: str | None = None  # a runtime to prepare for (ganport.export.targets)
    # every op in what NNAPI and CoreML run (rewrite.mobile_form); a conditional G of
    # ganport's then takes its class as a labels input (rewrite.ClassInput)
    mobile_form: bool = False
    external_data: bool = False  # weights in FILE.onnx.data beside it (always past 1 GiB)


@dataclass
class ExportResult:
    """One exported file: where it is, what it is, and what its checks found."""

    path: Path
    metadata: ModelMetadata
    checks: CheckReport | None
    seconds: float
    target: dict[str, Any] | None = None  # the file written for --target and its check

    def describe(self) -> ManifestModel:
        """The manifest entry for this file."""
        model = onnx.load(str(self.path), load_external_data=False)
        return ManifestModel(
            file=self.path.name,
            role=self.metadata.role,
            sha256=sha256_file(self.path),
            size_bytes=self.path.stat().st_size,
            opset=self.metadata.opset,
            ir_version=model.ir_version,
            exporter=self.metadata.exporter,
            precision=self.metadata.precision,
            static_batch=self.metadata.static_batch,
            inputs=[_describe_value(v) for v in model.graph.input],
            outputs=[_describe_value(v) for v in model.graph.output],
            export_seconds=round(self.seconds, 3),
            checks=self.checks.to_dict() if self.checks else None,
            quantization=self.metadata.quantization or None,
            target=self.target,
            external_data=_external_data(self.path),
        )


def export_generator(
    source: Checkpoint | str | os.PathLike[str] | nn.Module,
    path: str | os.PathLike[str],
    *,
    nz: int | None = None,
    hints: Hints | None = None,
    source_sha256: str = "",
    options: ExportOptions | None = None,
    **option_overrides: Any,
) -> ExportResult:
    """Export a generator (z (batch, nz) → image (batch, C, H, W)) to ``path``.

    ``source`` is a checkpoint (object or path) or your own module. A module is run first to
    find how it lays out z, labels and images (``hints`` say what cannot be found; ``nz``
    is ``hints.nz``); the export wraps it to ganport's contract and records its layout, and
    ``source_sha256`` (its weights file's) names what it was built from.
    """
    options = _options(options, option_overrides)
    module, base = _generator_source(source, nz, hints, options.weights)
    found = base.pop("found", None)
    if found is not None and not base.get("source_sha256"):
        base["source_sha256"] = source_sha256
    n = max(options.check_batch_sizes)
    examples = (
        probe_inputs(found, n)
        if found is not None
        else (torch.from_numpy(latent(n, base["nz"], seed=0)),)
    )
    if options.mobile_form:
        module, base, examples = _class_as_input(module, base, examples, options.int8)
    with torch.no_grad():
        shape = tuple(module(*(x[:1] for x in examples)).shape[1:])
    if len(shape) != 3:
        raise InputError(f"generator output has shape (batch, {shape}); expected (batch, C, H, W)")
    meta = ModelMetadata(
        role="generator",
        channels=shape[0],
        height=shape[1],
        width=shape[2],
        output_range=(-1.0, 1.0),
        **base,
        **_variant(options),
    )
    calibration = latent(options.calibration, base["nz"], seed=CALIBRATION_SEED)
    return _export(module, examples, Path(path), meta, options, calibration)


def export_discriminator(
    source: Checkpoint | str | os.PathLike[str] | nn.Module,
    path: str | os.PathLike[str],
    *,
    image_shape: tuple[int, int, int] | None = None,
    hints: Hints | None = None,
    source_sha256: str = "",
    check_images: np.ndarray | torch.Tensor | None = None,
    options: ExportOptions | None = None,
    **option_overrides: Any,
) -> ExportResult:
    """Export a discriminator (image (batch, C, H, W) → logit (batch,)) to ``path``.

    The post-export check feeds real images and generator samples (``check_images``, or
    taken from the checkpoint's data set and G). A module is run first to find its input
    layout, labels and whether it ends in a sigmoid (``hints`` and ``image_shape``, e.g.
    its generator's, say what cannot be found).
    """
    options = _options(options, option_overrides)
    ckpt = _as_checkpoint(source)
    labels: tuple[torch.Tensor, ...] = ()
    if ckpt is not None:
        module = contract_form(ckpt.discriminator())
        shape = ckpt.config.model.image_shape
        base = _checkpoint_fields(ckpt, "raw") | _own_fields(module)
        if "found" in base:
            labels = probe_inputs(base.pop("found"), max(options.check_batch_sizes))[1:]
        if check_images is None:
            check_images = discriminator_check_images(ckpt, max(options.check_batch_sizes))
        calibration = (
            discriminator_check_images(ckpt, options.calibration, seed=CALIBRATION_SEED, last=True)
            if options.int8
            else None
        )
    else:
        module, base = _user_discriminator(source, image_shape, hints)
        shape, calibration = base.pop("image_shape"), None
        base["source_sha256"] = source_sha256
        labels = probe_inputs(base.pop("found"), max(options.check_batch_sizes))[1:]
    n = max(options.check_batch_sizes)
    if check_images is None:
        check_images = np.random.default_rng(0).uniform(-1, 1, (n, *shape)).astype(np.float32)
    images = torch.as_tensor(np.asarray(check_images, dtype=np.float32))[:n]
    if images.shape[0] < n:
        images = images.repeat((n + images.shape[0] - 1) // images.shape[0], 1, 1, 1)[:n]
    meta = ModelMetadata(
        role="discriminator",
        channels=shape[0],
        height=shape[1],
        width=shape[2],
        output_range=None,
        **base,
        **_variant(options),
    )
    if calibration is None:  # your own D: calibrated on the images it is checked with
        calibration = np.asarray(check_images, dtype=np.float32)
    return _export(module, (images, *labels), Path(path), meta, options, calibration)


def discriminator_check_images(
    ckpt: Checkpoint, n: int, seed: int = 1, last: bool = False
) -> np.ndarray:
    """Half real images from the run's data set, half G_ema samples: what D really sees.

    The real images are the data set's first ``n // 2`` (its last with ``last``: int8
    calibration takes those, so it never sees the images the checks run on).
    """
    from ganport.train.data import load_dataset

    model = ckpt.config.model
    with torch.no_grad():
        fake = ckpt.generator()(torch.from_numpy(latent(n, model.nz, seed=seed))).numpy()
    try:
        images = load_dataset(ckpt.config.data, model.image_size, model.channels).images
    except InputError:
        return fake  # the training data is not on this machine: G samples only
    real = images[len(images) - n // 2 :] if last else images[: n // 2]
    mixed = fake.copy()
    mixed[0::2][: len(real)] = real.numpy()[: len(mixed[0::2])]
    return mixed


def _export(
    module: nn.Module,
    examples: tuple[torch.Tensor, ...],
    path: Path,
    meta: ModelMetadata,
    options: ExportOptions,
    calibration: np.ndarray,
) -> ExportResult:
    if options.int8 and meta.takes_labels:
        raise InputError(
            f"{path.name}: int8 export of a model with a labels input is not supported; "
            "export it in fp32 or fp16"
        )
    module = module.eval()
    exported, rewrites = _rewritten(module, options)
    target = options.target if options.target and get_target(options.target).takes(options) else ""
    meta = dataclasses.replace(meta, rewrites=rewrites, target=target)
    opset, opset_note = (
        int8_opset(options.opset, options.oldest_onnxruntime)
        if options.int8
        else (options.opset, "")
    )
    start = time.perf_counter()
    with atomic_model_path(path) as tmp:
        model = export_module(
            exported,
            examples,
            tmp,
            meta.input_names,
            meta.output_name,
            opset=opset,
            exporter=options.exporter,
            static_batch=options.static_batch,
        )
        model, meta = _precision_form(model, meta, options, calibration, opset_note)
        fit_ir_version(model)
        meta = dataclasses.replace(meta, opset=opset_of(model), ir_version=model.ir_version)
        onnx.helper.set_model_props(model, {METADATA_KEY: meta.to_json()})
        model.doc_string = f"ganport {meta.role} ({meta.arch}); metadata under '{METADATA_KEY}'"
        save_onnx(model, tmp, external_data=options.external_data)
        seconds = time.perf_counter() - start
        report = None
        if options.check:
            report = _run_checks(module, examples, tmp, meta, options)
            if not report.passed:
                raise JobFailed(
                    f"export check failed for {path.name}: {'; '.join(report.problems)}"
                )
        prepared = _prepare_target(module, examples, tmp, path, meta, options) if target else None
    return ExportResult(path=path, metadata=meta, checks=report, seconds=seconds, target=prepared)


def _precision_form(
    model: onnx.ModelProto,
    meta: ModelMetadata,
    options: ExportOptions,
    calibration: np.ndarray,
    opset_note: str,
) -> tuple[onnx.ModelProto, ModelMetadata]:
    """The exported graph in the form and precision asked for: DepthToSpace in the mobile
    form's mode, float16, or int8 (its quantization recorded in the metadata)."""
    if options.mobile_form:
        depth_to_space_dcr(model)
    if options.fp16:
        name_nodes(model)
        model = to_float16(model, keep_float32=_precise_nodes(model, meta.role))
    if options.int8:
        name_nodes(model)
        model, quantization = quantize_int8(
            model,
            calibration,
            method=options.calibration_method,
            calibration_data=_calibration_data(meta),
            keep_float=_int8_float_nodes(model, meta.role),
            opset_note=opset_note,
        )
        meta = dataclasses.replace(meta, quantization=quantization.to_dict())
    return model, meta


def _rewritten(module: nn.Module, options: ExportOptions) -> tuple[nn.Module, list[str]]:
    """The module the exporter traces: BatchNorm folded, and the exact rewrites that make
    ONNX Runtime faster (``rewrite.py``), named for the metadata."""
    exported = fold_batchnorm(module) if options.fold_batchnorm else module
    rewrites: list[str] = []
    if options.gemm_stem and gemm_stem(exported) is not exported:
        exported, rewrites = gemm_stem(exported), ["gemm stem"]
    if options.mobile_form:
        exported, more = mobile_form(exported)
        rewrites += more
    if options.int8:
        exported, more = int8_form(exported)
        rewrites += more
    return exported, rewrites


def _class_as_input(
    module: nn.Module, base: dict[str, Any], examples: tuple[torch.Tensor, ...], int8: bool
) -> tuple[nn.Module, dict[str, Any], tuple[torch.Tensor, ...]]:
    """A conditional generator of ganport's with its class as a ``labels`` input
    (``rewrite.ClassInput``), checked on the class each check latent's z[:, 0] selects;
    any other generator as it is."""
    if not reads_class_from_latent(module):
        return module, base, examples
    if int8:
        raise InputError(
            "int8 export of a conditional generator in the mobile form (--target ort-mobile) "
            "is not supported: that form takes the class as a labels input, which int8 export "
            "does not calibrate; export it without --int8"
        )
    z = examples[0]
    labels = class_of_latent(z.numpy(), base["classes"], base.get("class_shares"))
    return ClassInput(module), {**base, "class_input": "labels"}, (z, torch.from_numpy(labels))


def _precise_nodes(model: onnx.ModelProto, role: str) -> list[str]:
    """Nodes an fp16 export keeps in float32, by measurement.

    A trained D loses about 1% of its logits' scale in float16, all of it from rounding the
    weights. In a DCGAN D, keeping the first convolution (one input channel: a few percent
    of the weights and the work) in float32 removes a third of that (0.030 → 0.019 on the
    default run). An MLP D's first layer holds most of its weights and keeping it gains
    nothing (0.0015 → 0.0014), and no single layer of G matters: those stay float16.
    """
    if role != "discriminator":
        return []
    weighted = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    return [weighted[0].name] if weighted and weighted[0].op_type == "Conv" else []


def _int8_float_nodes(model: onnx.ModelProto, role: str) -> list[str]:
    """Nodes an int8 export keeps in float32 besides the class rule, by measurement on the
    default run (README, int8 export).

    G: its first weighted layer (and the image layer, a ConvTranspose). The first reads z
    (about ±4.5) and the class one-hot through one uint8 scale; quantized it moved FID
    0.526 → 0.549 and class-as-asked 98.2 → 97.9 %, float (a fraction of a percent of G's
    work) 0.525 and 98.15 %. D: its last layer, which
    writes the logit: quantized, logits beyond the calibration range are clipped (max error
    3.7 on logits of RMS 3.8); float, 0.58, and 99.85 % of real/fake decisions unchanged.
    """
    weighted = [n.name for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    if not weighted:
        return []
    if role != "generator":
        return [weighted[-1]]
    # A ConvTranspose left by the int8 rewrites (the image layer) has no int8 kernel: ORT
    # would run it in float on weights dequantized at every call.
    transposed = [n.name for n in model.graph.node if n.op_type == "ConvTranspose"]
    return [weighted[0], *transposed]


def _calibration_data(meta: ModelMetadata) -> str:
    if meta.role == "generator":
        return f"latent-convention z, seed {CALIBRATION_SEED}"
    source = meta.dataset or "the check images"
    return f"half real images of {source} (its last), half G_ema samples (seed {CALIBRATION_SEED})"


def _torch_reference(module: nn.Module) -> Callable[..., np.ndarray]:
    def reference(*xs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(*(torch.from_numpy(x) for x in xs)).numpy()

    return reference


def _check_inputs(examples: tuple[torch.Tensor, ...], options: ExportOptions) -> list[np.ndarray]:
    inputs = [x.numpy() for x in examples]
    if options.static_batch and len(inputs[0]) < options.static_batch:
        inputs = [np.resize(x, (options.static_batch, *x.shape[1:])) for x in inputs]
    return inputs


def _run_checks(
    module: nn.Module,
    examples: tuple[torch.Tensor, ...],
    path: Path,
    meta: ModelMetadata,
    options: ExportOptions,
) -> CheckReport:
    reference = _torch_reference(module)
    report = check_export(
        path,
        reference,
        _check_inputs(examples, options),
        precision=meta.precision,
        static_batch=options.static_batch,
        batch_sizes=options.check_batch_sizes,
    )
    if options.int8 and meta.role == "generator" and report.passed and options.int8_judge:
        session, _ = create_session(path, "cpu")

        def candidate(z: np.ndarray) -> np.ndarray:
            return session.run(None, {meta.input_name: z})[0]

        verdict = options.int8_judge(reference, candidate, meta)
        report.distribution = verdict.to_dict()
        for problem in verdict.problems:
            report.fail(f"int8 against fp32 on the feature network: {problem}")
    return report


def _prepare_target(
    module: nn.Module,
    examples: tuple[torch.Tensor, ...],
    tmp: Path,
    path: Path,
    meta: ModelMetadata,
    options: ExportOptions,
) -> dict[str, Any]:
    """Convert the checked file for ``options.target`` and run it there; a failed run fails
    the export, as a failed ONNX check does."""
    return prepare_for_target(
        options.target,
        options.check,
        tmp,
        path,
        _torch_reference(module),
        _check_inputs(examples, options),
        precision=meta.precision,
        static_batch=options.static_batch,
        batch_sizes=options.check_batch_sizes,
    )


def _options(options: ExportOptions | None, overrides: dict[str, Any]) -> ExportOptions:
    try:
        chosen = dataclasses.replace(options or ExportOptions(), **overrides)
    except TypeError as exc:
        raise InputError(f"unknown export option ({exc})") from exc
    if chosen.int8 and chosen.fp16:
        raise InputError("an export is fp16 or int8, not both (export_checkpoint writes each)")
    if chosen.int8 and chosen.calibration < 1:
        raise InputError(f"int8 calibration needs at least 1 sample, not {chosen.calibration}")
    if chosen.oldest_onnxruntime:
        check_loadable(chosen.opset, chosen.oldest_onnxruntime)
    return chosen


def _variant(options: ExportOptions) -> dict[str, Any]:
    return {
        "precision": "int8" if options.int8 else "fp16" if options.fp16 else "fp32",
        "static_batch": options.static_batch,
        "exporter": options.exporter,
        "producer": {**versions(), "onnx": onnx.__version__},
    }


def _as_checkpoint(source: Any) -> Checkpoint | None:
    if isinstance(source, Checkpoint):
        return source
    if isinstance(source, str | os.PathLike):
        return load_checkpoint(source)
    return None


def _checkpoint_fields(ckpt: Checkpoint, weights: str) -> dict[str, Any]:
    model = ckpt.config.model
    return {
        "arch": model.arch,
        "nz": model.nz,
        "classes": model.classes,
        "class_source": model.class_source,
        "class_shares": model.class_shares,
        "dataset": ckpt.config.data,
        "training_step": ckpt.step,
        "weights": weights,
        "source_sha256": ckpt.sha256,
        "model_config": dataclasses.asdict(model),
    }


def _generator_source(
    source: Any, nz: int | None, hints: Hints | None, weights: str
) -> tuple[nn.Module, dict[str, Any]]:
    if weights not in ("ema", "raw"):
        raise InputError(f"weights must be 'ema' or 'raw', not {weights!r}")
    ckpt = _as_checkpoint(source)
    if ckpt is not None:
        module = contract_form(ckpt.generator(ema=weights == "ema"))
        return module, _checkpoint_fields(ckpt, weights) | _own_fields(module)
    if not isinstance(source, nn.Module):
        raise InputError(
            f"cannot export {type(source).__name__}: give a checkpoint or an nn.Module"
        )
    hints = hints or Hints()
    if nz is not None:
        hints = dataclasses.replace(hints, nz=nz)
    elif hints.nz is None and getattr(source, "nz", None):
        hints = dataclasses.replace(hints, nz=int(source.nz))
    found = probe_generator(source, hints)
    return contract_module(source, found), _user_fields(source, found)


def _user_discriminator(
    source: Any, image_shape: tuple[int, int, int] | None, hints: Hints | None
) -> tuple[nn.Module, dict[str, Any]]:
    if not isinstance(source, nn.Module):
        raise InputError(
            f"cannot export {type(source).__name__}: give a checkpoint or an nn.Module"
        )
    found = probe_discriminator(source, hints or Hints(), image_shape)
    fields = _user_fields(source, found)
    return contract_module(source, found), {**fields, "image_shape": found.image_shape}


def _own_fields(module: nn.Module) -> dict[str, Any]:
    """A trained own model's layout fields (see ``_user_fields``), none for ganport's."""
    if not isinstance(module, ContractGenerator | ContractDiscriminator):
        return {}
    fields = _user_fields(module.model, module.found)
    del fields["arch"], fields["nz"], fields["weights"]
    if module.found.role == "generator":
        fields["nz"] = module.found.nz
    return fields


def _user_fields(source: nn.Module, found: Layout) -> dict[str, Any]:
    """Metadata of a model written elsewhere: its class, layout, classes and output kind."""
    fields: dict[str, Any] = {
        "arch": type(source).__name__,
        "nz": found.nz or 1,
        "weights": "raw",
        "source_layout": found.to_dict(),
        "found": found,
    }
    if found.classes:
        fields |= {"classes": found.classes, "class_input": "labels"}
    if found.role == "discriminator":
        fields["d_output"] = found.d_output
    return fields


def _external_data(path: Path) -> dict[str, Any] | None:
    """The manifest's record of the weights file beside ``path``, if it has one."""
    data = path.with_name(f"{path.name}.data")
    if not data.is_file():
        return None
    return {"file": data.name, "sha256": sha256_file(data), "size_bytes": data.stat().st_size}


def _describe_value(value: onnx.ValueInfoProto) -> dict[str, Any]:
    tensor = value.type.tensor_type
    dims = [d.dim_param or d.dim_value for d in tensor.shape.dim]
    return {
        "name": value.name,
        "shape": dims,
        "dtype": onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name,
    }
