"""`ganport bench` runs and writes a complete, valid report; bad usage is one line and exit 2.

No timing is asserted anywhere: speed is measured by `ganport bench` and benchmarks/,
never by tests.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_inprocess as ganport

TINY = ("--threads", 1, "--repeats", 2, "--warmup", 1, "--rounds", 2, "--matmul-size", 64)


def test_bench_of_an_export_folder_writes_a_full_report(mlp28_export, tmp_path, capsys):
    report_path = tmp_path / "bench.json"
    code, out, err = ganport(
        capsys,
        "bench",
        mlp28_export,
        "--batch-sizes",
        "1,3",
        "--no-compile",
        *TINY,
        "--json",
        report_path,
    )
    assert code == 0, err
    assert "generator.onnx" in out and "discriminator.onnx" in out and "ort-cpu" in out
    report = json.loads(report_path.read_text())
    manifest = json.loads((mlp28_export / "manifest.json").read_text())
    assert report["report"] == "ganport-bench" and report["provider"] == "cpu"
    assert report["checkpoint"] == manifest["source"]["checkpoint"]
    assert report["threads"]["requested"] == 1 and report["threads"]["torch_intra_op"] == 1
    assert {"torch", "onnxruntime", "onnx", "numpy"} <= set(report["versions"])
    assert [m["role"] for m in report["models"]] == ["generator", "discriminator"]
    for model in report["models"]:
        assert model["flops_per_sample"] == 2 * sum(n["macs"] for n in model["macs_per_node"]) > 0
        engines = ("torch-eager", "ort-cpu", "ort-cpu-nospin")
        assert set(model["engines"]) == set(engines)
        for ort_engine in engines[1:]:
            assert model["engines"][ort_engine]["settings"]["intra_op_num_threads"] == 1
        assert model["engines"]["ort-cpu-nospin"]["settings"]["allow_spinning"] == "0"
        cells = {(c["engine"], c["batch"]): c for c in model["cells"]}
        assert set(cells) == {(e, b) for e in engines for b in (1, 3)}
        for cell in cells.values():
            assert cell["status"] == "ok" and cell["agrees"] is True
            assert cell["max_abs_diff"] < 1e-5
            assert cell["latency"]["runs"] == 2
            assert cell["latency"]["min_ms"] <= cell["latency"]["median_ms"]
            assert cell["latency"]["median_ms"] <= cell["latency"]["p90_ms"]
            assert cell["samples_per_s"] > 0 and cell["gflops"] > 0 and cell["floor_ratio"] > 0
            assert cell["first_call_s"] >= 0
        assert cells[("torch-eager", 3)]["speedup_vs_baseline"] == 1.0
        assert [m["batch"] for m in model["matmul"]] == [1, 3]
        for entry in model["matmul"]:
            assert set(entry["median_gflops"]) == {"matmul-torch", "matmul-ort"}


def test_bench_of_one_file_covers_torch_compile_without_failing(dcgan28_export, capsys, tmp_path):
    """torch.compile runs and agrees, or is reported failed with its reason: never a crash."""
    report_path = tmp_path / "bench.json"
    code, _, err = ganport(
        capsys,
        "bench",
        dcgan28_export / "generator.onnx",
        "--batch-sizes",
        "2",
        *TINY,
        "--json",
        report_path,
    )
    assert code == 0, err
    (model,) = json.loads(report_path.read_text())["models"]
    assert model["role"] == "generator" and set(model["engines"]) == {
        "torch-eager",
        "torch-compile",
        "ort-cpu",
        "ort-cpu-nospin",
    }
    compiled = next(c for c in model["cells"] if c["engine"] == "torch-compile")
    assert compiled["status"] in ("ok", "failed")
    if compiled["status"] == "ok":
        assert compiled["agrees"] is True and compiled["first_call_s"] > 0
    else:
        assert compiled["reason"]


def test_checkpoint_option_overrides_a_missing_manifest(mlp28_export, tmp_path, capsys):
    shutil.copy(mlp28_export / "generator.onnx", tmp_path / "generator.onnx")
    code, _, err = ganport(capsys, "bench", tmp_path, "--batch-sizes", "1", "--no-compile", *TINY)
    assert code == 2 and err.count("\n") == 1
    assert "no manifest.json" in err and "--checkpoint" in err
    checkpoint = json.loads((mlp28_export / "manifest.json").read_text())["source"]["checkpoint"]
    code, out, err = ganport(
        capsys,
        "bench",
        tmp_path,
        "--checkpoint",
        checkpoint,
        "--batch-sizes",
        "1",
        "--no-compile",
        *TINY,
    )
    assert code == 0, err
    assert "generator.onnx" in out


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda export, tmp: [tmp], "no generator.onnx or discriminator.onnx"),
        (lambda export, tmp: [tmp / "absent"], "does not exist"),
        (lambda export, tmp: [export / "manifest.json"], "not an .onnx file"),
        (lambda export, tmp: [export, "--batch-sizes", "0,4"], "positive"),
        (lambda export, tmp: [export, "--threads", "0"], "--threads"),
    ],
    ids=["folder-without-models", "missing-path", "not-onnx", "batch-zero", "threads-zero"],
)
def test_bad_usage_exits_2_with_one_line(mlp28_export, tmp_path, capsys, make_args, message):
    code, _, err = ganport(capsys, "bench", *make_args(mlp28_export, tmp_path))
    assert code == 2
    assert err.count("\n") == 1 and message in err


def test_models_from_another_checkpoint_are_refused(mlp28_export, dcgan28_checkpoint, capsys):
    code, _, err = ganport(
        capsys, "bench", mlp28_export, "--checkpoint", dcgan28_checkpoint, "--no-compile", *TINY
    )
    assert code == 2 and err.count("\n") == 1
    assert "exported from another checkpoint" in err


def test_cuda_engines_without_a_gpu_say_why_and_exit_2(mlp28_export, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the engines run instead of being skipped")
    code, out, err = ganport(
        capsys, "bench", mlp28_export, "--provider", "cuda", "--batch-sizes", "1", *TINY
    )
    assert code == 2 and err.count("\n") == 1
    assert "nothing could run with --provider cuda" in err
    assert "torch-cuda-graph: skipped" in out and "ort-cuda-iobinding: skipped" in out


def test_bench_help_does_not_need_a_model(capsys):
    code, out, _ = ganport(capsys, "bench", "--help")
    assert code == 0 and "--batch-sizes" in out and "--provider" in out


def test_exported_fp16_models_are_refused(mlp28_checkpoint, tmp_path, capsys):
    from ganport.export import export_generator

    path = tmp_path / "generator_fp16.onnx"
    export_generator(mlp28_checkpoint, path, exporter="torchscript", fp16=True, check=False)
    code, _, err = ganport(capsys, "bench", path, "--checkpoint", mlp28_checkpoint, *TINY)
    assert code == 2 and "fp16" in err and err.count("\n") == 1


def test_report_names_the_checkpoint_of_a_relative_manifest(mlp28_export, tmp_path, capsys):
    """An export folder moved with its checkpoint still finds it beside the manifest."""
    folder = tmp_path / "moved"
    shutil.copytree(mlp28_export, folder)
    source = Path(json.loads((folder / "manifest.json").read_text())["source"]["checkpoint"])
    shutil.copy(source, folder / source.name)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["source"]["checkpoint"] = f"elsewhere/{source.name}"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = ganport(
        capsys, "bench", folder / "generator.onnx", "--batch-sizes", "1", "--no-compile", *TINY
    )
    assert code == 0, err


def test_precisions_run_their_engines_and_say_why_others_cannot(mlp28_checkpoint, tmp_path, capsys):
    """fp16 runs torch autocast and the export's *_fp16.onnx, bf16 torch autocast, each
    checked at its own tolerance; TF32 and a missing int8 export are skipped with why."""
    from ganport.export import ExportOptions, export_checkpoint

    folder = tmp_path / "export"
    export_checkpoint(mlp28_checkpoint, folder, options=ExportOptions(fp16=True))
    report_path = tmp_path / "bench.json"
    code, out, _ = ganport(
        capsys,
        "bench",
        folder,
        "--precision",
        "fp16,bf16,tf32,int8",
        "--batch-sizes",
        "2",
        "--no-compile",
        *TINY,
        "--json",
        report_path,
    )
    assert code == 0, out
    (generator, _discriminator) = json.loads(report_path.read_text())["models"]
    engines = generator["engines"]
    for name, precision in (
        ("torch-eager-fp16", "fp16"),
        ("ort-cpu-fp16", "fp16"),
        ("torch-eager-bf16", "bf16"),
    ):
        assert engines[name]["status"] == "ok" and engines[name]["precision"] == precision
    assert engines["ort-cpu-fp16"]["settings"]["model"] == "generator_fp16.onnx"
    assert "CUDA format" in engines["torch-eager-tf32"]["reason"]
    assert "--int8" in engines["ort-cpu-int8"]["reason"]
    cells = {cell["engine"]: cell for cell in generator["cells"]}
    assert set(cells) == {
        "torch-eager-fp16",
        "ort-cpu-fp16",
        "ort-cpu-nospin-fp16",
        "torch-eager-bf16",
    }
    for cell in cells.values():
        assert cell["agrees"] and 0 < cell["max_abs_diff"] < 0.1, cell
    # The CPU's floor is fp32 only: fp16 and bf16 GEMMs are not what it is rated by.
    assert list(generator["matmul"][0]["floor_ms_by_precision"]) == ["fp32"]


def test_an_unknown_precision_is_a_usage_error(mlp28_export, capsys):
    code, _, err = ganport(capsys, "bench", mlp28_export, "--precision", "fp8", *TINY)
    assert code == 2 and err.count("\n") == 1 and "fp8" in err


def test_the_bf16_tolerance_still_catches_a_broken_output():
    import numpy as np

    from ganport.core.tolerance import compare, profile_for

    want = np.random.default_rng(0).uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32)
    rounded = want + np.float32(0.04) * np.sign(want)  # bf16-sized error: passes
    assert compare(rounded, want, profile_for("bf16", "CPU")).passed
    broken = want.copy()
    broken[0, 0, :4] = -broken[0, 0, :4]  # four rows of one image flipped: fails
    assert not compare(broken, want, profile_for("bf16", "CPU")).passed


def test_other_runtimes_are_timed_beside_onnx_runtime(mlp28_export, tmp_path, capsys):
    """--runtime adds engines that run the export on another runtime, checked against torch
    like the others; one whose file is not beside the .onnx is skipped saying why."""
    pytest.importorskip("tract", reason="pip install tract (.ci/run installs it)")
    report_path = tmp_path / "bench.json"
    code, _, err = ganport(
        capsys,
        "bench",
        mlp28_export / "generator.onnx",
        "--batch-sizes",
        "1,3",
        "--no-compile",
        "--runtime",
        "tract",
        "--runtime",
        "onnx-reference",
        "--runtime",
        "litert",
        *TINY,
        "--json",
        report_path,
    )
    assert code == 0, err
    (model,) = json.loads(report_path.read_text())["models"]
    for name in ("tract", "onnx-reference"):
        assert model["engines"][name]["status"] == "ok"
        assert model["engines"][name]["settings"]["model"] == "generator.onnx"
        cells = [c for c in model["cells"] if c["engine"] == name]
        assert [c["batch"] for c in cells] == [1, 3]
        assert all(c["agrees"] and c["max_abs_diff"] < 1e-5 for c in cells)
    litert = model["engines"]["litert"]
    assert litert["status"] == "skipped"
    assert "generator.tflite" in litert["reason"] or "not installed" in litert["reason"]
