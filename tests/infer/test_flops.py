"""FLOPs counted from the ONNX graph equal the MACs the torch layers really do."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganport.export import export_generator
from ganport.infer.compare.flops import flops_per_sample, node_macs
from ganport.train import ModelConfig, build_discriminator, build_generator


def torch_macs(module: nn.Module, x: torch.Tensor) -> int:
    """Per-sample MACs of the Linear/Conv/ConvTranspose layers, from a forward pass."""
    total = 0

    def count(layer: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(layer, nn.Linear):
            total += layer.in_features * layer.out_features
        elif isinstance(layer, nn.Conv2d):
            total += output[0].numel() * layer.weight[0].numel()
        elif isinstance(layer, nn.ConvTranspose2d):
            total += inputs[0][0].numel() * layer.weight[0].numel()

    hooks = [m.register_forward_hook(count) for m in module.modules()]
    with torch.no_grad():
        module.eval()(x[:1])
    for hook in hooks:
        hook.remove()
    return total


@pytest.mark.parametrize(
    ("arch", "size"),
    [("mlp", 28), ("dcgan", 28), ("dcgan", 64)],
    ids=["mlp28", "dcgan28", "dcgan64"],
)
def test_onnx_flops_match_the_torch_layers(arch, size, tmp_path):
    cfg = ModelConfig(arch=arch, image_size=size, width=8, nz=16)
    for role, module, x in (
        ("generator", build_generator(cfg), torch.zeros(1, cfg.nz)),
        ("discriminator", build_discriminator(cfg), torch.zeros(1, *cfg.image_shape)),
    ):
        path = tmp_path / f"{role}.onnx"
        if role == "generator":
            export_generator(module, path, nz=cfg.nz, exporter="torchscript", check=False)
        else:
            from ganport.export import export_discriminator

            export_discriminator(
                module, path, image_shape=cfg.image_shape, exporter="torchscript", check=False
            )
        assert flops_per_sample(path) == 2 * torch_macs(module, x), role


def test_static_batch_models_count_per_sample(tmp_path):
    cfg = ModelConfig(arch="dcgan", image_size=28, width=8, nz=16)
    module = build_generator(cfg)
    dynamic, static = tmp_path / "g.onnx", tmp_path / "g4.onnx"
    export_generator(module, dynamic, nz=16, exporter="torchscript", check=False)
    export_generator(module, static, nz=16, exporter="torchscript", static_batch=4, check=False)
    assert flops_per_sample(static) == flops_per_sample(dynamic)
    # The first layer is exported as a Gemm (the Gemm stem), the rest as ConvTranspose.
    assert [n.op_type for n in node_macs(dynamic)] == ["Gemm"] + ["ConvTranspose"] * 2


def test_dynamo_and_torchscript_exports_count_alike(tmp_path):
    cfg = ModelConfig(arch="mlp", image_size=28, width=8, nz=16)
    module = build_generator(cfg)
    counts = []
    for exporter in ("dynamo", "torchscript"):
        path = tmp_path / f"{exporter}.onnx"
        export_generator(module, path, nz=16, exporter=exporter, check=False)
        counts.append(flops_per_sample(path))
    assert counts[0] == counts[1] == 2 * torch_macs(module, torch.zeros(1, 16))
