"""Where ONNX Runtime spends a model's time, node by node, with each node's GFLOP/s.

A total latency says whether a target is met; this says why not. ORT's own profiler
times every kernel; joined with the MACs that ganport.infer.compare.flops counts per node,
it shows which layers run near the machine's matmul rate and which fall short of it.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ganport.infer.compare.flops import node_macs


@dataclass(frozen=True)
class NodeTime:
    """One node of the optimised graph: median kernel time per run and its arithmetic rate."""

    name: str
    op_type: str
    median_ms: float
    gflops: float | None


def profile_nodes(
    path: Path, x: np.ndarray, threads: int, config: Mapping[str, str], runs: int = 20
) -> list[NodeTime]:
    """Run ``path`` on ``x`` ``runs`` times under ORT's profiler, with the options of a bench
    ORT CPU engine (``config``: its session config entries); slowest node first."""
    macs = {n.name: n.macs * x.shape[0] for n in node_macs(path)}
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        for key, value in config.items():
            options.add_session_config_entry(key, value)
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        for _ in range(runs + 2):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    times: dict[tuple[str, str], list[float]] = {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            key = (event["name"].removesuffix("_kernel_time"), event["args"]["op_name"])
            times.setdefault(key, []).append(event["dur"] / 1e3)
    nodes = []
    for (name, op_type), durations in times.items():
        median = statistics.median(durations[2:] or durations)  # the first runs warm up
        work = macs.get(name)
        gflops = 2 * work / median / 1e6 if work else None
        nodes.append(NodeTime(name, op_type, median, gflops))
    return sorted(nodes, key=lambda n: -n.median_ms)
