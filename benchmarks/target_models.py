"""The generators the CPU speed targets name, built once and cached.

Every model a user runs: the default pipeline's conditional DCGAN 28×28 and its
unconditional twin, DCGAN 32×32 (RGB, the CIFAR size), DCGAN 64×64 and the MLP 28×28, all
at the default width 64 and nz 100. Each is trained a few real steps, so its BatchNorm
statistics are not the identity, and exported with ganport's defaults (dynamo, opset 18,
BatchNorm folded, Gemm stem), the DCGANs with ``--int8`` too.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ganport.train import ModelConfig, RunOptions, TrainConfig, load_dataset, train

MODELS = {
    "dcgan28c": ModelConfig(arch="dcgan", image_size=28, width=64, nz=100, classes=10),
    "dcgan28": ModelConfig(arch="dcgan", image_size=28, width=64, nz=100),
    "dcgan32": ModelConfig(arch="dcgan", image_size=32, width=64, nz=100, channels=3),
    "dcgan64": ModelConfig(arch="dcgan", image_size=64, width=64, nz=100),
    "mlp28": ModelConfig(arch="mlp", image_size=28, width=64, nz=100),
}
TRAIN_STEPS = 3


def is_dcgan(name: str) -> bool:
    """DCGANs carry the int8 targets and are exported with ``--int8``."""
    return MODELS[name].arch == "dcgan"


def build(work: Path, name: str) -> Path:
    """Train ``MODELS[name]`` a few steps and export it into ``work/name``, unless there."""
    from ganport.export import ExportOptions, export_checkpoint

    model = MODELS[name]
    folder = work / name
    manifest = folder / "manifest.json"
    if manifest.is_file():
        built = json.loads(manifest.read_text())["source"]["config"]["model"]
        int8_ready = not is_dcgan(name) or (folder / "generator_int8.onnx").is_file()
        if built == dataclasses.asdict(model) and int8_ready:
            return folder
    config = TrainConfig(model=model, batch_size=16)
    data = load_dataset(config.data, model.image_size, model.channels)
    run = train(config, data, RunOptions(out=folder, steps=TRAIN_STEPS, device="cpu"))
    export_checkpoint(run.checkpoint, folder, options=ExportOptions(int8=is_dcgan(name)))
    return folder
