"""infer.Generator on real exports: the same seed gives the same images, whatever the batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from ganport.core.errors import InputError
from ganport.core.latent import latent
from ganport.infer import Generator


@pytest.fixture(scope="module", params=["dcgan28_export", "mlp28_export"])
def model(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue(request.param) / "generator.onnx"


@pytest.fixture(scope="module")
def static8(tmp_path_factory: pytest.TempPathFactory, dcgan28_checkpoint: Path) -> Path:
    """The DCGAN 28 generator exported with a static batch of 8."""
    from ganport.export import ExportOptions, export_checkpoint

    out = tmp_path_factory.mktemp("static8")
    export_checkpoint(dcgan28_checkpoint, out, "generator", ExportOptions(static_batch=8))
    return out


def test_same_seed_same_images_across_runs_and_batch_sizes(model):
    g = Generator(model, provider="cpu")
    ten = g.sample(10)
    assert ten.shape == (10, *g.image_shape) and ten.dtype == np.float32
    assert np.array_equal(ten, g.sample(64, batch_size=7)[:10])
    assert np.array_equal(ten, Generator(model, provider="cpu").sample(10, seed=0))
    assert not np.array_equal(ten, g.sample(10, seed=1))


def test_samples_are_images_in_the_output_range(model):
    images = Generator(model, provider="cpu").sample(16, seed=3)
    assert np.isfinite(images).all() and images.min() >= -1 and images.max() <= 1
    assert images.std() > 0


def test_row_i_is_the_model_applied_to_row_i_of_the_latent_convention(model):
    g = Generator(model, provider="cpu")
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    (expected,) = session.run(["image"], {"z": latent(5, g.nz, 11)})
    np.testing.assert_allclose(g.sample(5, seed=11, batch_size=2), expected, atol=1e-6)


def test_iter_batches_streams_the_rows_of_sample(model):
    g = Generator(model, provider="cpu")
    batches = list(g.iter_batches(50, seed=2, batch_size=16))
    assert [len(b) for b in batches] == [16, 16, 16, 2]
    assert np.array_equal(np.concatenate(batches), g.sample(50, seed=2))


def test_truncation_is_deterministic_and_independent_of_batching(model):
    g = Generator(model, provider="cpu")
    truncated = g.sample(12, seed=5, truncation=0.5)
    assert np.array_equal(truncated, g.sample(20, seed=5, batch_size=3, truncation=0.5)[:12])
    assert not np.array_equal(truncated, g.sample(12, seed=5))


def test_interpolation_ends_on_the_two_seeds(model):
    g = Generator(model, provider="cpu")
    path = g.interpolate(3, 4, steps=6)
    assert path.shape == (6, *g.image_shape)
    np.testing.assert_allclose(path[0], g.sample(1, seed=3)[0], atol=1e-6)
    np.testing.assert_allclose(path[-1], g.sample(1, seed=4)[0], atol=1e-5)


def test_to_uint8_follows_the_pixel_rule(model):
    g = Generator(model, provider="cpu")
    pixels = g.to_uint8(np.array([-1.0, -0.5, 0.0, 1.0, 2.0], np.float32))
    assert pixels.dtype == np.uint8 and pixels.tolist() == [0, 64, 128, 255, 255]


def test_metadata_and_provider_are_exposed(model):
    g = Generator(model, provider="cpu")
    assert g.provider == "CPUExecutionProvider"
    assert g.metadata.role == "generator" and g.nz == g.metadata.nz


def test_static_batch_export_matches_the_dynamic_one(static8):
    static = Generator(static8 / "generator_batch8.onnx", provider="cpu")
    assert static.metadata.static_batch == 8
    ten = static.sample(10, seed=7)  # one full batch of 8, one padded batch of 2
    np.testing.assert_allclose(
        ten, Generator(static8 / "generator.onnx", provider="cpu").sample(10, seed=7), atol=1e-6
    )
    assert np.array_equal(ten, static.sample(21, seed=7, batch_size=5)[:10])


def test_bad_requests_are_input_errors(model):
    g = Generator(model, provider="cpu")
    with pytest.raises(InputError, match="at least 1"):
        g.sample(0)
    with pytest.raises(InputError, match="non-negative"):
        g.iter_batches(4, seed=-3)
    with pytest.raises(InputError, match="z must be shaped"):
        g.generate(np.zeros((2, g.nz + 1), np.float32))
