"""ONNX Runtime's OpenVINO execution provider against its CPU provider, side by side.

    OVEP_VENV/bin/python benchmarks/openvino_ep.py MODEL.onnx [MODEL.onnx ...]
        [--batch 1,8,64] [--rounds 7] [--seconds 0.3]

Runs in an environment of its own (``python -m venv OVEP_VENV && OVEP_VENV/bin/pip install
onnxruntime-openvino numpy``): ``onnxruntime-openvino`` and ganport's ``onnxruntime-gpu``
both install the ``onnxruntime`` module, so they cannot share one. Needs nothing else:
each generator's latent input is read from the model. For each model and batch size it
times one ``run`` on each provider (sessions made once, turns taken in each round, the
median of the rounds' means) and prints the OpenVINO provider's speed as a multiple of the
CPU provider's, with the largest difference between their outputs (OpenVINO may compute
in bfloat16 on a CPU that has it).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort

PROVIDERS = ("CPUExecutionProvider", "OpenVINOExecutionProvider")


def _session(path: str, provider: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(path, options, providers=[provider])
    if session.get_providers()[0] != provider:
        raise SystemExit(f"{provider} did not run {path}: {session.get_providers()}")
    return session


def _feeds(session: ort.InferenceSession, batch: int) -> dict[str, np.ndarray]:
    noise = np.random.default_rng(0)
    feeds = {}
    for node in session.get_inputs():
        shape = [batch, *node.shape[1:]]
        if node.type == "tensor(int64)":
            feeds[node.name] = noise.integers(0, 10, shape).astype(np.int64)
        else:
            feeds[node.name] = noise.standard_normal(shape).astype(np.float32)
    return feeds


def _mean_seconds(session: ort.InferenceSession, feeds: dict, seconds: float) -> float:
    runs, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        session.run(None, feeds)
        runs += 1
    return elapsed / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--batch", default="1,8,64")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.3, help="per provider and round")
    args = parser.parse_args()
    print(f"onnxruntime {ort.__version__}, 2 threads; OpenVINO EP time as × CPU EP speed")
    for path in args.models:
        sessions = {provider: _session(path, provider) for provider in PROVIDERS}
        for batch in map(int, args.batch.split(",")):
            feeds = _feeds(sessions[PROVIDERS[0]], batch)
            outputs = [s.run(None, feeds)[0] for s in sessions.values()]
            times: dict[str, list[float]] = {provider: [] for provider in PROVIDERS}
            for _ in range(args.rounds):
                for provider, session in sessions.items():
                    times[provider].append(_mean_seconds(session, feeds, args.seconds))
            cpu, ov = (statistics.median(times[p]) for p in PROVIDERS)
            diff = float(np.abs(outputs[0] - outputs[1]).max())
            print(
                f"  {path} batch {batch:3d}: CPU EP {cpu * 1e3:8.3f} ms, OpenVINO EP "
                f"{ov * 1e3:8.3f} ms, {cpu / ov:5.2f}×, max |diff| {diff:.1e}"
            )


if __name__ == "__main__":
    main()
