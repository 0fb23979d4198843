"""Timing several callables side by side, so their ratios survive a busy machine.

On a shared machine the speed available to a process drifts by 2× within seconds. Timing
engine A for a second and then engine B for a second folds that drift into their ratio.
Here every callable is timed in short slices, interleaved over several rounds with the
order rotated each round: all of them see the same mix of quiet and busy moments, and a
ratio of medians taken in one call is a fair comparison. A short pause after each slice
lets the previous engine's spinning worker threads go to sleep before the next starts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

PAUSE_S = 0.02


@dataclass(frozen=True)
class Plan:
    """How long to time each callable: ``seconds`` in all, or exactly ``repeats`` runs,
    split over ``rounds`` slices, each after ``warmup`` untimed runs (one in later slices)."""

    seconds: float = 0.75
    rounds: int = 3
    warmup: int = 3
    repeats: int | None = None


@dataclass(frozen=True)
class Stats:
    """Latency statistics of one callable, in milliseconds."""

    runs: int
    median_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float

    @classmethod
    def of(cls, samples_ns: list[int]) -> Stats:
        ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
        return cls(
            runs=len(ms),
            median_ms=float(np.median(ms)),
            p90_ms=float(np.percentile(ms, 90)),
            min_ms=float(ms.min()),
            mean_ms=float(ms.mean()),
        )


def time_interleaved(calls: Mapping[str, Callable[[], object]], plan: Plan) -> dict[str, Stats]:
    """Time each callable (which must finish its work before returning) as ``plan`` says."""
    names = list(calls)
    samples: dict[str, list[int]] = {name: [] for name in names}
    for round_index in range(plan.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            call = calls[name]
            for _ in range(plan.warmup if round_index == 0 else 1):
                call()
            samples[name] += _slice(call, plan, round_index)
            time.sleep(PAUSE_S)
    return {name: Stats.of(samples[name]) for name in names}


def _slice(call: Callable[[], object], plan: Plan, round_index: int) -> list[int]:
    """One slice: a fixed share of ``plan.repeats`` runs, or runs until its time is up."""
    clock = time.perf_counter_ns
    taken = []
    if plan.repeats is not None:
        share = math.ceil(plan.repeats / plan.rounds)
        count = max(0, min(share, plan.repeats - share * round_index))
        for _ in range(count):
            start = clock()
            call()
            taken.append(clock() - start)
        return taken
    deadline = clock() + int(plan.seconds / plan.rounds * 1e9)
    while not taken or clock() < deadline:
        start = clock()
        call()
        taken.append(clock() - start)
    return taken
