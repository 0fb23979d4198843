"""Shared fixtures: small real runs trained once per session, so CI trains each only once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganport.core.errors import InputError

pytest_plugins = ["pytester"]

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def run_ganport(*args: object, timeout: float = 600) -> subprocess.CompletedProcess:
    """The CLI as a user runs it: a real subprocess, real exit code, real stderr."""
    return subprocess.run(
        [sys.executable, "-m", "ganport", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_inprocess(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run the CLI in-process as the console script does; (exit code, stdout, stderr)."""
    from ganport.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def train_run(out: Path, arch: str, image_size: int, steps: int = 6, width: int = 8, **kwargs):
    """Train a tiny real run on mnist5k; returns the checkpoint path."""
    from ganport.train import ModelConfig, RunOptions, TrainConfig, load_dataset, train

    loss = kwargs.pop("loss", "bce")
    model = ModelConfig(
        arch=arch,
        image_size=image_size,
        width=width,
        nz=kwargs.pop("nz", 16),
        classes=kwargs.pop("classes", 0),
    )
    config = TrainConfig.for_loss(loss, model, batch_size=kwargs.pop("batch_size", 16), **kwargs)
    data = load_dataset(config.data, image_size, 1)
    result = train(config, data, RunOptions(out=out, steps=steps, device="cpu", progress=False))
    return result.checkpoint


@pytest.fixture(scope="session")
def mnist5k_28():
    from ganport.train import load_dataset

    return load_dataset("mnist5k", 28)


@pytest.fixture(scope="session")
def dcgan28_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DCGAN 28×28 run trained 6 real steps (BN statistics are no longer the identity)."""
    return train_run(tmp_path_factory.mktemp("dcgan28"), "dcgan", 28)


ARCH_SIZES = [("mlp", 28), ("dcgan", 28), ("dcgan", 32), ("dcgan", 64)]
EXPORTERS = ["dynamo", "torchscript"]
OPSETS = [13, 17]


@pytest.fixture(scope="session")
def mlp28_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLP 28×28 run trained 6 real steps."""
    return train_run(tmp_path_factory.mktemp("mlp28"), "mlp", 28)


@pytest.fixture(scope="session")
def checkpoints(
    tmp_path_factory: pytest.TempPathFactory, dcgan28_checkpoint: Path, mlp28_checkpoint: Path
) -> dict:
    """One briefly trained checkpoint per (arch, image size)."""
    found = {("dcgan", 28): dcgan28_checkpoint, ("mlp", 28): mlp28_checkpoint}
    for arch, size in ARCH_SIZES:
        if (arch, size) not in found:
            found[(arch, size)] = train_run(tmp_path_factory.mktemp(f"{arch}{size}"), arch, size)
    return found


@pytest.fixture(scope="session")
def export_matrix(tmp_path_factory: pytest.TempPathFactory, checkpoints: dict) -> dict:
    """Every (arch, size, exporter, opset) exported once: G, D (fp32 and fp16), manifest."""
    from ganport.export import ExportOptions, export_checkpoint

    folders = {}
    for (arch, size), ckpt in checkpoints.items():
        for exporter in EXPORTERS:
            for opset in OPSETS:
                out = tmp_path_factory.mktemp(f"{arch}{size}-{exporter}-{opset}")
                options = ExportOptions(exporter=exporter, opset=opset, fp16=True)
                export_checkpoint(ckpt, out, options=options)
                folders[(arch, size, exporter, opset)] = out
    return folders


@pytest.fixture(scope="session")
def dcgan28_export(tmp_path_factory: pytest.TempPathFactory, dcgan28_checkpoint: Path) -> Path:
    """generator.onnx, discriminator.onnx and manifest.json of the DCGAN 28 run (defaults)."""
    from ganport.export import export_checkpoint

    out = tmp_path_factory.mktemp("dcgan28-export")
    export_checkpoint(dcgan28_checkpoint, out)
    return out


@pytest.fixture(scope="session")
def mlp28_export(tmp_path_factory: pytest.TempPathFactory, mlp28_checkpoint: Path) -> Path:
    """The MLP 28 run exported with the defaults."""
    from ganport.export import export_checkpoint

    out = tmp_path_factory.mktemp("mlp28-export")
    export_checkpoint(mlp28_checkpoint, out)
    return out


@pytest.fixture(scope="session")
def conditional_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Class-conditional (10 classes) DCGAN 28 and MLP 28 runs, trained 6 real steps."""
    return {
        arch: train_run(tmp_path_factory.mktemp(f"{arch}28-conditional"), arch, 28, classes=10)
        for arch in ("dcgan", "mlp")
    }


@pytest.fixture(scope="session")
def mnist5k_feature_net(mnist5k_28, tmp_path_factory: pytest.TempPathFactory):
    """The default feature network of mnist5k at 28 px, trained once per session."""
    from ganport.infer.quality.feature_net import feature_net_for

    return feature_net_for(mnist5k_28, cache_dir=tmp_path_factory.getbasetemp() / "feature_nets")


def compat_runtime(kind: str):
    """A runtime of the compatibility matrix, or a skip saying why it is not here: this
    environment's ``onnxruntime``, ``onnx.reference``, ``onnxruntime-node``
    (GANPORT_COMPAT_NODE_MODULES) or ``older-N``, the N-th interpreter with an older
    onnxruntime in GANPORT_COMPAT_PYTHONS (':'-separated); or an engine of
    ``ganport.infer.engines`` (``compat.ENGINE_RUNTIMES``); .ci/run installs them."""
    from ganport.infer.compare import compat

    if kind in compat.ENGINE_RUNTIMES:
        try:
            return compat.engine_runtime_named(kind)
        except InputError as exc:  # not installed here: .ci/run installs it
            pytest.skip(f"{kind}: {exc} (.ci/run installs it)")
    if kind == "onnxruntime":
        return compat.current_onnxruntime()
    if kind == "onnx.reference":
        return compat.reference_evaluator()
    if kind == "onnxruntime-node":
        node_modules = os.environ.get("GANPORT_COMPAT_NODE_MODULES")
        if not node_modules:
            pytest.skip(
                "GANPORT_COMPAT_NODE_MODULES names no onnxruntime-node (.ci/run installs it)"
            )
        return compat.node_runtime(node_modules)
    pythons = [p for p in os.environ.get("GANPORT_COMPAT_PYTHONS", "").split(":") if p]
    index = int(kind.rpartition("-")[2])
    if index >= len(pythons):
        pytest.skip(f"GANPORT_COMPAT_PYTHONS names no older onnxruntime #{index} (.ci/run has two)")
    return compat.python_runtime(pythons[index])
