"""The interleaved timing plan: run counts, warm-up and rotation (no speed is asserted)."""

from __future__ import annotations

import pytest

from ganport.infer.compare.timing import Plan, Stats, time_interleaved


def test_fixed_repeats_give_exactly_that_many_timed_runs_after_warmup():
    calls = {"a": 0, "b": 0}

    def make(name):
        def call():
            calls[name] += 1

        return call

    plan = Plan(rounds=3, warmup=2, repeats=7)
    stats = time_interleaved({"a": make("a"), "b": make("b")}, plan)
    assert stats["a"].runs == stats["b"].runs == 7
    # warm-up: 2 before the first slice, 1 before each later slice
    assert calls == {"a": 7 + 2 + 2, "b": 7 + 2 + 2}


def test_engines_alternate_with_the_order_rotated_each_round():
    order = []
    plan = Plan(rounds=2, warmup=0, repeats=2)
    time_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, plan)
    assert order == ["a", "b", "b", "b", "a", "a"]  # round 2 starts with b (one re-warm run)


def test_adaptive_slices_run_at_least_once_each_round():
    stats = time_interleaved({"x": lambda: None}, Plan(seconds=1e-9, rounds=4, warmup=0))
    assert stats["x"].runs >= 4


def test_stats_are_in_milliseconds_and_ordered():
    stats = Stats.of([1_000_000, 2_000_000, 3_000_000, 10_000_000])
    assert stats.runs == 4 and stats.min_ms == 1.0 and stats.median_ms == 2.5
    assert stats.median_ms <= stats.p90_ms <= 10.0
    assert stats.mean_ms == pytest.approx(4.0)
