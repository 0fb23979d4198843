"""Training throughput in 1 and N processes, measured side by side in one run.

    python -m benchmarks.distributed_training [--arch dcgan] [--batch-size 64] [--steps 60]
        [--nproc 2] [--rounds 2] [--device cpu]

Runs the same ``ganport train`` (same global batch, so the same learning problem) in one
process with torch's default threads (one per core), in one process on one thread, and
through ``--nproc N`` (one thread per process, as torchrun sets), alternating, each
``--rounds`` times, in fresh run folders. The rate comes from the run's own metrics.jsonl
(``training_speed.steps_per_second``), so process start-up, the first steps' warm-up,
grids and checkpoints at the end stay out of it. Prints steps/s and samples/s (steps/s ×
global batch), medians over rounds, and the N-process ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.training_speed import steps_per_second


def run(args: argparse.Namespace, nproc: int, threads: int | None, out: Path) -> float:
    command = [
        sys.executable,
        "-m",
        "ganport",
        "train",
        "--arch",
        args.arch,
        "--data",
        args.data,
        "--batch-size",
        str(args.batch_size),
        "--steps",
        str(args.steps),
        "--device",
        args.device,
        "--out",
        str(out),
        "--nproc",
        str(nproc),
    ]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return steps_per_second(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=["mlp", "dcgan"], default="dcgan")
    parser.add_argument("--data", default="mnist5k")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    setups = {
        "1 process, default threads": (1, None),
        "1 process, 1 thread": (1, 1),
        f"{args.nproc} processes, 1 thread each": (args.nproc, None),
    }
    rates: dict[str, list[float]] = {name: [] for name in setups}
    with tempfile.TemporaryDirectory() as work:
        for round_ in range(args.rounds):
            for i, (name, (nproc, threads)) in enumerate(setups.items()):
                out = Path(work) / f"{i}-{round_}"
                rates[name].append(run(args, nproc, threads, out))
    print(f"{args.arch}, global batch {args.batch_size}, {args.steps} steps, {args.device}")
    print(f"{'setup':>30}  {'steps/s':>8}  {'samples/s':>9}  rounds")
    for name, values in rates.items():
        rate = statistics.median(values)
        listed = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:>30}  {rate:>8.2f}  {rate * args.batch_size:>9.0f}  {listed}")
    medians = [statistics.median(values) for values in rates.values()]
    print(
        f"{args.nproc} processes / 1 process: {medians[2] / medians[0]:.2f}× (default threads), "
        f"{medians[2] / medians[1]:.2f}× (1 thread)"
    )


if __name__ == "__main__":
    main()
