"""What a training recipe's regularisers cost per step, side by side in one run.

    python -m benchmarks.recipe_cost [--classes 10] [--steps 40] [--rounds 5] [--threads 2]

Times ``Trainer.train_step`` of the DCGAN 28 recipe on mnist5k: a plain AC-GAN step, with lazy
R1 (every 4th D step), the recipe (lazy R1, the twin class head, the mode-seeking term), R1 on
every step, and lazy R1 with DiffAugment; the variants take turns in each round so a busy
machine slows them alike, and the ratio to the plain step is what to read. Also times the
recomputation of G_ema's BatchNorm statistics, once per epoch and checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from ganport.train import ModelConfig, TrainConfig, load_dataset
from ganport.train.batchnorm import recalibrate
from ganport.train.trainer import Trainer

PLAIN = "AC-GAN, no R1"
# (settings, twin class head); the first is the base of the ratios.
VARIANTS = {
    PLAIN: ({"r1_gamma": 0.0, "mode_seeking": 0.0}, False),
    "R1 lazy": ({"mode_seeking": 0.0}, False),
    "recipe: + twin, mode seeking": ({}, True),
    "R1 every step": ({"r1_every": 1}, True),
    "R1 lazy + DiffAugment": ({"augment": True}, True),
}


def _config(model: ModelConfig, settings: dict, twin: bool) -> TrainConfig:
    config = TrainConfig.for_loss("bce", model, **settings)
    twin = twin and bool(model.classes)
    return dataclasses.replace(
        config, model=dataclasses.replace(config.model, twin_classifier=twin)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset("mnist5k", 28)
    model = ModelConfig(classes=args.classes)
    trainers = {
        name: Trainer(_config(model, settings, twin), data, torch.device("cpu"))
        for name, (settings, twin) in VARIANTS.items()
    }
    for trainer in trainers.values():  # warm-up: allocator, first R1 step
        for _ in range(4):
            trainer.train_step()
    times: dict[str, list[float]] = {name: [] for name in trainers}
    for _ in range(args.rounds):
        for name, trainer in trainers.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                trainer.train_step()
            times[name].append((time.perf_counter() - start) / args.steps)
    base = statistics.median(times[PLAIN])
    print(f"DCGAN 28, classes={args.classes}, batch 32, {args.threads} threads, medians:")
    for name, runs in times.items():
        step = statistics.median(runs)
        print(f"  {name:30s} {step * 1000:7.1f} ms/step  {step / base:5.2f}×")
    trainer = next(iter(trainers.values()))
    calls = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        recalibrate(trainer.generator_ema, model.nz, 0, torch.device("cpu"))
        calls.append(time.perf_counter() - start)
    recal, epoch = statistics.median(calls), base * trainer.steps_per_epoch
    print(
        f"  G_ema BatchNorm statistics {recal * 1000:7.1f} ms per epoch "
        f"({recal / epoch:.1%} of a plain epoch's {trainer.steps_per_epoch} steps)"
    )


if __name__ == "__main__":
    main()
