"""What each speed lever does to the default recipe's training step, side by side in one run.

    python -m benchmarks.training_levers [--steps 40] [--rounds 5] [--threads 2]

Times ``Trainer.queue_step`` of the pipeline's recipe (conditional DCGAN 28 on mnist5k,
batch 32) in float32, in bfloat16 (``--precision``), in bfloat16 with the models and data
channels-last, with G under ``torch.compile`` (D cannot be: see ``_compiled``), and at batch
64. The variants take turns in each round so a busy machine slows them alike; the ratio of
images a second to float32's is what to read. Levers that are not ``ganport train`` options
(channels-last, compile) are here to show why they are not. What each does to the run's
figures is measured with ``ganport train ... && ganport evaluate`` (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from ganport.train import ModelConfig, TrainConfig, load_dataset
from ganport.train.data import Dataset
from ganport.train.trainer import Trainer, values_on_host

BASE = "float32"


def _trainer(data: Dataset, **settings: object) -> Trainer:
    config = TrainConfig.for_loss("bce", ModelConfig(classes=10), **settings)
    return Trainer(config, data, torch.device("cpu"))


def _channels_last(trainer: Trainer) -> Trainer:
    for model in (trainer.generator, trainer.discriminator):
        model.to(memory_format=torch.channels_last)
    trainer.images = trainer.images.contiguous(memory_format=torch.channels_last)
    return trainer


def _compiled(trainer: Trainer) -> Trainer:
    """G only: a compiled D fails at the recipe's R1 penalty ("torch.compile with
    aot_autograd does not currently support double backward")."""
    trainer.generator.compile()
    return trainer


VARIANTS: dict[str, Callable[[Dataset], Trainer]] = {
    BASE: lambda data: _trainer(data, precision="float32"),
    "bfloat16": lambda data: _trainer(data, precision="bfloat16"),
    "bfloat16, channels-last": lambda data: _channels_last(_trainer(data, precision="bfloat16")),
    "float32, compiled G": lambda data: _compiled(_trainer(data, precision="float32")),
    "bfloat16, compiled G": lambda data: _compiled(_trainer(data, precision="bfloat16")),
    "float32, batch 64": lambda data: _trainer(data, precision="float32", batch_size=64),
    "bfloat16, batch 64": lambda data: _trainer(data, precision="bfloat16", batch_size=64),
}


def _time(trainer: Trainer, steps: int) -> float:
    """Seconds per step, the host waiting once at the end as a run does every 25 steps."""
    start = time.perf_counter()
    values_on_host([trainer.queue_step() for _ in range(steps)])
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset("mnist5k", 28)
    trainers = {name: make(data) for name, make in VARIANTS.items()}
    for trainer in trainers.values():  # warm-up: allocator, compilation, the first R1 step
        _time(trainer, 8)
    times: dict[str, list[float]] = {name: [] for name in trainers}
    for _ in range(args.rounds):
        for name, trainer in trainers.items():
            times[name].append(_time(trainer, args.steps))
    rate = {
        name: trainers[name].config.batch_size / statistics.median(t) for name, t in times.items()
    }
    print(f"DCGAN 28 conditional recipe, {args.threads} threads, medians of {args.rounds} rounds:")
    for name, runs in times.items():
        step = statistics.median(runs)
        print(
            f"  {name:26s} {1 / step:6.1f} steps/s {rate[name]:7.0f} images/s "
            f"{rate[name] / rate[BASE]:5.2f}×"
        )


if __name__ == "__main__":
    main()
