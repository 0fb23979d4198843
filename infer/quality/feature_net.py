"""The feature network behind ``ganport evaluate``: a small CNN classifier trained here.

FID and its kin need a network that maps images to features. The usual Inception
weights are a download and know nothing of 28×28 digits, so ganport trains a small
classifier on the labelled real data instead (under a minute on two CPU cores), caches
it in the user's cache folder (``$XDG_CACHE_HOME/ganport/feature_nets``, by default
``~/.cache/ganport/feature_nets``) and reports its held-out accuracy: its features
(the globally pooled penultimate layer) feed FID, KID and precision/recall, its softmax
the classifier score and the class histogram (``metrics``).

Deterministic by seed: the same data, image size, channels and seed give the same
split, the same weights and the same figures. Training runs inside a forked RNG, so a
training loop that calls ``quick_fid`` keeps its own random stream.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganport.core.atomic import atomic_path
from ganport.core.errors import InputError
from ganport.core.latent import latent
from ganport.core.progress import progress
from ganport.infer.quality.fingerprint import (
    RECIPE_VERSION,
    cache_path,
    check_same_data,
    data_fingerprint,
    default_cache_dir,
    split_indices,
)
from ganport.infer.quality.metrics import (
    GaussianStats,
    frechet_distance_from_stats,
    gaussian_stats,
)

if TYPE_CHECKING:  # torch and train are imported inside the functions that use them
    import torch
    from torch import nn

    from ganport.train.data import Dataset

FORMAT = "ganport-feature-net"
FEATURES = 128
TRAIN_STEPS = 1250  # a fixed budget (20 epochs of mnist5k) whatever the data set's size
MAX_REFERENCE = 10_000  # real images the metrics compare with (see reference_indices)
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
EMBED_BATCH = 1000


def feature_network(channels: int, n_classes: int) -> nn.Module:
    """Three conv blocks (BatchNorm, ReLU) → global average pool (the 128-d features,
    ``.body``) → logits (``.head``).

    Features pooled over the whole image, like the Inception pool3 layer FID uses: uniform
    noise lands far from every real image there, while a penultimate fully connected
    layer put it among the faintest real digits. The global pool also makes any square
    image size work.
    """
    from torch import nn

    def conv_block(fan_in: int, fan_out: int, kernel: int) -> list[nn.Module]:
        return [
            nn.Conv2d(fan_in, fan_out, kernel, padding=kernel // 2),
            nn.BatchNorm2d(fan_out),
            nn.ReLU(),
        ]

    body = nn.Sequential(
        *conv_block(channels, 32, 5),
        nn.MaxPool2d(2),
        *conv_block(32, 64, 5),
        nn.MaxPool2d(2),
        *conv_block(64, FEATURES, 3),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    return nn.Sequential(OrderedDict(body=body, head=nn.Linear(FEATURES, n_classes)))


@dataclass(frozen=True)
class Embedding:
    """Penultimate-layer features (n, 128) and softmax class probabilities (n, classes)."""

    features: np.ndarray
    probs: np.ndarray


@dataclass
class TrainedFeatureNet:
    """A feature network with what it was trained on, its split and its test accuracy."""

    model: nn.Module
    dataset: str
    image_size: int
    channels: int
    seed: int
    n_classes: int
    n_images: int
    data_sha256: str
    test_accuracy: float
    train_steps: int
    train_seconds: float
    path: Path | None = None
    trained_now: bool = False  # trained by this process rather than loaded from a file
    _reference: GaussianStats | None = field(default=None, repr=False)

    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """(training indices, held-out indices) of its data set, the same on every load."""
        return split_indices(self.n_images, self.seed)

    def reference_indices(self) -> np.ndarray:
        """The real images every metric compares with: the training split, or a seeded
        ``MAX_REFERENCE`` of it (k-NN precision/recall costs grow with its square)."""
        train_idx, _ = self.split()
        if len(train_idx) <= MAX_REFERENCE:
            return train_idx
        return np.sort(np.random.default_rng(self.seed).choice(train_idx, MAX_REFERENCE, False))

    def embed(self, images: np.ndarray | torch.Tensor, desc: str | None = None) -> Embedding:
        """Features and class probabilities of images (n, C, H, W) in [-1, 1], on the CPU;
        with ``desc``, a progress bar of that name (on a terminal)."""
        import torch

        batch = torch.as_tensor(images, dtype=torch.float32)
        expected = (self.channels, self.image_size, self.image_size)
        if batch.ndim != 4 or tuple(batch.shape[1:]) != expected:
            raise InputError(
                f"the feature network takes images of shape (n, {', '.join(map(str, expected))}),"
                f" not {tuple(batch.shape)}"
            )
        features, probs = [], []
        bar = progress(total=len(batch), desc=desc, unit="img", disable=desc is None)
        with torch.no_grad(), bar:
            for chunk in batch.split(EMBED_BATCH):
                hidden = self.model.body(chunk.cpu())
                features.append(hidden.numpy())
                probs.append(torch.softmax(self.model.head(hidden), dim=1).double().numpy())
                bar.update(len(chunk))
        return Embedding(np.concatenate(features), np.concatenate(probs))

    def reference_stats(self, dataset: Dataset) -> GaussianStats:
        """Gaussian of the reference images' features, FID's reference; fitted once."""
        if self._reference is None:
            check_same_data(self, dataset)
            reference = dataset.images[self.reference_indices()]
            self._reference = gaussian_stats(self.embed(reference).features)
        return self._reference


def feature_net_for(
    dataset: Dataset, seed: int = 0, cache_dir: str | os.PathLike[str] | None = None
) -> TrainedFeatureNet:
    """The cached network for this data set and seed, trained and cached first if needed.

    A cached file that does not load or was trained on other data is retrained and
    replaced: it is a cache, never the only copy of anything.
    """
    path = cache_path(dataset, seed, default_cache_dir() if cache_dir is None else cache_dir)
    if path.exists():
        try:
            net = load_feature_net(path)
            check_same_data(net, dataset)
            if net.seed == seed:
                return net
        except InputError:
            pass
    net = train_feature_net(dataset, seed)
    save_feature_net(net, path)
    return net


def train_feature_net(
    dataset: Dataset, seed: int = 0, steps: int = TRAIN_STEPS
) -> TrainedFeatureNet:
    """Train the classifier on the training split; measure accuracy on the held-out split.

    ``steps`` other than the default make a network ``feature_net_for`` would not build
    (quicker and less confident, or the reverse); it is recorded in the network.
    """
    import torch

    labels = _labels(dataset)
    n_classes = int(labels.max()) + 1
    train_idx, test_idx = split_indices(len(dataset), seed)
    if len(test_idx) < 10:
        raise InputError(
            f"data set {dataset.name!r} has {len(dataset)} images; the feature network needs "
            "at least 50 (a fifth is held out to measure it)"
        )
    _, channels, size, _ = dataset.images.shape
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = feature_network(channels, n_classes)
        rng = np.random.default_rng(seed + 1)
        _fit(model, dataset.images[train_idx], labels[train_idx], rng, steps)
    model.eval()
    net = TrainedFeatureNet(
        model=model,
        dataset=dataset.name,
        image_size=size,
        channels=channels,
        seed=seed,
        n_classes=n_classes,
        n_images=len(dataset),
        data_sha256=data_fingerprint(dataset),
        test_accuracy=0.0,
        train_steps=steps,
        train_seconds=time.perf_counter() - start,
        trained_now=True,
    )
    predicted = net.embed(dataset.images[test_idx]).probs.argmax(axis=1)
    net.test_accuracy = float((predicted == labels[test_idx].numpy()).mean())
    return net


def _fit(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    rng: np.random.Generator,
    steps: int,
) -> None:
    """Adam with a cosine schedule for ``steps`` batches, epoch orders drawn from rng.

    The default budget is long enough for the classifier to be confident on real images
    (real held-out mnist5k scores about 9.3 of 10), which the classifier score relies on.
    """
    import torch
    from torch import nn

    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    model.train()
    done = 0
    with progress(total=steps, desc="feature net", unit="step") as bar:
        while done < steps:
            order = torch.from_numpy(rng.permutation(len(images)))
            for batch in order.split(BATCH_SIZE)[: steps - done]:
                loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                done += 1
                bar.update(1)


def _labels(dataset: Dataset) -> torch.Tensor:
    import torch

    if dataset.labels is None:
        raise InputError(
            f"data set {dataset.name!r} has no labels; the feature network is a classifier "
            "trained on labelled data (mnist5k, digits, an IDX folder with its labels file)"
        )
    if int(dataset.labels.min()) < 0 or len(torch.unique(dataset.labels)) < 2:
        raise InputError(f"data set {dataset.name!r} needs labels 0..K-1 of at least 2 classes")
    return dataset.labels


def save_feature_net(net: TrainedFeatureNet, path: str | os.PathLike[str]) -> Path:
    """Write plain data only (loadable with ``weights_only=True``), atomically."""
    import torch

    payload = {
        "format": FORMAT,
        "recipe_version": RECIPE_VERSION,
        "state_dict": net.model.state_dict(),
        **{key: getattr(net, key) for key in _INFO_FIELDS},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    net.path = Path(path)
    return net.path


_INFO_FIELDS = (
    "dataset",
    "image_size",
    "channels",
    "seed",
    "n_classes",
    "n_images",
    "data_sha256",
    "test_accuracy",
    "train_steps",
    "train_seconds",
)


def load_feature_net(path: str | os.PathLike[str]) -> TrainedFeatureNet:
    """Load and validate a saved feature network; anything wrong is an InputError."""
    from ganport.train.checkpoint import load_plain

    path = Path(path)
    payload: Any = load_plain(path, "feature network")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{path}: not a ganport feature network")
    if payload.get("recipe_version") != RECIPE_VERSION:
        raise InputError(
            f"{path}: feature network recipe {payload.get('recipe_version')!r} "
            f"is not this ganport's ({RECIPE_VERSION})"
        )
    missing = [key for key in (*_INFO_FIELDS, "state_dict") if key not in payload]
    if missing:
        raise InputError(f"{path}: feature network lacks {', '.join(missing)}")
    info = {key: payload[key] for key in _INFO_FIELDS}
    model = feature_network(int(info["channels"]), int(info["n_classes"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: feature network weights do not fit its architecture") from exc
    return TrainedFeatureNet(model=model.eval(), path=path, **info)


def generate(
    generator: nn.Module, nz: int, n: int, seed: int = 0, batch_size: int = 500
) -> np.ndarray:
    """``n`` images from a torch generator in eval mode, on the latent convention's z.

    Restores the generator's train/eval mode afterwards, so a training loop can call it.
    """
    return np.concatenate(list(generate_batches(generator, nz, n, seed, batch_size)))


def generate_batches(
    generator: nn.Module, nz: int, n: int, seed: int = 0, batch_size: int = 500
) -> Iterator[np.ndarray]:
    """The rows of ``generate`` as float32 batches of ``batch_size``, drawn lazily (without
    gradients; the caller's grad mode between batches is its own)."""
    import torch

    was_training = generator.training
    device = next(generator.parameters()).device
    z = torch.from_numpy(latent(n, nz, seed))
    generator.eval()
    try:
        for batch in z.split(batch_size):
            with torch.no_grad():
                images = generator(batch.to(device)).float().cpu().numpy()
            yield images
    finally:
        generator.train(was_training)


def quick_fid(
    generator: nn.Module,
    dataset: Dataset,
    n: int,
    feature_net: TrainedFeatureNet,
    nz: int,
    seed: int = 0,
) -> float:
    """FID of ``n`` samples against the data set's reference images (its training split):
    cheap enough for every K training steps (the reference is fitted once per network).

    Uses no torch RNG, so calling it does not change the training run's random stream.
    Small ``n`` biases FID upwards; compare values taken with the same ``n``.
    """
    reference = feature_net.reference_stats(dataset)
    fake = feature_net.embed(generate(generator, nz, n, seed)).features
    return frechet_distance_from_stats(gaussian_stats(fake), reference)


@dataclass
class FidEvaluator:
    """FID of a training generator on ``samples`` samples, for ``RunOptions.evaluator``.

    The feature network is trained (or read from the cache) when the evaluator is made,
    so a run fails on unlabelled data before its first step, not at its first evaluation.
    """

    dataset: Dataset
    nz: int
    samples: int = 1000
    cache_dir: str | os.PathLike[str] | None = None
    net: TrainedFeatureNet = field(init=False)

    def __post_init__(self) -> None:
        if self.dataset.labels is None:
            raise InputError(
                f"--eval-every needs labelled data; {self.dataset.name!r} has no labels"
            )
        self.net = feature_net_for(self.dataset, seed=0, cache_dir=self.cache_dir)

    def __call__(self, generator: nn.Module) -> float:
        return quick_fid(generator, self.dataset, self.samples, self.net, self.nz)
