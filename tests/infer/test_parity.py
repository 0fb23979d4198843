"""Parity passes on every real export and catches every fault we plant in one."""

import json
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import onnx
import pytest
import torch

from ganport.core.metadata import METADATA_KEY
from ganport.core.tolerance import PROFILES, Tolerance, compare
from ganport.infer.compare.parity import assert_parity, run_parity
from tests.conftest import ARCH_SIZES, EXPORTERS, OPSETS, train_run
from tests.conftest import run_ganport as ganport

FAST = {"batch_sizes": (1, 2, 7, 64), "seeds": (0,), "sweep_samples": 100}


@pytest.mark.parametrize(
    "case",
    [(a, s, e, o) for a, s in ARCH_SIZES for e in EXPORTERS for o in OPSETS],
    ids=lambda c: "-".join(map(str, c)),
)
def test_parity_passes_on_the_whole_export_matrix_fp32_and_fp16(case, export_matrix, checkpoints):
    report = run_parity(checkpoints[case[:2]], export_matrix[case], **FAST)
    assert report.passed, report.failures()
    profiles = {t["name"] for t in report.tolerances.values()}
    assert profiles == {"fp32-cpu", "fp16"}
    fp32 = [c for c in report.cases if c.model == "generator.onnx"]
    assert max(c.comparison.max_abs for c in fp32) <= 1e-5
    kinds = {c.inputs for c in report.cases if c.role == "discriminator"}
    assert kinds == {"real", "generated"}  # D sees real data and G samples, not noise


def test_tolerance_rule_needs_both_atol_and_rtol():
    tol = Tolerance("t", atol=1e-3, rtol=1e-2)
    want = np.array([1000.0, 0.0, 1.0])
    assert compare(np.array([1000.5, 0.0, 1.0]), want, tol).passed  # within rtol·|ref|
    assert compare(np.array([1000.0, 5e-4, 1.0]), want, tol).passed  # within atol
    failed = compare(np.array([1000.0, 0.0, 1.05]), want, tol)
    assert not failed.passed and failed.worst_index == [2] and failed.failing_elements == 1
    nan = compare(np.array([np.nan, 0.0, 1.0]), want, tol)
    assert not nan.passed and nan.nonfinite == 1
    assert PROFILES["fp32-cpu"].atol == 1e-5 and PROFILES["fp32-cuda"].atol == 1e-4


def _copy_export(src, dst):
    shutil.copytree(src, dst)
    return dst


def _edit_first_initializer(path, edit):
    model = onnx.load(str(path))
    init = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    array = onnx.numpy_helper.to_array(init).copy()
    edit(array)
    init.CopyFrom(onnx.numpy_helper.from_array(array, init.name))
    onnx.save(model, str(path))


def test_one_changed_weight_fails_parity(tmp_path, mlp28_export, mlp28_checkpoint):
    folder = _copy_export(mlp28_export, tmp_path / "x")

    def nudge(a):
        a.flat[0] += 0.5

    _edit_first_initializer(folder / "generator.onnx", nudge)
    proc = ganport(
        "parity",
        mlp28_checkpoint,
        folder / "generator.onnx",
        "--samples",
        "100",
        "--junit",
        tmp_path / "p.xml",
        "--json",
        tmp_path / "p.json",
    )
    assert proc.returncode == 1
    assert "weights or the graph differ" in proc.stderr
    report = json.loads((tmp_path / "p.json").read_text())
    assert not report["passed"] and report["failures"]
    suite = ET.parse(tmp_path / "p.xml").getroot()
    assert int(suite.get("failures")) > 0


def test_nan_output_fails_parity(tmp_path, mlp28_export, mlp28_checkpoint):
    folder = _copy_export(mlp28_export, tmp_path / "x")

    def poison(a):
        a.flat[:] = np.nan

    _edit_first_initializer(folder / "discriminator.onnx", poison)
    report = run_parity(mlp28_checkpoint, folder / "discriminator.onnx", **FAST)
    assert not report.passed
    assert any("NaN" in line for line in report.failures())


def _export_with_metadata(module, example, path, source_model, dynamic, training=False):
    """A hand-made faulty export carrying the good model's metadata."""
    from torch.onnx import TrainingMode

    axes = {"z": {0: "batch"}, "image": {0: "batch"}} if dynamic else None
    torch.onnx.export(
        module,
        (example,),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["z"],
        output_names=["image"],
        dynamic_axes=axes,
        training=TrainingMode.TRAINING if training else TrainingMode.EVAL,
        do_constant_folding=not training,
    )
    good = onnx.load(str(source_model))
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {p.key: p.value for p in good.metadata_props})
    onnx.save(model, str(path))


