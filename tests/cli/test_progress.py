"""The long jobs show a bar with rate and time on a terminal, and nothing in a pipe."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ganport.infer.compare.bench import BenchOptions, run_bench
from ganport.infer.compare.parity import run_parity
from ganport.infer.compare.timing import Plan
from ganport.infer.quality.evaluate import evaluate
from tests.conftest import run_ganport as ganport


def finished_bar(desc: str, total: int, unit: str) -> re.Pattern[str]:
    """tqdm's last render: 100%, done/total, elapsed<left, and the rate (per second, or
    seconds per unit when slower than one a second)."""
    unit = re.escape(unit)
    return re.compile(
        rf"{re.escape(desc)}: 100%\|[^|]*\| {total}/{total} "
        rf"\[\d\d:\d\d<00:00, +[\d.]+({unit}/s|s/{unit})\]"
    )


class Terminal(io.StringIO):
    """What tqdm sees as a terminal: it draws its bar here."""

    def isatty(self) -> bool:
        return True


@contextlib.contextmanager
def terminal() -> Iterator[Terminal]:
    """stderr is a terminal inside the block (set in the test itself: pytest's capture
    puts its own stderr back between a fixture's setup and the test)."""
    screen, saved = Terminal(), sys.stderr
    sys.stderr = screen
    try:
        yield screen
    finally:
        sys.stderr = saved


# The sampling both runs of the bar test do, on a terminal and into a pipe.
SAMPLE_ARGS = ("-n", "3000", "--batch-size", "100", "--provider", "cpu")


def _sample(model: Path, npy: Path, stderr: int) -> int:
    command = [sys.executable, "-m", "ganport", "sample", str(model), *SAMPLE_ARGS]
    command += ["--npy", str(npy)]
    return subprocess.run(command, stdout=subprocess.DEVNULL, stderr=stderr, timeout=120).returncode


def test_sample_draws_a_bar_on_a_terminal_and_nothing_in_a_pipe(dcgan28_export, tmp_path):
    model = dcgan28_export / "generator.onnx"
    primary, secondary = pty.openpty()
    # A terminal 120 columns wide (a new pseudo-terminal has none, and tqdm fits its bar
    # to the width).
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    try:
        code = _sample(model, tmp_path / "tty.npy", secondary)
        os.close(secondary)
        screen = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal's other end is closed: all is read
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(primary)
    assert code == 0, screen
    assert finished_bar("sample", 3000, "img").search(screen.decode()), screen.decode()

    npy = tmp_path / "pipe.npy"
    piped = ganport("sample", model, *SAMPLE_ARGS, "--npy", npy)
    assert piped.returncode == 0 and piped.stderr == ""
    assert piped.stdout == f"provider: CPUExecutionProvider\narray: {npy}\n"
    np.testing.assert_array_equal(np.load(npy), np.load(tmp_path / "tty.npy"))


def test_parity_draws_a_bar_per_model(dcgan28_checkpoint, dcgan28_export):
    with terminal() as screen:
        report = run_parity(
            dcgan28_checkpoint, dcgan28_export, batch_sizes=(1, 2), seeds=(0,), sweep_samples=250
        )
    assert report.passed
    # 2 batch sizes × 1 seed, then 3 sweep batches of up to 100 rows
    for model in ("generator.onnx", "discriminator.onnx"):
        assert finished_bar(f"parity {model}", 5, "it").search(screen.getvalue()), screen


def test_bench_draws_a_bar_per_model(dcgan28_export):
    plan = Plan(seconds=0.01, rounds=1, warmup=0, repeats=1)
    options = BenchOptions(batch_sizes=(1, 3), threads=1, plan=plan, compile=False, matmul_size=32)
    with terminal() as screen:
        report = run_bench(dcgan28_export, options=options)
    assert report.agrees
    for model in ("generator.onnx", "discriminator.onnx"):
        bar = finished_bar(f"bench {model}", 2, "batch size")
        assert bar.search(screen.getvalue()), screen.getvalue()


def test_evaluate_draws_bars_for_its_feature_net_sampling_and_features(dcgan28_export):
    """A few-step digits network keeps this quick; the bars are what is checked."""
    from ganport.infer.quality.feature_net import train_feature_net
    from ganport.train import load_dataset

    digits = load_dataset("digits", 28)
    with terminal() as screen:
        net = train_feature_net(digits, steps=4)
        result = evaluate(dcgan28_export / "generator.onnx", "digits", n=60, feature_net=net)
    assert result.n == 60
    reference, held_out = result.reference_size, result.feature_net["held_out"]
    bars = [
        ("feature net", 4, "step"),
        ("sample", 60, "img"),
        ("features: samples", 60, "img"),
        ("features: noise", 60, "img"),
        ("features: real reference", reference, "img"),
        ("features: real held-out", held_out, "img"),
    ]
    for desc, total, unit in bars:
        assert finished_bar(desc, total, unit).search(screen.getvalue()), (desc, screen.getvalue())


def test_no_bar_when_stderr_is_not_a_terminal(dcgan28_checkpoint, dcgan28_export, capfd):
    run_parity(dcgan28_checkpoint, dcgan28_export, batch_sizes=(1,), seeds=(0,), sweep_samples=50)
    assert capfd.readouterr().err == ""
