"""The engines ``ganport bench`` times: one model run by torch and by ONNX Runtime, on CPU
or CUDA, each bound to an input batch that already sits where the engine computes.

Every engine answers ``bind(xs)`` (one array per model input) with a :class:`Runner`:
``run()`` computes once and returns only when the result is ready (CUDA work is
synchronised), so timing ``run`` times the compute and nothing else; ``fetch()`` brings
the last output to the host for the agreement check. Anything that can only be paid once
(session creation, compilation, CUDA graph capture, cuDNN search on the first call)
happens outside ``run`` and is reported separately. This is the comparison half of
infer/: torch is imported lazily.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ganport.core.errors import InputError
from ganport.infer.runtime.session import CUDA, create_session

# ORT's CPU thread pool, two ways, both timed. Its default: workers spin between parallel
# sections, fastest on an idle machine. "nospin": workers sleep and work is handed out in
# smaller dynamic blocks, so on a machine shared with other busy processes a worker that
# lost its core neither burns its time slice spinning nor holds the others up for long
# (measured up to 2x faster there for DCGAN 64x64 at batch 64, ~15% slower when idle).
ORT_CPU_CONFIGS: dict[str, dict[str, str]] = {
    "ort-cpu": {},
    "ort-cpu-nospin": {
        "session.intra_op.allow_spinning": "0",
        "session.intra_op.dynamic_block_base": "4",
    },
}


@dataclass
class Runner:
    """One engine bound to one input batch."""

    run: Callable[[], None]
    fetch: Callable[[], np.ndarray]


@dataclass
class Engine:
    """A way to run one model. ``setup_s`` is what preparing it cost, once per model."""

    name: str
    device: str
    bind: Callable[[tuple[np.ndarray, ...]], Runner]
    setup_s: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    precision: str = "fp32"  # the model this engine runs: how its output is judged


class Skipped(Exception):
    """An engine that cannot run here; the message says why, for the report."""


def engine_name(base: str, precision: str) -> str:
    """``ort-cuda-graph`` at fp32, ``ort-cuda-graph-fp16`` at another precision."""
    return base if precision == "fp32" else f"{base}-{precision}"


@contextlib.contextmanager
def torch_precision(device: str, precision: str) -> Iterator[None]:
    """How a torch user runs an fp32 module at ``precision``: autocast to float16 or
    bfloat16, TF32 matmuls and convolutions (CUDA), or plain fp32.

    Autocast's cache of cast weights is off: it lives only as long as one autocast region
    (one call here), so it saves nothing, and torch asks for it off around CUDA graph
    capture (``torch.cuda.make_graphed_callables`` under autocast)."""
    import torch

    if precision in ("fp16", "bf16"):
        dtype = torch.float16 if precision == "fp16" else torch.bfloat16
        with torch.autocast(device, dtype=dtype, cache_enabled=False):
            yield
        return
    if precision == "tf32":
        saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
        return
    yield


def torch_engine(
    name: str, module: Any, device: str, compiled: bool = False, precision: str = "fp32"
) -> Engine:
    """torch eager (or ``torch.compile``) on ``device``; call inside ``torch.inference_mode``.

    ``module`` is the checkpoint's module in eval mode, as a torch user would run it, at
    ``precision`` (``torch_precision``: autocast for fp16 and bf16).
    """
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise Skipped(_no_torch_cuda())
    if precision == "tf32" and device != "cuda":
        raise Skipped("TF32 is a CUDA format; the CPU has no TF32 matmul")
    start = time.perf_counter()
    model = module.to(device)
    if compiled:
        model = torch.compile(model)
    setup = time.perf_counter() - start
    sync = torch.cuda.synchronize if device == "cuda" else _nothing

    def bind(xs: tuple[np.ndarray, ...]) -> Runner:
        xts = [torch.from_numpy(x).to(device) for x in xs]
        out: dict[str, Any] = {}

        def run() -> None:
            with torch_precision(device, precision):
                out["y"] = model(*xts)
            sync()

        return Runner(run, lambda: out["y"].float().cpu().numpy())

    settings = {"mode": "torch.compile (default mode)" if compiled else "eager"}
    settings["precision"] = _TORCH_PRECISION[precision]
    return Engine(name, device, bind, setup, settings, precision)


def torch_cuda_graph_engine(module: Any, precision: str = "fp32") -> Engine:
    """The torch module replayed as a CUDA graph captured per batch size (fixed shapes),
    captured at ``precision`` (``torch_precision``)."""
    import torch

    if not torch.cuda.is_available():
        raise Skipped(_no_torch_cuda())
    model = module.to("cuda")

    def bind(xs: tuple[np.ndarray, ...]) -> Runner:
        static_xs = [torch.from_numpy(x).to("cuda") for x in xs]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch_precision("cuda", precision):
            for _ in range(3):  # warm up outside the capture (cuDNN search, allocator)
                model(*static_xs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch_precision("cuda", precision):
            static_y = model(*static_xs)

        def run() -> None:
            graph.replay()
            torch.cuda.synchronize()

        return Runner(run, lambda: static_y.float().cpu().numpy())

    settings = {"mode": "torch.cuda.CUDAGraph", "precision": _TORCH_PRECISION[precision]}
    name = engine_name("torch-cuda-graph", precision)
    return Engine(name, "cuda", bind, 0.0, settings, precision)


def ort_cpu_engine(
    path: Path, threads: int, config: str = "ort-cpu", precision: str = "fp32"
) -> Engine:
    """ONNX Runtime's CPU provider with IO binding on preallocated host buffers.

    The session comes from ``create_session`` (``threads`` intra-op threads, sequential
    execution so no inter-op pool, every graph optimisation): what ``ganport sample``
    runs, plus the configuration's session config entries (``ORT_CPU_CONFIGS[config]``).
    An int8 model's engine is named ``<config>-int8``.
    """
    start = time.perf_counter()
    session, _ = create_session(
        path, "cpu", intra_op_threads=threads, config_entries=ORT_CPU_CONFIGS[config]
    )
    setup = time.perf_counter() - start
    name = engine_name(config, precision)
    settings = {**_ort_settings(session), "model": path.name, "precision": precision}
    return Engine(name, "cpu", _ort_binder(session, "cpu"), setup, settings, precision)


def ort_cuda_engine(path: Path, threads: int, cuda_graph: bool, precision: str = "fp32") -> Engine:
    """ONNX Runtime's CUDA provider, inputs and outputs bound on the device, TF32 off (on
    for ``precision`` tf32: the fp32 model with TF32 convolutions) and an exhaustive cuDNN
    search (its cost falls on the first call); with ``cuda_graph``, one session per batch
    size replays a captured CUDA graph. ``path`` is the model of that precision (fp16: the
    ``*_fp16.onnx`` export)."""
    start = time.perf_counter()
    try:
        session, _ = create_session(
            path,
            "cuda",
            cudnn_conv_algo_search="EXHAUSTIVE",
            use_tf32=precision == "tf32",
            intra_op_threads=threads,
        )
    except InputError as exc:
        raise Skipped(str(exc)) from exc
    setup = time.perf_counter() - start
    settings = {**_ort_settings(session), **_cuda_options(session), "model": path.name}
    if not cuda_graph:
        name = engine_name("ort-cuda-iobinding", precision)
        return Engine(name, "cuda", _ort_binder(session, "cuda"), setup, settings, precision)

    def bind(xs: tuple[np.ndarray, ...]) -> Runner:
        graphed, _ = create_session(
            path,
            "cuda",
            cudnn_conv_algo_search="EXHAUSTIVE",
            use_tf32=precision == "tf32",
            intra_op_threads=threads,
            enable_cuda_graph=True,
        )
        return _ort_binder(graphed, "cuda", probe=session)(xs)

    settings["enable_cuda_graph"] = "1"
    return Engine(
        engine_name("ort-cuda-graph", precision), "cuda", bind, setup, settings, precision
    )


def runtime_engine(name: str, path: Path, precision: str = "fp32") -> Engine:
    """Another runtime (``ganport.infer.engines``: OpenVINO, tract, LiteRT, .ort) on the file
    it runs beside ``path``, through its own Python API; its thread count is its own."""
    from ganport.infer.engines import EngineMissing, get_engine

    try:
        runtime = get_engine(name)
    except EngineMissing as exc:
        raise Skipped(str(exc)) from exc
    file = runtime.file_for(path)
    if not file.is_file():
        raise Skipped(f"no {file.name} beside {path.name} (export with --target)")
    start = time.perf_counter()
    loaded = runtime.load(file)
    setup = time.perf_counter() - start

    def bind(xs: tuple[np.ndarray, ...]) -> Runner:
        feeds = dict(zip(loaded.input_names, xs, strict=True))
        out: list[np.ndarray] = []

        def run() -> None:
            out[:] = loaded.run(feeds)[:1]

        return Runner(run, lambda: np.asarray(out[0], np.float32))

    settings = {"runtime": runtime.name, "version": runtime.version, "model": file.name}
    if runtime.compute:
        settings["compute"] = runtime.compute
    return Engine(engine_name(name, precision), "cpu", bind, setup, settings, precision)


def _ort_binder(
    session: ort.InferenceSession, device: str, probe: ort.InferenceSession | None = None
) -> Callable[[tuple[np.ndarray, ...]], Runner]:
    """Bind input and output buffers on ``device`` once; ``probe`` (a session of the same
    model) answers the output shape when the graph leaves it symbolic, because a CUDA-graph
    session must see no shape but the one it captures."""
    input_names = [arg.name for arg in session.get_inputs()]
    output_name = session.get_outputs()[0].name

    def bind(xs: tuple[np.ndarray, ...]) -> Runner:
        shape = session.get_outputs()[0].shape[1:]
        if not all(isinstance(d, int) for d in shape):
            first = {name: x[:1] for name, x in zip(input_names, xs, strict=True)}
            shape = (probe or session).run([output_name], first)[0].shape[1:]
        values = [ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(x), device, 0) for x in xs]
        y_value = ort.OrtValue.ortvalue_from_shape_and_type(
            (xs[0].shape[0], *shape), np.float32, device, 0
        )
        binding = session.io_binding()
        for name, value in zip(input_names, values, strict=True):
            binding.bind_ortvalue_input(name, value)
        binding.bind_ortvalue_output(output_name, y_value)

        def run() -> None:
            session.run_with_iobinding(binding)  # returns after the device is done

        return Runner(run, y_value.numpy)

    return bind


def _ort_settings(session: ort.InferenceSession) -> dict[str, Any]:
    """Session options read back from the session, so the report shows what really ran."""
    options = session.get_session_options()
    entries = {}
    for key in ("session.intra_op.allow_spinning", "session.intra_op.dynamic_block_base"):
        with contextlib.suppress(RuntimeError):  # unset: ORT's default
            entries[key] = options.get_session_config_entry(key)
    return {
        "provider": session.get_providers()[0],
        "intra_op_num_threads": options.intra_op_num_threads,
        "inter_op_num_threads": options.inter_op_num_threads,
        "execution_mode": str(options.execution_mode).split(".")[-1],
        "graph_optimization_level": str(options.graph_optimization_level).split(".")[-1],
        "allow_spinning": entries.get("session.intra_op.allow_spinning", "1 (default)"),
        "dynamic_block_base": entries.get("session.intra_op.dynamic_block_base", "default"),
        "enable_mem_pattern": options.enable_mem_pattern,
        "enable_cpu_mem_arena": options.enable_cpu_mem_arena,
        "io_binding": True,
    }


def _cuda_options(session: ort.InferenceSession) -> dict[str, str]:
    keep = ("device_id", "cudnn_conv_algo_search", "use_tf32")
    options = session.get_provider_options().get(CUDA, {})
    return {key: options[key] for key in keep if key in options}


_TORCH_PRECISION = {
    "fp32": "fp32 (TF32 off)",
    "tf32": "fp32 with TF32 matmuls and convolutions",
    "fp16": "torch.autocast float16",
    "bf16": "torch.autocast bfloat16",
}


def _no_torch_cuda() -> str:
    import torch

    build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
    return f"torch {torch.__version__} ({build}) sees no CUDA device"


def _nothing() -> None:
    pass
