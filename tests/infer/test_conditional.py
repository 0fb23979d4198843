"""Class-conditional generators through export, ONNX Runtime, parity and the CLI."""

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto

from ganport.core.classes import class_of_latent, edge_latent, latent_of_class
from ganport.core.latent import latent
from ganport.infer import Generator
from ganport.infer.compare.parity import run_parity
from ganport.train import load_checkpoint
from tests.conftest import run_inprocess

VARIANTS = [
    ("dcgan", "dynamo", 18),
    ("dcgan", "dynamo", 13),
    ("dcgan", "torchscript", 17),
    ("mlp", "dynamo", 18),
]


@pytest.fixture(scope="module")
def conditional_exports(conditional_checkpoints, tmp_path_factory) -> dict:
    """Each variant exported once, fp32 and fp16."""
    from ganport.export import ExportOptions, export_checkpoint

    folders = {}
    for arch, exporter, opset in VARIANTS:
        out = tmp_path_factory.mktemp(f"{arch}-conditional-{exporter}-{opset}")
        options = ExportOptions(exporter=exporter, opset=opset, fp16=True)
        export_checkpoint(conditional_checkpoints[arch], out, options=options)
        folders[(arch, exporter, opset)] = out
    return folders


def _torch_generator(conditional_checkpoints, arch):
    return load_checkpoint(conditional_checkpoints[arch]).generator()


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v)))
def test_exported_generator_draws_the_same_class_as_torch(
    conditional_exports, conditional_checkpoints, variant
):
    folder = conditional_exports[variant]
    g = _torch_generator(conditional_checkpoints, variant[0])
    z = edge_latent(latent(90, 16, seed=3), 10)
    with torch.no_grad():
        want = g(torch.from_numpy(z)).numpy()
    for name, atol in (("generator.onnx", 1e-5), ("generator_fp16.onnx", 1e-2)):
        onnx_g = Generator(folder / name, provider="cpu")
        assert onnx_g.classes == 10 and onnx_g.metadata.classes == 10
        got = onnx_g.generate(z)
        np.testing.assert_allclose(got, want, atol=atol, rtol=0)


def test_sample_by_class_is_the_torch_image_of_that_class(
    conditional_exports, conditional_checkpoints
):
    onnx_g = Generator(
        conditional_exports[("dcgan", "dynamo", 18)] / "generator.onnx", provider="cpu"
    )
    g = _torch_generator(conditional_checkpoints, "dcgan")
    for label in (0, 7):
        got = onnx_g.sample(12, seed=5, batch_size=5, label=label)
        z = latent_of_class(latent(12, 16, seed=5), 10, label)
        with torch.no_grad():
            np.testing.assert_allclose(got, g(torch.from_numpy(z)).numpy(), atol=1e-5, rtol=0)
    plain = onnx_g.sample(12, seed=5)
    asked = class_of_latent(latent(12, 16, seed=5), 10)
    same_class = asked == 7
    np.testing.assert_allclose(got[same_class], plain[same_class], atol=1e-5, rtol=0)


def test_parity_passes_and_includes_the_class_edges(conditional_exports, conditional_checkpoints):
    folder = conditional_exports[("dcgan", "dynamo", 18)]
    report = run_parity(conditional_checkpoints["dcgan"], folder, sweep_samples=200)
    assert report.passed, report.failures()
    kinds = {(case.model, case.inputs) for case in report.cases}
    assert ("generator.onnx", "z at class edges") in kinds
    assert ("generator_fp16.onnx", "z at class edges") in kinds


def test_parity_catches_a_runtime_that_reads_the_class_at_half_precision(
    conditional_exports, conditional_checkpoints, tmp_path
):
    """Round z[:, 0] through float16 before the class rule: only edge inputs change class."""
    source = conditional_exports[("dcgan", "dynamo", 18)]
    model = onnx.load(str(source / "generator.onnx"))
    comparisons = [node for node in model.graph.node if node.op_type == "Greater"]
    first = comparisons[0].input[0]  # z[:, 0]
    half = onnx.helper.make_node("Cast", [first], ["z0_half"], to=TensorProto.FLOAT16)
    back = onnx.helper.make_node("Cast", ["z0_half"], ["z0_rounded"], to=TensorProto.FLOAT)
    for node in comparisons:
        node.input[0] = "z0_rounded"
    at = list(model.graph.node).index(comparisons[0])
    model.graph.node.insert(at, back)
    model.graph.node.insert(at, half)
    onnx.save(model, str(tmp_path / "generator.onnx"))

    report = run_parity(conditional_checkpoints["dcgan"], tmp_path, sweep_samples=0)
    failed = {case.inputs for case in report.cases if not case.passed}
    assert not report.passed
    assert failed == {"z at class edges"}


def test_no_graph_holds_float16_where_the_class_is_read(conditional_exports):
    """The class rule reads the float32 input in fp32 and fp16 exports alike: no float16
    tensor lies between z and the comparison (the WebGL backend refuses float16, and older
    onnxruntime releases fold a float16 round trip away)."""
    for folder in conditional_exports.values():
        for name in ("generator.onnx", "generator_fp16.onnx"):
            model = onnx.load(str(folder / name))
            casts = [
                node
                for node in model.graph.node
                if node.op_type == "Cast"
                and any(a.name == "to" and a.i == TensorProto.FLOAT16 for a in node.attribute)
            ]
            producers = {out: node for node in model.graph.node for out in node.output}
            greater = next(node for node in model.graph.node if node.op_type == "Greater")
            stack, upstream = list(greater.input), set()
            while stack:
                node = producers.get(stack.pop())
                if node is not None and node.name not in upstream:
                    upstream.add(node.name)
                    stack += list(node.input)
            assert not {c.name for c in casts} & upstream, (folder, name)
            if name == "generator.onnx":
                assert casts == [], f"{folder / name} holds a float16 Cast"


def test_cli_samples_one_class_and_refuses_bad_classes(
    conditional_exports, dcgan28_export, tmp_path, capsys
):
    model = conditional_exports[("dcgan", "dynamo", 18)] / "generator.onnx"
    npy = tmp_path / "sevens.npy"
    code, _, err = run_inprocess(
        capsys, "sample", model, "-n", 20, "--class", 7, "--provider", "cpu", "--npy", npy
    )
    assert code == 0, err
    want = Generator(model, provider="cpu").sample(20, label=7)
    np.testing.assert_array_equal(np.load(npy), want)

    for args, message in [
        ((model, "--class", 10), "class must be 0..9, not 10"),
        ((dcgan28_export / "generator.onnx", "--class", 1), "unconditional generator"),
        ((model, "--class", 1, "--interpolate", 0, 1), "cannot be combined"),
    ]:
        target = tmp_path / "never.png"
        code, _, err = run_inprocess(capsys, "sample", *args, "--out", target)
        assert code == 2, err
        assert message in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        assert not Path(target).exists()
