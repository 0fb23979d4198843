"""Does an int8 generator still draw what its fp32 model draws? Judged by distribution.

An int8 model cannot match torch to 1e-5, and an element-wise bound loose enough to pass a
good int8 model also passes a bad one. What matters is the samples: so both generators
draw ``n`` images from the same latents (the latent convention, one seed), the
``ganport evaluate`` feature network embeds them, and the int8 model's FID, classifier
score, classes covered and class-as-asked must stay within ``DistributionBounds`` of the
fp32 model's. ``ganport export --int8`` runs this before an int8 file gets its name, and
``ganport parity`` runs it on every int8 generator it is given.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ganport.core.classes import class_of_latent
from ganport.core.latent import latent
from ganport.core.tolerance import INT8_BOUNDS, DistributionBounds

if TYPE_CHECKING:
    from ganport.core.metadata import ModelMetadata
    from ganport.infer.quality.feature_net import TrainedFeatureNet
    from ganport.train.data import Dataset

DEFAULT_SAMPLES = 2000
DEFAULT_SEED = 0
BATCH = 500

Sampler = Callable[[np.ndarray], np.ndarray]  # z (n, nz) float32 → images (n, C, H, W)


@dataclass(frozen=True)
class SampleFigures:
    """One generator's samples on the feature network."""

    fid: float
    classifier_score: float
    classes_covered: int
    class_as_asked: float | None


@dataclass
class DistributionCheck:
    """fp32 against int8 on the same latents; ``problems`` says what fell out of bounds."""

    n: int
    seed: int
    reference: SampleFigures
    candidate: SampleFigures
    bounds: DistributionBounds
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def compare_samples(
    reference: Sampler,
    candidate: Sampler,
    *,
    nz: int,
    classes: int,
    net: TrainedFeatureNet,
    dataset: Dataset,
    n: int = DEFAULT_SAMPLES,
    seed: int = DEFAULT_SEED,
    bounds: DistributionBounds = INT8_BOUNDS,
) -> DistributionCheck:
    """Sample both generators on seed ``seed``'s ``n`` latents and judge the candidate."""
    z = latent(n, nz, seed)
    asked = class_of_latent(z, classes) if classes else None
    stats = net.reference_stats(dataset)
    figures = [
        _figures(_sample(sampler, z), net, stats, asked) for sampler in (reference, candidate)
    ]
    check = DistributionCheck(n, seed, figures[0], figures[1], bounds)
    check.problems = bound_problems(figures[0], figures[1], bounds)
    return check


@dataclass
class Int8Judge:
    """``ExportOptions.int8_judge`` for ``ganport export --int8``: the feature network of the
    run's data set (trained once and cached, as for ``ganport evaluate``) judges each int8
    generator against its fp32 model."""

    n: int = DEFAULT_SAMPLES
    seed: int = DEFAULT_SEED
    cache_dir: str | os.PathLike[str] | None = None
    net: TrainedFeatureNet | None = None

    def __call__(
        self, reference: Sampler, candidate: Sampler, meta: ModelMetadata
    ) -> DistributionCheck:
        from ganport.core.errors import InputError
        from ganport.infer.quality.feature_net import feature_net_for
        from ganport.infer.quality.fingerprint import check_same_data
        from ganport.train.data import load_dataset

        try:
            dataset = load_dataset(meta.dataset, meta.height, meta.channels)
        except InputError as exc:
            raise InputError(
                f"the int8 check compares samples on the run's data set, which is not here "
                f"({exc}); export with --no-check to skip every check"
            ) from exc
        if self.net is None:
            self.net = feature_net_for(dataset, cache_dir=self.cache_dir)
        check_same_data(self.net, dataset)
        return compare_samples(
            reference,
            candidate,
            nz=meta.nz,
            classes=meta.labelled_classes,
            net=self.net,
            dataset=dataset,
            n=self.n,
            seed=self.seed,
        )


def _sample(sampler: Sampler, z: np.ndarray) -> np.ndarray:
    return np.concatenate([sampler(z[i : i + BATCH]) for i in range(0, len(z), BATCH)])


def _figures(
    images: np.ndarray, net: TrainedFeatureNet, stats: Any, asked: np.ndarray | None
) -> SampleFigures:
    from ganport.infer.quality import metrics

    embedded = net.embed(np.nan_to_num(images, nan=0.0, posinf=1.0, neginf=-1.0))
    fid = metrics.frechet_distance_from_stats(metrics.gaussian_stats(embedded.features), stats)
    return SampleFigures(
        fid=fid,
        classifier_score=metrics.classifier_score(embedded.probs),
        classes_covered=metrics.classes_covered(metrics.class_histogram(embedded.probs)),
        class_as_asked=None if asked is None else metrics.class_agreement(embedded.probs, asked),
    )


def bound_problems(
    fp32: SampleFigures, int8: SampleFigures, bounds: DistributionBounds
) -> list[str]:
    """What puts ``int8`` out of ``bounds`` of ``fp32``, one line per figure."""
    problems = []
    if not int8.classifier_score >= fp32.classifier_score - bounds.classifier_score_drop:
        problems.append(
            f"classifier score {int8.classifier_score:.3f} against fp32's "
            f"{fp32.classifier_score:.3f} (at most {bounds.classifier_score_drop} lower)"
        )
    if not int8.fid <= fp32.fid * bounds.fid_ratio:
        problems.append(
            f"FID {int8.fid:.4g} against fp32's {fp32.fid:.4g} "
            f"(at most {bounds.fid_ratio:g}× fp32's)"
        )
    if int8.classes_covered < fp32.classes_covered - bounds.classes_lost:
        problems.append(
            f"{int8.classes_covered} classes covered against fp32's {fp32.classes_covered}"
        )
    if fp32.class_as_asked is not None and not (
        int8.class_as_asked is not None
        and int8.class_as_asked >= fp32.class_as_asked - bounds.class_as_asked_drop
    ):
        problems.append(
            f"class as asked {int8.class_as_asked:.3f} against fp32's "
            f"{fp32.class_as_asked:.3f} (at most {bounds.class_as_asked_drop:g} lower)"
        )
    return problems
