"""The session factory: the provider reported is the one that runs; bad requests fail clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from ganport.core.errors import InputError
from ganport.infer.runtime.session import (
    CPU,
    create_session,
    run,
    run_on_device,
    runtime_conflict,
    runtime_versions,
)


def _cuda_runs(path: Path) -> bool:
    try:
        return create_session(path, "cuda")[1] == "CUDAExecutionProvider"
    except InputError:
        return False


@pytest.fixture(scope="module")
def generator(dcgan28_export: Path) -> Path:
    return dcgan28_export / "generator.onnx"


def test_cpu_runs_on_cpu(generator):
    session, provider = create_session(generator, "cpu")
    assert provider == CPU and session.get_providers() == [CPU]


def test_auto_reports_cpu_here(generator):
    if _cuda_runs(generator):
        pytest.skip("CUDA works on this machine: auto picks it (tests/infer/test_cuda.py)")
    session, provider = create_session(generator, "auto")
    assert provider == CPU and session.get_providers()[0] == CPU


def test_cuda_without_a_working_cuda_is_a_clear_input_error(generator, capfd):
    if _cuda_runs(generator):
        pytest.skip("CUDA works on this machine")
    capfd.readouterr()
    with pytest.raises(InputError) as error:
        create_session(generator, "cuda")
    message = str(error.value)
    assert "CUDA" in message and "\n" not in message
    # It says what to do: install the CUDA libraries, the GPU build, or use the CPU.
    assert any(hint in message for hint in ("onnxruntime-gpu", "--provider cpu", "nvidia-smi"))
    assert "[E:onnxruntime" not in capfd.readouterr().err, "ORT's log spam must be replaced"


def test_unknown_options_are_input_errors(generator):
    with pytest.raises(InputError, match="provider 'tpu'"):
        create_session(generator, "tpu")
    with pytest.raises(InputError, match="cudnn_conv_algo_search"):
        create_session(generator, "cpu", cudnn_conv_algo_search="FASTEST")
    with pytest.raises(InputError, match="graph_optimization_level"):
        create_session(generator, "cpu", graph_optimization_level="max")
    with pytest.raises(InputError, match="intra_op_threads"):
        create_session(generator, "cpu", intra_op_threads=-1)


def test_cpu_options_do_not_change_results(generator):
    z = {"z": np.random.default_rng(0).standard_normal((3, 16), dtype=np.float32)}
    plain, _ = create_session(generator, "cpu")
    tuned, _ = create_session(
        generator, "cpu", intra_op_threads=1, graph_optimization_level="disable"
    )
    np.testing.assert_allclose(
        run(tuned, CPU, z, ["image"])[0], run(plain, CPU, z, ["image"])[0], atol=1e-6
    )


def test_io_binding_returns_ort_values_on_the_device(generator):
    session, _ = create_session(generator, "cpu")
    z = np.random.default_rng(0).standard_normal((5, 16), dtype=np.float32)
    (bound,) = run_on_device(session, {"z": z}, ["image"], "cpu")
    assert isinstance(bound, ort.OrtValue) and bound.device_name().lower() == "cpu"
    assert np.array_equal(bound.numpy(), session.run(["image"], {"z": z})[0])


def test_no_conflict_with_one_runtime_installed():
    assert runtime_conflict() is None


def test_both_runtimes_installed_is_detected(tmp_path):
    # A second distribution's metadata on the path is exactly what `pip install onnxruntime`
    # beside onnxruntime-gpu leaves behind.
    other = "onnxruntime" if _installed("onnxruntime-gpu") else "onnxruntime-gpu"
    info = tmp_path / f"{other.replace('-', '_')}-1.20.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {other}\nVersion: 1.20.0\n")
    code = "from ganport.infer.runtime.session import runtime_conflict; print(runtime_conflict())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert "onnxruntime 1" in result.stdout and "onnxruntime-gpu 1" in result.stdout
    assert "pip uninstall" in result.stdout


def test_runtime_versions_name_the_runtime():
    versions = runtime_versions()
    assert versions["onnxruntime"] == ort.__version__
    assert {"ganport", "numpy", "python"} <= set(versions)


def _installed(name: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(name)
    except PackageNotFoundError:
        return False
    return True
