"""The CUDA provider, where it really works (run on a GPU machine; skipped elsewhere)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from ganport.core.errors import InputError
from ganport.infer import Discriminator, Generator
from ganport.infer.runtime.session import CUDA, create_session, run_on_device

pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module")
def folder(dcgan28_export: Path) -> Path:
    """The export, once a real CUDA session on it proves the provider runs here."""
    try:
        create_session(dcgan28_export / "generator.onnx", "cuda")
    except InputError as exc:
        pytest.skip(f"CUDA execution provider does not run here: {exc}")
    return dcgan28_export


def test_cuda_runs_the_model_on_cuda(folder):
    session, provider = create_session(folder / "generator.onnx", "cuda")
    assert provider == CUDA and session.get_providers()[0] == CUDA
    assert create_session(folder / "generator.onnx", "auto")[1] == CUDA


def test_cuda_samples_match_cpu_and_are_deterministic(folder):
    gpu = Generator(folder / "generator.onnx", provider="cuda")
    assert gpu.provider == CUDA
    images = gpu.sample(64, seed=2, batch_size=16)
    # Not bitwise, even for the same batch size (measured on an H200): within fp32-cuda's 1e-4.
    np.testing.assert_allclose(images, gpu.sample(64, seed=2, batch_size=16), atol=1e-4, rtol=0)
    np.testing.assert_allclose(images[:10], gpu.sample(10, seed=2), atol=1e-4, rtol=0)
    cpu = Generator(folder / "generator.onnx", provider="cpu").sample(64, seed=2)
    np.testing.assert_allclose(images, cpu, atol=1e-4)


def test_cuda_scores_match_cpu(folder):
    images = Generator(folder / "generator.onnx", provider="cpu").sample(20, seed=4)
    gpu = Discriminator(folder / "discriminator.onnx", provider="cuda")
    cpu = Discriminator(folder / "discriminator.onnx", provider="cpu")
    np.testing.assert_allclose(gpu.score(images), cpu.score(images), atol=1e-4)


def test_io_binding_keeps_outputs_on_the_gpu(folder):
    session, _ = create_session(folder / "generator.onnx", "cuda")
    z = np.random.default_rng(0).standard_normal((8, 16), dtype=np.float32)
    z_gpu = ort.OrtValue.ortvalue_from_numpy(z, "cuda", 0)
    (image,) = run_on_device(session, {"z": z_gpu}, ["image"], "cuda")
    assert image.device_name().lower() == "cuda" and image.shape() == [8, 1, 28, 28]
    cpu, _ = create_session(folder / "generator.onnx", "cpu")
    np.testing.assert_allclose(image.numpy(), cpu.run(["image"], {"z": z})[0], atol=1e-4)


def test_cuda_options_are_accepted(folder):
    session, provider = create_session(
        folder / "generator.onnx", "cuda", cudnn_conv_algo_search="EXHAUSTIVE", use_tf32=True
    )
    assert provider == CUDA
    options = session.get_provider_options()[CUDA]
    assert options["cudnn_conv_algo_search"] == "EXHAUSTIVE" and options["use_tf32"] == "1"


@pytest.fixture(scope="module")
def fp16_folder(folder: Path, dcgan28_checkpoint: Path, tmp_path_factory) -> Path:
    from ganport.export import ExportOptions, export_checkpoint

    out = tmp_path_factory.mktemp("dcgan28-fp16")
    export_checkpoint(dcgan28_checkpoint, out, options=ExportOptions(fp16=True))
    return out


def test_fp16_on_cuda_prints_no_error_lines(fp16_folder, capfd):
    """Each new batch size makes onnxruntime build cuDNN plans; with TF32 off its first try
    for a float16 convolution has no plan and logs an error before its retry succeeds."""
    gpu = Generator(fp16_folder / "generator_fp16.onnx", provider="cuda")
    cpu = Generator(fp16_folder / "generator_fp16.onnx", provider="cpu")
    critic = Discriminator(fp16_folder / "discriminator_fp16.onnx", provider="cuda")
    for n in (1, 7, 64):
        images = gpu.sample(n, seed=n)
        np.testing.assert_allclose(images, cpu.sample(n, seed=n), atol=1e-2)
        assert np.isfinite(critic.score(images)).all()
    err = capfd.readouterr().err
    assert "cudnn_frontend" not in err and "[E:onnxruntime" not in err, err
