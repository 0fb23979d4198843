"""ganport's metric math against maintained implementations, on the same features of the
mnist5k feature network: the Fréchet distance against torchmetrics' (fed the features
through a pass-through extractor), precision and recall against prdc's (Naeem et al.'s
reference code of the k-NN manifolds, Kynkäänniemi et al.'s definitions)."""

import numpy as np
import pytest
import torch
from prdc import compute_prdc
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from ganport.infer.quality import metrics as quality


class PassThrough(nn.Module):
    """A feature extractor that hands torchmetrics the features it is given."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


@pytest.fixture(scope="module")
def features(mnist5k_28, mnist5k_feature_net):
    """Real reference features, other real images', and those of blurred-noise images."""
    net = mnist5k_feature_net
    images = mnist5k_28.images.numpy()
    rng = np.random.default_rng(0)
    noise = np.clip(images[600:900] + rng.normal(0, 0.6, images[600:900].shape), -1, 1)
    return {
        "reference": net.embed(images[:600]).features.astype(np.float64),
        "real": net.embed(images[900:1300]).features.astype(np.float64),
        "noisy": net.embed(noise.astype(np.float32)).features.astype(np.float64),
    }


def test_frechet_distance_equals_torchmetrics(features):
    reference = features["reference"]
    ours = {}
    for other in ("real", "noisy"):
        fid = FrechetInceptionDistance(feature=PassThrough(reference.shape[1]), normalize=True)
        fid = fid.double()
        fid.update(torch.from_numpy(reference), real=True)
        fid.update(torch.from_numpy(features[other]), real=False)
        ours[other] = quality.frechet_distance(features[other], reference)
        assert ours[other] == pytest.approx(float(fid.compute()), rel=1e-6)
    assert ours["real"] < ours["noisy"]  # the figures compared are not alike by accident


def test_precision_and_recall_equal_prdc(features):
    reference = features["reference"]
    ours = {}
    for other in ("real", "noisy"):
        theirs = compute_prdc(real_features=reference, fake_features=features[other], nearest_k=3)
        ours[other] = quality.precision_recall(reference, features[other], k=3)
        assert ours[other].precision == pytest.approx(theirs["precision"], abs=1e-12)
        assert ours[other].recall == pytest.approx(theirs["recall"], abs=1e-12)
    assert ours["real"].precision > ours["noisy"].precision  # not alike by accident
