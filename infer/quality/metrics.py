"""Sample-quality metrics on features and class probabilities, in numpy (and scipy).

They take plain arrays, not a network, so any feature extractor plugs in: ganport's
own small classifier (feature_net.py), an Inception network, anything that maps
images to vectors (``features``, shape (n, d)) or to class probabilities (``probs``,
shape (n, classes), rows summing to 1).

- ``frechet_distance``: FID-style distance between Gaussians fitted to two feature sets.
- ``kernel_inception_distance``: KID, an unbiased MMD² with a cubic polynomial kernel,
  averaged over random subsets (unbiased, so small sets are comparable to large ones).
- ``classifier_score``: Inception-score-style exp(E KL(p(y|x) ‖ p(y))), between 1 and the
  number of classes.
- ``class_histogram`` / ``classes_covered``: which classes the samples fall into.
- ``precision_recall``: Kynkäänniemi et al. (2019) k-nearest-neighbour manifolds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

DEFAULT_CHUNK = 512


@dataclass(frozen=True)
class GaussianStats:
    """Mean and covariance of a feature set: all FID needs, so a reference is fitted once."""

    mean: np.ndarray
    cov: np.ndarray
    n: int


@dataclass(frozen=True)
class KID:
    """KID's mean over subsets and its standard deviation (the spread between subsets)."""

    mean: float
    std: float
    subsets: int
    subset_size: int


@dataclass(frozen=True)
class PrecisionRecall:
    """Precision: share of fakes on the real manifold; recall: share of reals on the fake one."""

    precision: float
    recall: float
    k: int


