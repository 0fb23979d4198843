"""int8 exports: exact rewrites, quantized files that keep the graph contract, and a check
by distribution that a planted fault fails."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
import torch

from ganport.core.classes import class_of_latent, edge_latent
from ganport.core.latent import latent
from ganport.core.metadata import METADATA_KEY, ModelMetadata
from ganport.core.tolerance import INT8_BOUNDS
from ganport.export import ExportOptions, export_checkpoint
from ganport.export.fold import fold_batchnorm
from ganport.export.rewrite import int8_form
from ganport.infer import Discriminator, Generator
from ganport.infer.compare import compat
from ganport.infer.compare.parity import run_parity
from ganport.infer.quality.distribution import (
    Int8Judge,
    SampleFigures,
    bound_problems,
    compare_samples,
)
from ganport.train import ModelConfig, load_checkpoint
from ganport.train.models import build_generator
from tests.conftest import compat_runtime, train_run
from tests.conftest import run_inprocess as ganport

SAMPLES = 500  # the distribution check's samples in these tests (the default is 2,000)


@pytest.fixture(scope="module")
def conditional_dcgan(tmp_path_factory) -> Path:
    """A conditional DCGAN 28 trained 80 real steps (4 s): after the shared fixtures' 6 steps
    G draws nearly the same image for every z, which no fault can visibly change."""
    return train_run(tmp_path_factory.mktemp("dcgan28-80steps"), "dcgan", 28, 80, classes=10)


@pytest.fixture(scope="module")
def int8_export(tmp_path_factory, conditional_dcgan, mnist5k_feature_net) -> Path:
    """That run exported with --int8 (the class rule must stay exact)."""
    out = tmp_path_factory.mktemp("dcgan28-int8")
    judge = Int8Judge(n=SAMPLES, net=mnist5k_feature_net)
    options = ExportOptions(int8=True, calibration=128, int8_judge=judge)
    export_checkpoint(conditional_dcgan, out, options=options)
    return out


@pytest.mark.parametrize("image_size", [28, 64])
def test_int8_rewrites_compute_what_torch_computes(image_size):
    torch.manual_seed(0)
    generator = build_generator(ModelConfig(arch="dcgan", image_size=image_size, width=8, nz=16))
    for module in generator.modules():  # BatchNorm statistics that are not the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    folded = fold_batchnorm(generator.eval())
    rewritten, names = int8_form(folded)
    assert names == ["gemm stem", "sub-pixel ConvTranspose (k4, s2, p1)"]
    # Every ConvTranspose but the image layer's (its interleave would move single values).
    kept = [m for m in rewritten.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.out_channels for m in kept] == [1]
    z = torch.from_numpy(latent(7, 16, seed=3))
    with torch.no_grad():
        assert (rewritten(z) - generator(z)).abs().max().item() < 1e-5


def test_int8_files_keep_the_contract_and_record_how_they_were_made(int8_export):
    manifest = json.loads((int8_export / "manifest.json").read_text())
    entries = {m["file"]: m for m in manifest["models"]}
    assert set(entries) == {
        "generator.onnx",
        "discriminator.onnx",
        "generator_int8.onnx",
        "discriminator_int8.onnx",
    }
    for role in ("generator", "discriminator"):
        entry = entries[f"{role}_int8.onnx"]
        assert entry["precision"] == "int8" and entry["checks"]["passed"]
        assert [b["batch"] for b in entry["checks"]["batches"]] == [1, 2, 7, 64]
        assert (
            entry["inputs"][0]["shape"][0] == "batch" and entry["inputs"][0]["dtype"] == "float32"
        )
        assert entry["outputs"][0]["dtype"] == "float32"
        quantization = entry["quantization"]
        assert quantization["method"] == "minmax" and quantization["calibration_samples"] == 128
        assert quantization["format"] == "QDQ"
        model = onnx.load(str(int8_export / entry["file"]))
        meta = ModelMetadata.from_json({p.key: p.value for p in model.metadata_props}[METADATA_KEY])
        assert meta.precision == "int8" and meta.quantization == quantization
        weights = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
        assert weights, "no int8 weights in the file"
    # D shrinks (its last layer stays float); a G of this width does not: its sub-pixel
    # weights are 2.25× the ConvTransposes' and its first layer stays float (README).
    assert (
        entries["discriminator_int8.onnx"]["size_bytes"]
        < entries["discriminator.onnx"]["size_bytes"]
    )
    generator = onnx.load(str(int8_export / "generator_int8.onnx"))
    ops = {node.op_type for node in generator.graph.node}
    assert "DepthToSpace" not in ops
    assert {"QuantizeLinear", "Transpose"} <= ops  # the phase interleave, channels-last
    # The image layer stays a float ConvTranspose: kept float, with the first layer.
    (image_layer,) = [n.name for n in generator.graph.node if n.op_type == "ConvTranspose"]
    float_nodes = entries["generator_int8.onnx"]["quantization"]["float_nodes"]
    assert any("gt" in name for name in float_nodes)  # the class rule's comparisons
    assert image_layer in float_nodes
    distribution = entries["generator_int8.onnx"]["checks"]["distribution"]
    assert distribution["passed"] and distribution["n"] == SAMPLES
    assert distribution["candidate"]["class_as_asked"] is not None


def test_the_runtime_runs_int8_models_and_keeps_the_class_rule(int8_export):
    generator = Generator(int8_export / "generator_int8.onnx", provider="cpu")
    fp32 = Generator(int8_export / "generator.onnx", provider="cpu")
    assert generator.metadata.precision == "int8"
    images = generator.sample(9, seed=0, batch_size=4)
    assert images.shape == (9, 1, 28, 28) and np.isfinite(images).all()
    assert np.abs(images - fp32.sample(9, seed=0)).mean() < 0.1
    # On and beside every class edge, int8 draws the class fp32 draws: z[:, 0] is read in
    # float32, so its images stay close (another class would differ everywhere).
    z = edge_latent(latent(64, generator.metadata.nz, seed=4), 10)
    assert len(set(class_of_latent(z, 10))) == 10
    (got,) = generator.session.run(None, {"z": z})
    (want,) = fp32.session.run(None, {"z": z})
    assert np.abs(got - want).reshape(64, -1).mean(axis=1).max() < 0.1
    logits = Discriminator(int8_export / "discriminator_int8.onnx", provider="cpu").score(images)
    assert logits.shape == (9,) and np.isfinite(logits).all()


def test_int8_parity_passes_and_a_planted_scale_fault_fails(
    int8_export, conditional_dcgan, mnist5k_feature_net, tmp_path
):
    checkpoint = conditional_dcgan
    options = {
        "batch_sizes": (1, 64),
        "seeds": (0,),
        "sweep_samples": 200,
        "distribution_samples": SAMPLES,
        "feature_net": mnist5k_feature_net,
    }
    good = run_parity(checkpoint, int8_export / "generator_int8.onnx", **options)
    assert good.passed, good.failures()
    assert good.tolerances["generator_int8.onnx"]["name"] == "int8"
    assert good.distributions["generator_int8.onnx"].passed

    # One weight scale multiplied wrong: the last convolution's first output channel (one
    # pixel phase of the image, a quarter of its pixels).
    model = onnx.load(str(int8_export / "generator_int8.onnx"))
    scales = [t for t in model.graph.initializer if t.name.endswith("weight_scale")]
    scale = min(scales, key=lambda t: t.dims[0] if t.dims else 0)
    values = onnx.numpy_helper.to_array(scale).copy()
    values[0] *= 100
    scale.CopyFrom(onnx.numpy_helper.from_array(values, scale.name))
    faulty = tmp_path / "generator_int8.onnx"
    onnx.save(model, str(faulty))
    bad = run_parity(checkpoint, faulty, **options)
    assert not bad.passed
    assert any(line.startswith("generator_int8.onnx[") for line in bad.failures())
    assert "generator_int8.onnx" in bad.distributions  # judged, figures in the report


def test_the_distribution_check_fails_a_generator_that_draws_noise(
    conditional_checkpoints, mnist5k_feature_net
):
    ckpt = load_checkpoint(conditional_checkpoints["dcgan"])
    generator = ckpt.generator()

    def fp32(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return generator(torch.from_numpy(z)).numpy()

    def noise(z: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(0)
        return rng.uniform(-1, 1, (len(z), 1, 28, 28)).astype(np.float32)

    common = {"nz": 16, "classes": 10, "net": mnist5k_feature_net, "n": SAMPLES}
    same = compare_samples(fp32, fp32, dataset=_mnist(), **common)
    assert same.passed and same.reference == same.candidate
    worse = compare_samples(fp32, noise, dataset=_mnist(), **common)
    assert not worse.passed and any("FID" in p for p in worse.problems)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"classifier_score": 9.0 - 0.21}, "classifier score"),
        ({"fid": 1.0 * 1.26}, "FID"),
        ({"classes_covered": 9}, "classes covered"),
        ({"class_as_asked": 0.97 - 0.011}, "class as asked"),
    ],
)
def test_each_distribution_bound_fails_just_beyond_it(change, named):
    fp32 = SampleFigures(fid=1.0, classifier_score=9.0, classes_covered=10, class_as_asked=0.97)
    within = SampleFigures(
        fid=1.24, classifier_score=8.81, classes_covered=10, class_as_asked=0.961
    )
    assert bound_problems(fp32, within, INT8_BOUNDS) == []
    problems = bound_problems(fp32, dataclasses.replace(within, **change), INT8_BOUNDS)
    assert len(problems) == 1 and named in problems[0]


def test_export_cli_int8(conditional_checkpoints, mnist5k_feature_net, tmp_path, capsys):
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    checkpoint.parent.mkdir()
    shutil.copy(conditional_checkpoints["mlp"], checkpoint)
    cache = mnist5k_feature_net.path.parent
    code, out, err = ganport(
        capsys, "export", checkpoint, "--int8", "--calibration", 64, "--cache-dir", cache
    )
    assert code == 0, err
    assert "generator_int8.onnx" in out and "int8 vs fp32 on 2000 samples" in out
    manifest = json.loads((checkpoint.parent / "manifest.json").read_text())
    int8 = [m for m in manifest["models"] if m["precision"] == "int8"]
    assert len(int8) == 2 and all(m["quantization"]["calibration_samples"] == 64 for m in int8)
    code, _, err = ganport(capsys, "export", checkpoint, "--int8", "--calibration", 0)
    assert code == 2 and "--calibration" in err


def test_evaluate_reads_int8_models(int8_export, mnist5k_feature_net):
    from ganport.infer.quality.evaluate import evaluate

    result = evaluate(
        int8_export / "generator_int8.onnx", n=200, provider="cpu", feature_net=mnist5k_feature_net
    )
    assert result.source == "onnx" and result.model.n == 200
    assert result.model.classes_covered >= 1 and np.isfinite(result.model.fid)


def _mnist():
    from ganport.train import load_dataset

    return load_dataset("mnist5k", 28)


def test_bench_times_the_int8_engine_beside_fp32(int8_export, tmp_path, capsys):
    report_path = tmp_path / "bench.json"
    tiny = ("--threads", 1, "--repeats", 2, "--warmup", 1, "--rounds", 1, "--matmul-size", 64)
    code, out, err = ganport(
        capsys, "bench", int8_export, "--batch-sizes", "2", "--no-compile", *tiny,
        "--json", report_path,
    )  # fmt: skip
    assert code == 0, err
    assert "ort-cpu-int8" in out
    for model in json.loads(report_path.read_text())["models"]:
        engines = model["engines"]
        assert {"torch-eager", "ort-cpu", "ort-cpu-int8", "ort-cpu-nospin-int8"} <= set(engines)
        assert engines["ort-cpu-int8"]["settings"]["precision"] == "int8"
        cells = {c["engine"]: c for c in model["cells"]}
        assert cells["ort-cpu-int8"]["status"] == "ok" and cells["ort-cpu-int8"]["agrees"]
        assert 0 < cells["ort-cpu-int8"]["max_abs_diff"] < 1  # int8: close, never exact
    # An int8 file on its own is timed against torch's fp32 model as well.
    code, out, err = ganport(
        capsys, "bench", int8_export / "generator_int8.onnx", "--batch-sizes", "1",
        "--no-compile", *tiny,
    )  # fmt: skip
    assert code == 0, err
    assert "ort-cpu-int8" in out


@pytest.mark.skipif(
    not os.environ.get("GANPORT_RUNTIME_PYTHON"),
    reason="GANPORT_RUNTIME_PYTHON names no runtime-only install (.ci/run makes one)",
)
def test_the_runtime_only_install_samples_int8_models(int8_export, tmp_path):
    """onnxruntime alone runs the QDQ file: no torch, no onnx, in the base install."""
    runtime = os.environ["GANPORT_RUNTIME_PYTHON"]
    model = int8_export / "generator_int8.onnx"
    args = ["sample", str(model), "-n", "5", "--seed", "2", "--provider", "cpu", "--npy", "s.npy"]
    sample = subprocess.run(
        [runtime, "-m", "ganport", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert sample.returncode == 0, sample.stderr
    expected = Generator(model, provider="cpu").sample(5, seed=2)
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), expected, atol=1e-6)


@pytest.mark.parametrize("kind", ["older-0", "older-1", "onnxruntime-node"])
def test_int8_files_run_alike_on_older_and_other_runtimes(
    kind, int8_export, conditional_dcgan, tmp_path
):
    """The QDQ files on onnxruntime 1.15 and 1.17 and onnxruntime-node: each computes what
    this onnxruntime computes, to a few uint8 steps (kernels may round a requantisation the
    other way), and far inside the int8 profile. int8 files are opset 19 (ONNX's reference
    operators have no DequantizeLinear of opset 18), which 1.15 does not implement: it runs
    the file exported for it with --oldest-onnxruntime 1.15, at opset 18."""
    runtime = compat_runtime(kind)
    folder = int8_export
    generator = Generator(int8_export / "generator.onnx", provider="cpu")
    z = latent(6, generator.nz, seed=11)
    images = generator.generate(z)
    if runtime.version.startswith("1.15"):
        _, errors = runtime.run_many([(int8_export / "generator_int8.onnx", z)])
        assert "(19)" in errors[0], errors  # e.g. "no implementation for Cast(19)"
        folder = tmp_path / "for-1.15"
        options = ExportOptions(int8=True, calibration=128, oldest_onnxruntime="1.15")
        export_checkpoint(conditional_dcgan, folder, options=options)
    jobs = [
        (folder / "generator_int8.onnx", z),
        (folder / "discriminator_int8.onnx", images),
    ]
    outputs, errors = runtime.run_many(jobs)
    assert errors == ["", ""], errors
    here, _ = compat.current_onnxruntime().run_many(jobs)
    for theirs, ours in zip(outputs, here, strict=True):
        assert theirs.shape == ours.shape
        assert np.abs(theirs - ours).max() < 0.1 * max(1.0, float(np.sqrt(np.mean(ours**2))))