def test_batchnorm_exported_in_training_mode_fails_with_its_cause(
    tmp_path, mlp28_export, mlp28_checkpoint
):
    from ganport.train import load_checkpoint

    g = load_checkpoint(mlp28_checkpoint).generator()
    path = tmp_path / "generator.onnx"
    _export_with_metadata(
        g.train(),
        torch.randn(4, 16),
        path,
        mlp28_export / "generator.onnx",
        dynamic=True,
        training=True,
    )
    report = run_parity(mlp28_checkpoint, path, **FAST)
    assert not report.passed
    assert "training mode" in report.failures()[0]


def test_fixed_batch_export_fails_with_its_cause(tmp_path, mlp28_export, mlp28_checkpoint):
    from ganport.train import load_checkpoint

    g = load_checkpoint(mlp28_checkpoint).generator()
    path = tmp_path / "generator.onnx"
    _export_with_metadata(
        g, torch.randn(2, 16), path, mlp28_export / "generator.onnx", dynamic=False
    )
    proc = ganport("parity", mlp28_checkpoint, path, "--samples", "0")
    assert proc.returncode == 1
    assert "batch axis is fixed at 2" in proc.stdout + proc.stderr


def test_onnx_from_another_checkpoint_fails_with_its_cause(tmp_path, mlp28_export):
    other = train_run(tmp_path / "other", "mlp", 28, steps=2, seed=7)
    proc = ganport("parity", other, mlp28_export, "--samples", "0", "--seeds", "0")
    assert proc.returncode == 1
    assert "do not belong together" in proc.stderr


def test_bad_usage_exits_2(tmp_path, mlp28_export, mlp28_checkpoint):
    proc = ganport("parity", mlp28_checkpoint, mlp28_export, "--batch-sizes", "1,x")
    assert proc.returncode == 2 and "comma-separated" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = ganport("parity", mlp28_checkpoint, empty)
    assert proc.returncode == 2 and "no .onnx files" in proc.stderr
    stripped = tmp_path / "g.onnx"
    model = onnx.load(str(mlp28_export / "generator.onnx"))
    del model.metadata_props[:]
    onnx.save(model, str(stripped))
    proc = ganport("parity", mlp28_checkpoint, stripped)
    assert proc.returncode == 2 and f"no '{METADATA_KEY}' metadata" in proc.stderr


def test_the_pytest_fixture_for_users_ci(pytester, mlp28_checkpoint, mlp28_export, tmp_path):
    broken = _copy_export(mlp28_export, tmp_path / "broken")
    _edit_first_initializer(broken / "generator.onnx", lambda a: a.__setitem__(..., 0.0))
    pytester.makepyfile(f"""
        import pytest

        def test_good(ganport_parity):
            report = ganport_parity({str(mlp28_checkpoint)!r}, {str(mlp28_export)!r},
                                    seeds=(0,), sweep_samples=50)
            assert report.passed

        def test_broken(ganport_parity):
            with pytest.raises(AssertionError, match="generator.onnx"):
                ganport_parity({str(mlp28_checkpoint)!r}, {str(broken)!r}, seeds=(0,),
                               sweep_samples=0)
    """)
    result = pytester.runpytest_subprocess("-q")  # the plugin loads by its entry point
    result.assert_outcomes(passed=2)


def test_assert_parity_returns_the_report(mlp28_checkpoint, mlp28_export):
    report = assert_parity(mlp28_checkpoint, mlp28_export, seeds=(0,), sweep_samples=100)
    data = report.to_dict()
    assert data["passed"] and data["versions"]["onnxruntime"]
    assert {c["provider"] for c in data["cases"]} == {"CPUExecutionProvider"}
    assert data["sweeps"][0]["samples"] == 100


def test_parity_on_another_runtime_runs_its_file_and_catches_a_changed_weight(
    tmp_path, mlp28_export, mlp28_checkpoint
):
    """--runtime tract runs the .onnx on tract; --runtime litert wants the .tflite that
    `export --target litert` writes, and says so in one line when there is none."""
    pytest.importorskip("tract", reason="pip install tract (.ci/run installs it)")
    args = ("--samples", "0", "--seeds", "0", "--json", tmp_path / "p.json")
    proc = ganport("parity", mlp28_checkpoint, mlp28_export, "--runtime", "tract", *args)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "p.json").read_text())
    assert all(t["provider"].startswith("tract ") for t in report["tolerances"].values())
    folder = _copy_export(mlp28_export, tmp_path / "x")

    def nudge(a):
        a.flat[0] += 0.5

    _edit_first_initializer(folder / "generator.onnx", nudge)
    proc = ganport("parity", mlp28_checkpoint, folder, "--runtime", "tract", *args)
    assert proc.returncode == 1 and "parity failed" in proc.stderr
    proc = ganport("parity", mlp28_checkpoint, mlp28_export, "--runtime", "litert")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--target" in proc.stderr, proc.stderr
