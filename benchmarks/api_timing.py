"""The speed a user of the public runtime API sees, against torch, timed side by side.

``ganport bench`` times ONNX Runtime's bare session with IO binding on preallocated
buffers. A user calls ``ganport.infer.Generator.generate(z)`` instead: the session made by
``create_session`` with its defaults, ``session.run`` allocating the output, the NaN check
and the float32 cast. This times that call on the same z as the checkpoint's own
generator under ``torch.inference_mode`` (eager or ``torch.compile``), interleaved, at
the same thread count, and checks that the images agree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ganport.core.latent import latent
from ganport.core.tolerance import compare, profile_for
from ganport.infer import Generator
from ganport.infer.compare.timing import Plan, Stats, time_interleaved
from ganport.train.checkpoint import load_checkpoint


def time_api(
    files: dict[str, Path],
    checkpoint: Path,
    batch_sizes: tuple[int, ...],
    threads: int,
    plan: Plan,
    compiled: bool,
) -> dict[int, dict[str, Stats]]:
    """Batch size → {engine: latency} for ``Generator.generate`` on each of ``files``
    (precision → .onnx: ``ort``, ``ort-int8``) and the checkpoint's generator in torch:
    ``torch-compile`` when ``compiled``, else ``torch-eager`` (see the targets script on
    why not both). Raises AssertionError if an output disagrees."""
    module = load_checkpoint(checkpoint).generator()
    generators = {
        name: Generator(path, "cpu", intra_op_threads=threads) for name, path in files.items()
    }
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            torch_module = torch.compile(module) if compiled else module
            torch_name = "torch-compile" if compiled else "torch-eager"
            timed = {}
            for batch in batch_sizes:
                z = latent(batch, generators["ort"].nz, seed=0)
                zt = torch.from_numpy(z)
                calls = {name: _generate(g, z) for name, g in generators.items()}
                calls[torch_name] = _call(torch_module, zt)
                _check(calls, module(zt).numpy())
                timed[batch] = time_interleaved(calls, plan)
    finally:
        torch.set_num_threads(saved)
    return timed


def _generate(generator: Generator, z: np.ndarray) -> Callable[[], np.ndarray]:
    return lambda: generator.generate(z)


def _call(module: Callable, zt: torch.Tensor) -> Callable[[], torch.Tensor]:
    return lambda: module(zt)


def _check(calls: dict[str, Callable], want: np.ndarray) -> None:
    """Every call's images against torch eager's, at its precision's tolerance."""
    for name, call in calls.items():
        got = call()
        got = got.numpy() if isinstance(got, torch.Tensor) else got
        precision = "int8" if name.endswith("int8") else "fp32"
        result = compare(got, want, profile_for(precision, "CPU"))
        if not result.passed:
            raise AssertionError(f"{name} disagrees with torch eager: {result.max_abs:.3g}")
