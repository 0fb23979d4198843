"""`ganport sample` and `ganport score` on real exports: files written, read back, reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganport.core.errors import InputError
from ganport.core.images import make_grid, to_float, to_uint8
from ganport.infer import Discriminator, Generator
from ganport.infer.runtime.session import create_session
from tests.conftest import run_inprocess as ganport


@pytest.fixture(scope="module")
def models(dcgan28_export: Path) -> tuple[Path, Path]:
    return dcgan28_export / "generator.onnx", dcgan28_export / "discriminator.onnx"


def test_sample_writes_a_png_grid_of_the_samples(models, tmp_path, capsys):
    code, out, _ = ganport(
        capsys,
        "sample",
        models[0],
        *("-n", 10, "--seed", 3, "--provider", "cpu", "--out", tmp_path / "grid.png"),
    )
    assert code == 0
    g = Generator(models[0], provider="cpu")
    assert f"provider: {g.provider}" in out
    with Image.open(tmp_path / "grid.png") as png:
        assert png.format == "PNG" and png.mode == "L"
        assert png.size == (2 + 4 * 30, 2 + 3 * 30)  # 10 images of 28 px: 4 across, 3 down
        read_back = np.asarray(png)
    assert np.array_equal(read_back, make_grid(g.sample(10, seed=3))[:, :, 0])


def test_sample_npy_holds_every_sample_whatever_the_batch_size(models, tmp_path, capsys):
    code, _, _ = ganport(
        capsys,
        "sample",
        models[0],
        *("-n", 300, "--batch-size", 64, "--provider", "cpu", "--npy", tmp_path / "a.npy"),
    )
    assert code == 0 and not (tmp_path / "samples.png").exists()
    array = np.load(tmp_path / "a.npy")
    assert array.shape == (300, 1, 28, 28) and array.dtype == np.float32
    assert np.array_equal(array, Generator(models[0], provider="cpu").sample(300))


def test_sample_caps_the_grid_and_says_so(models, tmp_path, capsys):
    code, _, err = ganport(capsys, "sample", models[0], "-n", 300, "--out", tmp_path / "g.png")
    assert code == 0 and "first 256 of 300" in err
    with Image.open(tmp_path / "g.png") as png:
        assert png.size == (2 + 16 * 30, 2 + 16 * 30)


def test_sample_defaults_to_samples_png(models, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ganport(capsys, "sample", models[0], "-n", 4)[0] == 0
    assert (tmp_path / "samples.png").is_file()


def test_sample_truncation_and_interpolation(models, tmp_path, capsys):
    code, _, _ = ganport(
        capsys,
        "sample",
        models[0],
        *("-n", 5, "--truncation", 0.5, "--provider", "cpu", "--npy", tmp_path / "t.npy"),
    )
    assert code == 0
    g = Generator(models[0], provider="cpu")
    assert np.array_equal(np.load(tmp_path / "t.npy"), g.sample(5, truncation=0.5))
    code, _, _ = ganport(
        capsys,
        "sample",
        models[0],
        "--interpolate",
        1,
        2,
        "--steps",
        5,
        "--provider",
        "cpu",
        "--out",
        tmp_path / "i.png",
        "--npy",
        tmp_path / "i.npy",
    )
    assert code == 0
    assert np.array_equal(np.load(tmp_path / "i.npy"), g.interpolate(1, 2, 5))
    with Image.open(tmp_path / "i.png") as png:
        assert png.size == (2 + 5 * 30, 2 + 30), "one row of --steps images"


def test_sample_with_cuda_asked_and_absent_exits_2_with_one_line(models, tmp_path):
    try:
        create_session(models[0], "cuda")
        pytest.skip("CUDA works on this machine")
    except InputError:
        pass
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganport",
            "sample",
            str(models[0]),
            "--provider",
            "cuda",
            "--out",
            str(tmp_path / "s.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("ganport: error: ")
    assert "CUDA" in result.stderr
    assert not (tmp_path / "s.png").exists()


def test_bad_sample_arguments_exit_2(models, capsys):
    assert ganport(capsys, "sample", models[0], "-n", 0)[0] == 2
    assert ganport(capsys, "sample", "missing.onnx")[0] == 2
    assert ganport(capsys, "sample", models[0], "--provider", "tpu")[0] == 2


def _write_idx(path: Path, images: np.ndarray) -> Path:
    header = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in images.shape)
    path.write_bytes(header + images.tobytes())
    return path


def test_score_reads_png_npy_and_idx_and_reports_json(models, tmp_path, capsys):
    images = Generator(models[0], provider="cpu").sample(6, seed=1)
    pixels = to_uint8(images)
    pngs = []
    for i in range(2):
        pngs.append(tmp_path / f"{i}.png")
        Image.fromarray(pixels[i, 0]).save(pngs[-1])
    np.save(tmp_path / "a.npy", images[2:4])
    idx = _write_idx(tmp_path / "t10k-images-idx3-ubyte", pixels[4:, 0])
    report = tmp_path / "report.json"
    code, out, _ = ganport(
        capsys, "score", models[1], *pngs, tmp_path / "a.npy", idx, "--json", report
    )
    assert code == 0
    lines = [line for line in out.splitlines() if "\tlogit " in line]
    assert len(lines) == 6 and lines[2].startswith(f"{tmp_path / 'a.npy'}[0]")
    data = json.loads(report.read_text())
    assert data["provider"] == "CPUExecutionProvider" or data["provider"].startswith("CUDA")
    assert {"onnxruntime", "numpy", "ganport"} <= set(data["versions"])
    assert data["count"] == 6 and len(data["scores"]) == 6
    # PNG and IDX hold pixels; the float array is model input and is scored unrounded.
    model_input = np.concatenate([to_float(pixels[:2]), images[2:4], to_float(pixels[4:])])
    expected = Discriminator(models[1], provider="cpu").score(model_input)
    np.testing.assert_allclose([s["logit"] for s in data["scores"]], expected, rtol=1e-6)
    probabilities = [s["probability"] for s in data["scores"]]
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-expected)), rtol=1e-5)


def test_score_converts_and_resizes_to_the_model_layout(models, tmp_path, capsys):
    rgb = np.random.default_rng(0).integers(0, 256, (56, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "big.jpg")
    code, out, _ = ganport(capsys, "score", models[1], tmp_path / "big.jpg")
    assert code == 0 and "big.jpg\tlogit " in out


def test_score_refuses_non_image_inputs(models, tmp_path, capsys):
    labels = tmp_path / "labels-idx1-ubyte"
    labels.write_bytes((2049).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes([1, 2, 3]))
    code, _, err = ganport(capsys, "score", models[1], labels)
    assert code == 2 and "not images" in err
    (tmp_path / "x.png").write_bytes(b"not a png")
    code, _, err = ganport(capsys, "score", models[1], tmp_path / "x.png")
    assert code == 2 and "not a readable image" in err
