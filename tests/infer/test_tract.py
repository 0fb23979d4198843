"""tract (the pure-Rust ONNX runtime) on ganport's exports: every form loads and agrees with
torch within its precision's tolerance, class edges included; ``--target tract`` checks
the files it prepares there; a broken file fails that check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from ganport.core.classes import edge_latent
from ganport.core.errors import InputError, JobFailed
from ganport.core.latent import latent
from ganport.core.tolerance import compare, profile_for
from ganport.infer.engines import get_engine
from tests.conftest import run_inprocess

pytest.importorskip("tract", reason="tract is not installed here (.ci/run: pip install tract)")

# file → (precision, the batch sizes it runs at)
VARIANTS = {
    "generator.onnx": ("fp32", (1, 7, 64)),
    "generator_fp16.onnx": ("fp16", (1, 7, 64)),
    "generator_int8.onnx": ("int8", (1, 7, 64)),
    "generator_batch8.onnx": ("fp32", (8,)),
}


@pytest.fixture(scope="module")
def conditional(tmp_path_factory, conditional_checkpoints) -> tuple[Path, Path]:
    """The conditional DCGAN 28's G in every form (checked on ONNX Runtime as it exports)."""
    from ganport.export import ExportOptions, export_checkpoint

    checkpoint = conditional_checkpoints["dcgan"]
    out = tmp_path_factory.mktemp("tract")
    options = ExportOptions(fp16=True, int8=True, static_batch=8)
    export_checkpoint(checkpoint, out, which="generator", options=options)
    return checkpoint, out


def _torch_generator(checkpoint: Path):
    from ganport.train import load_checkpoint

    generator = load_checkpoint(checkpoint).generator()

    def run(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return generator(torch.from_numpy(z)).numpy()

    return run


def _nz(path: Path) -> int:
    return onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[1].dim_value


@pytest.mark.parametrize("file", VARIANTS)
def test_every_form_agrees_with_torch_on_tract_class_edges_included(conditional, file):
    from ganport.train import load_checkpoint

    checkpoint, folder = conditional
    model = load_checkpoint(checkpoint).config.model
    precision, sizes = VARIANTS[file]
    tol = profile_for(precision, "CPUExecutionProvider")
    loaded = get_engine("tract").load(folder / file)
    reference = _torch_generator(checkpoint)
    inputs = {
        "z": latent(64, model.nz, seed=0),
        "z at class edges": edge_latent(latent(64, model.nz, seed=1), model.classes),
    }
    for name, z in inputs.items():
        for batch in sizes:
            (got,) = loaded.run({"z": z[:batch]})
            result = compare(got, reference(z[:batch]), tol)
            assert result.passed, f"{file}, {name}, batch {batch}: {result}"
            assert got.shape == (batch, 1, 28, 28)


def test_the_converters_own_fp16_form_is_refused_in_one_line(conditional, tmp_path):
    """Why fp16 exports write a Gemm's bias as its own Add: the float16 converter's Gemm
    with a float16 bias, which tract 0.23 refuses (the same G as generator_fp16.onnx)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    _, folder = conditional
    model = onnx.load(str(folder / "generator.onnx"))
    plain = tmp_path / "plain_fp16.onnx"
    onnx.save(convert_float_to_float16(model, keep_io_types=True), str(plain))
    with pytest.raises(InputError, match="tract cannot load it") as refused:
        get_engine("tract").load(plain)
    assert "Gemm" in str(refused.value) and "\n" not in str(refused.value)
    ganport_form = onnx.load(str(folder / "generator_fp16.onnx"))
    assert [n for n in ganport_form.graph.node if n.op_type == "Gemm" and len(n.input) == 3] == []


def test_export_for_tract_checks_its_files_there(conditional, tmp_path, capsys):
    checkpoint, _ = conditional
    args = ["export", checkpoint, "--out", tmp_path, "--which", "generator", "--fp16"]
    code, out, err = run_inprocess(capsys, *args, "--target", "tract")
    assert code == 0, err
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    models = {m["file"]: m for m in manifest["models"]}
    target = models["generator.onnx"]["target"]
    assert target["runtime"] == "tract" and target["file"] == "generator.onnx"
    assert target["check"]["passed"]
    assert [b["batch"] for b in target["check"]["batches"]] == [1, 2, 7, 64]
    assert max(b["max_abs_err"] for b in target["check"]["batches"]) < 1e-5
    # fp16 files are written for ONNX Runtime but not prepared for tract (the caveat says why)
    assert models["generator_fp16.onnx"]["checks"]["passed"]
    assert models["generator_fp16.onnx"].get("target") is None
    assert "checked on tract" in out and "run the fp32 or int8 file on tract" in out


def test_a_broken_model_fails_the_tract_check(conditional, tmp_path):
    from ganport.export.targets.prepare import prepare_for_target

    checkpoint, folder = conditional
    model = onnx.load(str(folder / "generator.onnx"))
    weight = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
    flipped = -onnx.numpy_helper.to_array(weight)
    weight.CopyFrom(onnx.numpy_helper.from_array(flipped, weight.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    z = latent(64, _nz(folder / "generator.onnx"), seed=0)
    with pytest.raises(
        JobFailed, match=r"tract check failed for generator\.onnx: at batch 1 tract"
    ):
        prepare_for_target(
            "tract", True, broken, tmp_path / "generator.onnx", _torch_generator(checkpoint), [z]
        )


def test_a_static_file_refuses_another_batch_in_one_line(conditional):
    _, folder = conditional
    loaded = get_engine("tract").load(folder / "generator_batch8.onnx")
    with pytest.raises(JobFailed, match="tract failed to run the model") as refused:
        loaded.run({"z": latent(3, _nz(folder / "generator_batch8.onnx"), seed=0)})
    assert "\n" not in str(refused.value)
