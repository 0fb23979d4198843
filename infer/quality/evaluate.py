"""How good is a generator? Offline sample quality with reference points.

Samples a generator (an exported .onnx through ONNX Runtime, or a checkpoint through
torch), embeds the samples with a classifier trained here on the real data
(feature_net.py) and measures them against that data set's real images with
metrics.py: FID, KID, classifier score, class histogram, precision/recall.

A bare number says little, so every figure comes with two reference points from the
same network and the same real reference set: the *floor*, real held-out images the
feature network never saw (what a perfect generator would score), and the *ceiling*,
uniform noise images (what a useless one scores).

Part of infer's comparison half: torch and train are imported inside functions, and
nothing in the runtime imports this module, so the runtime stays torch-free.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganport.core.errors import InputError, JobFailed
from ganport.core.progress import progress

if TYPE_CHECKING:  # train (torch) is imported only inside functions at run time
    from ganport.infer.quality.feature_net import TrainedFeatureNet
    from ganport.train.data import Dataset

MIN_SAMPLES = 50  # below this, FID's covariance and the k-NN radii mean little


@dataclass(frozen=True)
class Figures:
    """Every metric for one set of images, measured against the real reference set."""

    n: int
    fid: float
    kid_mean: float
    kid_std: float
    classifier_score: float
    classes_covered: int
    class_histogram: list[float]
    precision: float
    recall: float
    class_agreement: float | None = None  # labelled images only: see quality.class_agreement


@dataclass
class Evaluation:
    """The result of ``evaluate``: the model's figures beside the floor and the ceiling.

    ``model_matched`` is the model on its first ``floor.n`` samples: FID and recall
    depend on the number of samples, so that column compares with the floor like for like.
    """

    generator: str
    source: str  # "onnx" or "checkpoint"
    provider: str
    data: str
    image_shape: tuple[int, int, int]
    n: int
    seed: int
    reference_size: int
    n_classes: int
    model: Figures
    model_matched: Figures
    floor: Figures
    ceiling: Figures
    feature_net: dict[str, Any]
    versions: dict[str, str]
    seconds: dict[str, float]

    @property
    def fid_position(self) -> float:
        """Where the model's FID lies from floor (0) to ceiling (1); ≤ 0.1 is 10× closer
        to real data than to noise."""
        return (self.model.fid - self.floor.fid) / (self.ceiling.fid - self.floor.fid)

    def to_dict(self) -> dict[str, Any]:
        """Every figure, as plain JSON-ready data (the ``--json`` report)."""
        return {**dataclasses.asdict(self), "fid_position": self.fid_position}


@dataclass(frozen=True)
class _Source:
    """A generator opened for sampling, whichever format it came in."""

    kind: str
    provider: str
    image_shape: tuple[int, int, int]
    data: str
    nz: int
    classes: int
    batches: Callable[[int, int], Iterator[np.ndarray]]  # (n, seed) → the samples' batches
    versions: dict[str, str]  # of the runtime that samples, beyond torch's and numpy's


def evaluate(
    generator_source: str | os.PathLike[str],
    data: str | None = None,
    n: int = 10_000,
    provider: str = "auto",
    seed: int = 0,
    feature_net: TrainedFeatureNet | str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 500,
) -> Evaluation:
    """Measure ``n`` samples of seed ``seed`` against the real data set ``data``.

    ``data`` defaults to the data set the model was trained on (ONNX metadata or
    checkpoint config). ``feature_net`` is a ``TrainedFeatureNet``, a path to a saved
    one, or None for the cached network of this data set (trained on first use in
    ``cache_dir``, default the user's cache folder). ``provider`` picks ONNX Runtime's
    provider for an .onnx and the torch device (auto, cpu, cuda) for a checkpoint.
    """
    if n < MIN_SAMPLES:
        raise InputError(f"evaluate needs at least {MIN_SAMPLES} samples, not {n}")
    started = time.perf_counter()
    source = _open(Path(generator_source), provider, batch_size)
    data = data or source.data
    dataset = _real_images(generator_source, source, data)
    net = _feature_net(feature_net, dataset, cache_dir)
    opened = time.perf_counter()

    fakes = _sample(source, n, seed)
    sampled = time.perf_counter()

    figures = _measure(net, dataset, fakes, _asked_classes(source, n, seed), seed)
    done = time.perf_counter()
    return Evaluation(
        generator=str(generator_source),
        source=source.kind,
        provider=source.provider,
        data=data,
        image_shape=source.image_shape,
        n=n,
        seed=seed,
        reference_size=len(net.reference_indices()),
        n_classes=net.n_classes,
        **figures,
        feature_net=_described(net),
        versions=_versions(source),
        seconds={
            "load": opened - started,
            "sample": sampled - opened,
            "metrics": done - sampled,
            "total": done - started,
        },
    )


def _real_images(generator_source: object, source: _Source, data: str | None) -> Dataset:
    """The real data set the samples are measured against, at the samples' shape."""
    from ganport.train.data import load_dataset

    channels, height, width = source.image_shape
    if height != width:
        raise InputError(f"{generator_source}: images are {height}×{width}; evaluate needs square")
    if not data:
        raise InputError(
            f"{generator_source}: the model names no training data (a model written "
            "elsewhere does not); pass --data mnist5k, digits or a file of its real images: "
            "evaluate trains its feature network on them"
        )
    return load_dataset(data, height, channels)


def _measure(
    net: TrainedFeatureNet,
    dataset: Dataset,
    fakes: np.ndarray,
    asked: np.ndarray | None,
    seed: int,
) -> dict[str, Figures]:
    """The figures of the samples (all, and as many as the floor), of the floor (real
    held-out images) and of the ceiling (uniform noise), against the real reference set."""
    _, held_out = net.split()
    reference = net.embed(dataset.images[net.reference_indices()], "features: real reference")
    reference = reference.features
    noise = np.random.default_rng(seed).uniform(-1, 1, fakes.shape).astype(np.float32)
    model = net.embed(fakes, "features: samples")
    matched = len(held_out)
    real = net.embed(dataset.images[held_out], "features: real held-out")
    uniform = net.embed(noise, "features: noise")
    return {
        "model": _figures(model.features, model.probs, reference, seed, asked),
        "model_matched": _figures(
            model.features[:matched],
            model.probs[:matched],
            reference,
            seed,
            None if asked is None else asked[:matched],
        ),
        "floor": _figures(real.features, real.probs, reference, seed, _labels(dataset, held_out)),
        "ceiling": _figures(uniform.features, uniform.probs, reference, seed),
    }


def _described(net: TrainedFeatureNet) -> dict[str, Any]:
    """The feature network as the report names it."""
    return {
        "path": str(net.path) if net.path else None,
        "test_accuracy": net.test_accuracy,
        "held_out": len(net.split()[1]),
        "n_classes": net.n_classes,
        "seed": net.seed,
        "train_seconds": net.train_seconds,
        "trained_now": net.trained_now,
    }


def _versions(source: _Source) -> dict[str, str]:
    """The versions behind the figures: torch's, numpy's, scipy's and the sampler's."""
    import scipy

    from ganport.train.checkpoint import versions

    return {**versions(), "scipy": scipy.__version__, **source.versions}


def _open(path: Path, provider: str, batch_size: int) -> _Source:
    """An .onnx through ONNX Runtime; anything else must be a ganport checkpoint."""
    if not path.exists():
        raise InputError(f"{path}: no such generator file")
    if path.suffix == ".onnx":
        from ganport.infer.runtime import Generator
        from ganport.infer.runtime.session import runtime_versions

        onnx_generator = Generator(path, provider=provider)
        meta = onnx_generator.metadata
        return _Source(
            kind="onnx",
            provider=onnx_generator.provider,
            image_shape=meta.image_shape,
            data=meta.dataset,
            nz=meta.nz,
            classes=meta.labelled_classes,
            batches=lambda n, seed: onnx_generator.iter_batches(n, seed, batch_size),
            versions=runtime_versions(),
        )
    from ganport.infer.quality.feature_net import generate_batches
    from ganport.train.checkpoint import load_checkpoint
    from ganport.train.trainer import resolve_device

    if provider not in ("auto", "cpu", "cuda"):
        raise InputError(f"unknown provider {provider!r}; use auto, cpu or cuda")
    ckpt = load_checkpoint(path)
    device = resolve_device(provider)
    torch_generator = ckpt.generator(ema=True).to(device)
    nz = ckpt.config.model.nz
    return _Source(
        kind="checkpoint",
        provider=f"torch-{device.type}",
        image_shape=ckpt.config.model.image_shape,
        data=ckpt.config.data,
        nz=nz,
        classes=ckpt.config.model.classes if ckpt.config.model.class_source == "labels" else 0,
        batches=lambda n, seed: generate_batches(torch_generator, nz, n, seed, batch_size),
        versions={},
    )


def _sample(source: _Source, n: int, seed: int) -> np.ndarray:
    """The ``n`` samples of ``seed``, batch by batch under a progress bar."""
    out = np.empty((n, *source.image_shape), np.float32)
    start = 0
    with progress(total=n, desc="sample", unit="img") as bar:
        for images in source.batches(n, seed):
            out[start : start + len(images)] = images
            start += len(images)
            bar.update(len(images))
    return out


def _feature_net(
    given: TrainedFeatureNet | str | os.PathLike[str] | None,
    dataset: Dataset,
    cache_dir: str | os.PathLike[str] | None,
) -> TrainedFeatureNet:
    """The given network (object or file), checked against the data, or the cached one."""
    from ganport.infer.quality.feature_net import (
        TrainedFeatureNet,
        feature_net_for,
        load_feature_net,
    )
    from ganport.infer.quality.fingerprint import check_same_data

    if given is None:
        return feature_net_for(dataset, cache_dir=cache_dir)
    net = given if isinstance(given, TrainedFeatureNet) else load_feature_net(given)
    check_same_data(net, dataset)
    return net


def _asked_classes(source: _Source, n: int, seed: int) -> np.ndarray | None:
    """The class each of a conditional generator's ``n`` samples was asked for."""
    if not source.classes:
        return None
    from ganport.core.classes import class_of_latent
    from ganport.core.latent import latent

    return class_of_latent(latent(n, source.nz, seed), source.classes)


def _labels(dataset: Dataset, indices: np.ndarray) -> np.ndarray | None:
    return None if dataset.labels is None else dataset.labels.numpy()[indices]


def _figures(
    features: np.ndarray,
    probs: np.ndarray,
    reference: np.ndarray,
    seed: int,
    labels: np.ndarray | None = None,
) -> Figures:
    from ganport.infer.quality import metrics as quality

    try:
        kid = quality.kernel_inception_distance(features, reference, seed=seed)
        histogram = quality.class_histogram(probs)
        pr = quality.precision_recall(reference, features, k=3)
        fid = quality.frechet_distance(features, reference)
    except ValueError as exc:  # e.g. a covariance whose square root is not real
        n = len(features)
        raise JobFailed(f"the metrics could not be computed on {n} images: {exc}") from exc
    return Figures(
        n=len(features),
        fid=fid,
        kid_mean=kid.mean,
        kid_std=kid.std,
        classifier_score=quality.classifier_score(probs),
        classes_covered=quality.classes_covered(histogram),
        class_histogram=[float(share) for share in histogram],
        precision=pr.precision,
        recall=pr.recall,
        class_agreement=None if labels is None else quality.class_agreement(probs, labels),
    )
