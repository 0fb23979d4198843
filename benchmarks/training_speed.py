"""Training steps per second of ``ganport train``, for one or several installs side by side.

    python -m benchmarks.training_speed [--device cpu|cuda] [--steps 300] [--rounds 3]
        [--python OTHER_VENV/bin/python ...] [--variant "OPTIONS" ...]
        [-- extra ganport train options]

Runs the default recipe (the pipeline's conditional DCGAN 28 on mnist5k) for ``--steps``
steps with this interpreter and each ``--python`` given (another checkout's environment: a
before/after comparison), each with every ``--variant`` (more train options, such as
``"--precision float32"``: one lever against another), taking turns in each round so a
busy machine slows them alike.
The rate comes from the run's own metrics.jsonl, between the first and the last time the
log was written, so start-up, the first steps' warm-up and the final checkpoint stay out.
Prints steps/s per install, medians over rounds, and each one's ratio to the first.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def steps_per_second(out: Path) -> float:
    """Steps per second between the first and the last write of the run's log.

    A run writes the values of several steps at once (``RunOptions.host_sync_every``), so
    each end of the interval is a moment the log was written, not a step's own time.
    """
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [line for line in lines if "d_loss" in line]
    first = [line for line in steps if line["time"] == steps[0]["time"]][-1]
    last = steps[-1]
    return (last["step"] - first["step"]) / (last["time"] - first["time"])


def run(python: str, variant: str, args: argparse.Namespace, out: Path) -> float:
    command = [python, "-m", "ganport", "train", "--steps", str(args.steps)]
    command += ["--device", args.device, "--out", str(out), *args.train_options]
    command += shlex.split(variant)
    # Run outside the checkout: from its root, ``-m ganport`` would import this checkout's
    # package whatever install ``python`` belongs to.
    subprocess.run(command, check=True, capture_output=True, text=True, cwd=out.parent)
    return steps_per_second(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--python", action="append", default=[], help="another install")
    parser.add_argument("--variant", action="append", default=[], help="train options to add")
    parser.add_argument("train_options", nargs="*", help="after --: more ganport train options")
    args = parser.parse_args()
    runs = list(itertools.product([sys.executable, *args.python], args.variant or [""]))
    rates: dict[tuple[str, str], list[float]] = {key: [] for key in runs}
    with tempfile.TemporaryDirectory() as work:
        for round_ in range(args.rounds):
            for i, (python, variant) in enumerate(runs):
                rates[python, variant].append(
                    run(python, variant, args, Path(work) / f"{i}-{round_}")
                )
    options = " ".join(args.train_options) or "the default recipe"
    print(f"ganport train, {options}, {args.steps} steps, {args.device}")
    base = statistics.median(rates[runs[0]])
    for (python, variant), values in rates.items():
        rate = statistics.median(values)
        listed = " ".join(f"{v:.1f}" for v in values)
        name = f"{python} {variant}".rstrip()
        print(f"  {name}: {rate:.1f} steps/s ({rate / base:.2f}×)  rounds: {listed}")


if __name__ == "__main__":
    main()
