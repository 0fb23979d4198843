"""Train → export → sample through ONNX Runtime → parity, as one library call.

``ganport pipeline`` parses its options, builds the run's configuration and calls ``run``;
what each stage wrote comes back as a ``PipelineResult``. The stages are imported inside
``run``, so importing this module needs neither torch nor onnx.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ganport.core.manifest import Manifest
    from ganport.infer.compare.parity import ParityReport
    from ganport.train import Dataset, ModelConfig, RunResult, TrainConfig


@dataclass
class PipelineResult:
    """What each stage left in the run folder. A run stopped by a signal stops after
    training (``training.interrupted_by``); the later stages' fields stay None."""

    training: RunResult
    curves: Path
    onnx_dir: Path | None = None
    manifest: Manifest | None = None
    grid: Path | None = None  # the grid sampled through ONNX Runtime
    provider: str | None = None  # the provider that sampled it
    parity: ParityReport | None = None


def run(
    config: TrainConfig,
    dataset: Dataset,
    out: Path,
    *,
    epochs: int,
    seed: int = 0,
    device: str = "auto",
    provider: str = "auto",
    tensorboard: bool = False,
    resume: bool = False,
    say: Callable[[str], None] = lambda _line: None,
) -> PipelineResult:
    """Train ``config`` on ``dataset`` into ``out`` for ``epochs`` (or resume the run there),
    export it to ``out/onnx``, sample a grid of seed ``seed`` through ONNX Runtime on
    ``provider`` and check parity with torch (``out/parity.json``, ``out/parity.xml``).
    ``say`` gets a line as each stage starts, and parity's summary table."""
    from ganport.core.images import save_grid
    from ganport.export import export_checkpoint
    from ganport.infer import Generator
    from ganport.infer.compare.parity import run_parity
    from ganport.infer.compare.parity_report import summary_table, write_junit, write_report
    from ganport.train import RunOptions, train
    from ganport.train.curves import plot_curves

    say(
        f"[1/4] train {config.model.arch} {config.model.image_size}px on {config.data} "
        f"({len(dataset)} images, {epochs} epochs, {_conditioning(config.model)})"
    )
    options = RunOptions(out=out, epochs=epochs, device=device, tensorboard=tensorboard)
    training = train(config, dataset, options, resume=resume)
    result = PipelineResult(training, plot_curves(out))
    if training.interrupted_by:
        return result

    say("[2/4] export to ONNX")
    result.onnx_dir = out / "onnx"
    result.manifest = export_checkpoint(training.checkpoint, result.onnx_dir)

    say("[3/4] sample through ONNX Runtime")
    generator = Generator(result.onnx_dir / "generator.onnx", provider=provider)
    result.grid = out / "samples_onnx.png"
    save_grid(generator.sample(64, seed=seed), result.grid)
    result.provider = generator.provider

    say("[4/4] parity torch ↔ ONNX Runtime")
    result.parity = run_parity(training.checkpoint, result.onnx_dir, provider=provider)
    write_report(result.parity, out / "parity.json")
    write_junit(result.parity, out / "parity.xml")
    say(summary_table(result.parity))
    return result


def _conditioning(model: ModelConfig) -> str:
    if model.class_source == "clusters":
        return f"unconditional, {model.classes} k-means modes"
    return f"conditional on {model.classes} classes" if model.classes else "unconditional"
