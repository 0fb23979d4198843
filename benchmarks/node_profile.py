"""Where ONNX Runtime spends a model's time, node by node, with each node's GFLOP/s.

A total latency says whether a target is met; this says why not. ORT's own profiler
times every kernel; joined with the MACs that ganport.infer.compare.flops counts per node,
it shows which layers run near the machine's matmul rate and which fall short of it.
Beside it, each ConvTranspose of a DCGAN generator alone, ONNX Runtime's against torch's
on the same input, timed interleaved: where ONNX Runtime loses to torch, layer by layer.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from ganport.core.latent import latent
from ganport.infer.compare.bench_engines import ORT_CPU_CONFIGS
from ganport.infer.compare.flops import node_macs
from ganport.infer.compare.timing import Plan, time_interleaved
from ganport.infer.runtime.session import create_session

# What the targets script profiles: model → batch sizes, fp32 and int8 (where exported).
PROFILED = {"dcgan28c": (1, 64), "dcgan64": (64,)}


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


def layer_race(module, z: np.ndarray, threads: int, plan: Plan) -> list[dict[str, object]]:
    """Each ``ConvTranspose2d`` of a DCGAN generator's ``net``, alone on the input it gets
    from ``z``: ONNX Runtime's ConvTranspose (a one-node model, the same session options as
    ``profile_nodes``) against torch's layer, timed interleaved at ``threads`` threads."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    try:
        with torch.inference_mode(), tempfile.TemporaryDirectory() as tmp:
            x = _net_input(module, torch.from_numpy(z))
            for index, layer in enumerate(module.net):
                if isinstance(layer, torch.nn.ConvTranspose2d):
                    rows.append(_race(layer, x, threads, plan, Path(tmp) / f"{index}.onnx"))
                x = layer(x)
    finally:
        torch.set_num_threads(saved)
    return rows


def _net_input(module, z):
    """What a DCGAN generator feeds its ``net`` for ``z`` (its class one-hot included)."""
    seen = []
    hook = module.net.register_forward_pre_hook(lambda _net, args: seen.append(args[0]))
    try:
        module(z)
    finally:
        hook.remove()
    return seen[0]


def _race(layer, x, threads: int, plan: Plan, path: Path) -> dict[str, object]:
    """``layer`` and its one-node ONNX model (saved to ``path``) on ``x``, interleaved."""
    weight = layer.weight.detach().numpy()
    node = onnx.helper.make_node(
        "ConvTranspose",
        ["x", "w"],
        ["y"],
        kernel_shape=list(layer.kernel_size),
        strides=list(layer.stride),
        pads=list(layer.padding) * 2,
    )
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(
        [node],
        "layer",
        [value("x", onnx.TensorProto.FLOAT, ["n", *x.shape[1:]])],
        [value("y", onnx.TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(weight, "w")],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)])
    model.ir_version = 10
    onnx.save(model, str(path))
    session, _ = create_session(
        path, "cpu", intra_op_threads=threads, config_entries=ORT_CPU_CONFIGS["ort-cpu"]
    )
    feed = {"x": x.numpy()}
    timed = time_interleaved(
        {"ort": lambda: session.run(None, feed), "torch": lambda: layer(x)}, plan
    )
    y = layer(x)
    macs = x.numel() * weight[0].size
    return {
        "layer": f"{layer.in_channels}->{layer.out_channels} {tuple(x.shape[2:])}->"
        f"{tuple(y.shape[2:])}",
        "ort_ms": timed["ort"].median_ms,
        "torch_ms": timed["torch"].median_ms,
        "ort_best_ms": timed["ort"].min_ms,
        "torch_best_ms": timed["torch"].min_ms,
        "gflop": 2 * macs / 1e9,
    }


def print_profiles(work: Path, threads: int, plan: Plan) -> dict[str, object]:
    """Profile ``PROFILED``'s generators (built under ``work`` by the targets script) with
    ORT's default CPU configuration, fp32 and int8, race their ConvTransposes against
    torch's (``layer_race``), print it all and return it."""
    from ganport.train.checkpoint import load_checkpoint

    found: dict[str, object] = {}
    for name, batches in PROFILED.items():
        module = load_checkpoint(work / name / "checkpoint.pt").generator()
        for batch in batches:
            z = latent(batch, module.nz, seed=0)
            for file in ("generator.onnx", "generator_int8.onnx"):
                nodes = profile_nodes(work / name / file, z, threads, ORT_CPU_CONFIGS["ort-cpu"])
                key = f"{name} {file} batch {batch}"
                found[key] = _print_nodes(key, nodes)
            key = f"{name} ConvTranspose layers batch {batch}"
            found[key] = _print_race(key, layer_race(module, z, threads, plan))
    return found


def _print_nodes(key: str, nodes: list[NodeTime]) -> list[dict[str, object]]:
    """The profile's slowest nodes."""
    total = sum(n.median_ms for n in nodes)
    print(f"\nONNX Runtime per node, {key}: {total:.3f} ms in {len(nodes)} nodes")
    for node in nodes[:6]:
        rate = "" if node.gflops is None else f"{node.gflops:7.1f} GFLOP/s"
        print(f"  {node.name:28s} {node.op_type:16s} {node.median_ms:8.3f} ms {rate:>15s}")
    return [dataclasses.asdict(node) for node in nodes]


def _print_race(key: str, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    print(f"\n{key}, alone, interleaved: median ms [best-of], GFLOP/s of the median")
    for row in rows:
        ort, torch_ms = row["ort_ms"], row["torch_ms"]
        print(
            f"  {row['layer']:28s} ORT {ort:8.3f} [{row['ort_best_ms']:8.3f}] "
            f"{row['gflop'] / ort * 1e3:6.1f}   torch {torch_ms:8.3f} "
            f"[{row['torch_best_ms']:8.3f}] {row['gflop'] / torch_ms * 1e3:6.1f}   "
            f"torch/ORT {torch_ms / ort:5.2f}"
        )
    return rows
