"""What a training recipe's regularisers cost per step, side by side in one run.

    python -m benchmarks.recipe_cost [--classes 10] [--steps 40] [--rounds 5] [--threads 2]

Times ``Trainer.train_step`` of the DCGAN 28 recipe on mnist5k with R1 off, lazy (every 4th
D step, the recipe), on every step, and with DiffAugment; the variants take turns in each
round so a busy machine slows them alike, and the ratio to the plain step is what to read.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ganport.train import ModelConfig, TrainConfig, load_dataset
from ganport.train.trainer import Trainer

VARIANTS = {
    "no R1": {"r1_gamma": 0.0},
    "R1 lazy (recipe)": {},
    "R1 every step": {"r1_every": 1},
    "R1 lazy + DiffAugment": {"augment": True},
}


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
        name: Trainer(TrainConfig.for_loss("bce", model, **settings), data, torch.device("cpu"))
        for name, settings in VARIANTS.items()
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
    base = statistics.median(times["no R1"])
    print(f"DCGAN 28, classes={args.classes}, batch 32, {args.threads} threads, medians:")
    for name, runs in times.items():
        step = statistics.median(runs)
        print(f"  {name:24s} {step * 1000:7.1f} ms/step  {step / base:5.2f}×")


if __name__ == "__main__":
    main()
