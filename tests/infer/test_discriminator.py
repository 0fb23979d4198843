"""infer.Discriminator on a real export: one logit per image, batching-independent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from ganport.core.errors import InputError
from ganport.core.images import to_float
from ganport.infer import Discriminator, sigmoid


@pytest.fixture(scope="module")
def model(dcgan28_export: Path) -> Path:
    return dcgan28_export / "discriminator.onnx"


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (11, 1, 28, 28), dtype=np.uint8)


def test_score_is_one_logit_per_image_as_the_graph_computes_it(model, pixels):
    d = Discriminator(model, provider="cpu")
    logits = d.score(to_float(pixels))
    assert logits.shape == (11,) and logits.dtype == np.float32
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(logits, session.run(["logit"], {"image": to_float(pixels)})[0])


def test_batching_and_pixel_input_do_not_change_scores(model, pixels):
    d = Discriminator(model, provider="cpu")
    logits = d.score(to_float(pixels))
    np.testing.assert_allclose(d.score(to_float(pixels), batch_size=4), logits, atol=1e-6)
    assert np.array_equal(d.score(pixels), logits), "uint8 pixels are mapped to [-1, 1]"


def test_probability_is_the_sigmoid_of_the_logit(model, pixels):
    d = Discriminator(model, provider="cpu")
    logits = d.score(pixels)
    np.testing.assert_allclose(d.probability(pixels), 1 / (1 + np.exp(-logits)), rtol=1e-6)


def test_sigmoid_is_finite_for_extreme_logits():
    with np.errstate(over="raise"):
        p = sigmoid(np.array([-1e4, -30, 0, 30, 1e4], np.float32))
    assert p.tolist()[2] == 0.5 and p[0] == 0.0 and p[-1] == 1.0
    assert np.all(np.diff(p) >= 0)


def test_images_of_the_wrong_layout_are_input_errors(model):
    d = Discriminator(model, provider="cpu")
    with pytest.raises(InputError, match=r"\(n, 1, 28, 28\), got \(2, 3, 28, 28\)"):
        d.score(np.zeros((2, 3, 28, 28), np.float32))
    with pytest.raises(InputError, match="NaN or Inf"):
        d.score(np.full((1, 1, 28, 28), np.nan, np.float32))