def gaussian_stats(features: np.ndarray) -> GaussianStats:
    """Fit the Gaussian FID compares (float64, unbiased covariance)."""
    feats = _features(features, "features", min_rows=2)
    return GaussianStats(
        mean=feats.mean(axis=0), cov=np.atleast_2d(np.cov(feats, rowvar=False)), n=len(feats)
    )


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID on these features)."""
    return frechet_distance_from_stats(gaussian_stats(feats_a), gaussian_stats(feats_b))


def frechet_distance_from_stats(a: GaussianStats, b: GaussianStats, eps: float = 1e-6) -> float:
    """‖μa − μb‖² + tr(Σa + Σb − 2 (Σa Σb)^½), computed as the reference FID code does.

    Few samples or dead (always-zero) features make the covariances singular; then the
    product's square root can come out non-finite or with a spurious imaginary part. As in
    the reference implementation, a non-finite root is recomputed with ``eps`` added to
    both diagonals, an imaginary part that is numerical noise (diagonal ≤ 1e-3) is dropped
    and a larger one is a ValueError.
    """
    import scipy.linalg

    if a.mean.shape != b.mean.shape:
        raise ValueError(f"feature sizes differ: {a.mean.shape[0]} and {b.mean.shape[0]}")
    diff = a.mean - b.mean
    with warnings.catch_warnings():
        # "Matrix is singular": expected with dead features, and handled below.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(a.cov @ b.cov)
        if not np.isfinite(covmean).all():
            offset = np.eye(a.cov.shape[0]) * eps
            covmean = scipy.linalg.sqrtm((a.cov + offset) @ (b.cov + offset))
    if np.iscomplexobj(covmean):
        imaginary = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if imaginary > 1e-3:
            raise ValueError(f"covariance square root has an imaginary part of {imaginary:.3g}")
        covmean = covmean.real
    distance = diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2.0 * np.trace(covmean)
    return float(max(distance, 0.0))  # a negative value is round-off of an exact 0


def kernel_inception_distance(
    feats_a: np.ndarray,
    feats_b: np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> KID:
    """Unbiased MMD² with k(x, y) = (x·y / d + 1)³, over ``subsets`` random subsets.

    Each subset draws ``min(subset_size, len(a), len(b))`` rows of each set without
    replacement, from a generator seeded by ``seed``. Unbiased: two samples of one
    distribution average 0 (single subsets may be negative).
    """
    a = _features(feats_a, "feats_a", min_rows=2)
    b = _features(feats_b, "feats_b", min_rows=2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} and {b.shape[1]}")
    if subsets < 1 or subset_size < 2:
        raise ValueError("KID needs at least 1 subset of at least 2 rows")
    m = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        values[i] = _mmd2_unbiased(x, y)
    return KID(mean=float(values.mean()), std=float(values.std()), subsets=subsets, subset_size=m)


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    m = len(x)
    k_xx, k_yy, k_xy = (_cubic_kernel(x, x), _cubic_kernel(y, y), _cubic_kernel(x, y))
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


def _cubic_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    k = x @ y.T
    k /= x.shape[1]
    k += 1.0
    return k * k * k  # multiplications: much faster than the float pow of k ** 3


def classifier_score(probs: np.ndarray) -> float:
    """exp(mean over samples of KL(p(y|x) ‖ p(y))), the Inception score on this classifier.

    1 when every sample gets the same class distribution (one class, or no confidence);
    the number of classes when samples are confidently classified and the classes are
    equally frequent. Computed on all samples at once (no splits).
    """
    p = _probs(probs)
    marginal = p.mean(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0).sum(axis=1)
    return float(np.exp(kl.mean()))


def class_histogram(probs: np.ndarray) -> np.ndarray:
    """Share of the samples whose most likely class is each class (sums to 1)."""
    p = _probs(probs)
    counts = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
    return counts / counts.sum()


def classes_covered(histogram: np.ndarray, min_share: float | None = None) -> int:
    """Classes holding at least ``min_share`` of the samples.

    The default, a tenth of a fair share (1 % for 10 classes), ignores the few stray
    samples a classifier puts in any class, so a generator that has dropped a mode does
    not get credit for it; it scales with the number of classes.
    """
    hist = np.asarray(histogram, dtype=np.float64)
    threshold = 0.1 / len(hist) if min_share is None else min_share
    return int((hist >= threshold).sum())


def class_agreement(probs: np.ndarray, labels: np.ndarray) -> float:
    """Share of images whose most probable class is ``labels``: a conditional generator's
    accuracy at drawing the class it was asked for (on real images: the classifier's)."""
    p = _probs(probs)
    labels = np.asarray(labels)
    if labels.shape != (len(p),):
        raise ValueError(f"need one label per image ({len(p)}), got shape {labels.shape}")
    return float((p.argmax(axis=1) == labels).mean())


def precision_recall(
    real_feats: np.ndarray, fake_feats: np.ndarray, k: int = 3, chunk: int = DEFAULT_CHUNK
) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al., 2019).

    Each set's manifold is the union of balls around its points reaching their k-th
    nearest neighbour within the set. Precision is the share of fakes inside the real
    manifold (are samples realistic?); recall the share of reals inside the fake manifold
    (is the variety covered?). Distances are computed ``chunk`` rows at a time, so memory
    stays at chunk × n rather than n².
    """
    real = _features(real_feats, "real_feats", min_rows=k + 1)
    fake = _features(fake_feats, "fake_feats", min_rows=k + 1)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: {real.shape[1]} and {fake.shape[1]}")
    real_radii = _kth_neighbour_distance(real, k, chunk)
    fake_radii = _kth_neighbour_distance(fake, k, chunk)
    fake_in_real = np.zeros(len(fake), dtype=bool)
    real_in_fake = np.zeros(len(real), dtype=bool)
    fake_sq = (fake * fake).sum(axis=1)
    for start in range(0, len(real), chunk):
        rows = real[start : start + chunk]
        dist = _squared_distances(rows, fake, fake_sq)  # (chunk of real, all fake)
        fake_in_real |= (dist <= real_radii[start : start + chunk, None]).any(axis=0)
        real_in_fake[start : start + chunk] = (dist <= fake_radii[None, :]).any(axis=1)
    return PrecisionRecall(
        precision=float(fake_in_real.mean()), recall=float(real_in_fake.mean()), k=k
    )


def _kth_neighbour_distance(feats: np.ndarray, k: int, chunk: int) -> np.ndarray:
    """Squared distance from each row to its k-th nearest other row (itself is the 0th)."""
    sq = (feats * feats).sum(axis=1)
    radii = np.empty(len(feats))
    for start in range(0, len(feats), chunk):
        dist = _squared_distances(feats[start : start + chunk], feats, sq)
        radii[start : start + chunk] = np.partition(dist, k, axis=1)[:, k]
    return radii


def _squared_distances(rows: np.ndarray, others: np.ndarray, others_sq: np.ndarray) -> np.ndarray:
    dist = (rows * rows).sum(axis=1)[:, None] + others_sq[None, :] - 2.0 * (rows @ others.T)
    return np.maximum(dist, 0.0)


def _features(feats: np.ndarray, name: str, min_rows: int) -> np.ndarray:
    array = np.asarray(feats, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples, features), not shape {array.shape}")
    if len(array) < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, has {len(array)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds non-finite values")
    return array


def _probs(probs: np.ndarray) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"probs must be 2-D (samples, classes) and non-empty, not {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("probs must be finite and non-negative")
    if not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("each row of probs must sum to 1 (pass softmax outputs, not logits)")
    return p
