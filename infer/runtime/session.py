"""The one place ganport creates ONNX Runtime sessions, and proves which provider runs them.

onnxruntime-gpu quietly falls back to the CPU when the CUDA provider cannot start
(missing CUDA/cuDNN libraries, no driver, no device), and
``get_available_providers()`` lists CUDA whether or not it can start. So the only
evidence used here is ``session.get_providers()`` read back from the created session:
``cuda`` fails with a one-line reason when CUDA is not first there, and ``auto``
reports the provider that really runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import platform
import re
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata as dist_metadata
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from ganport import __version__
from ganport.core.errors import InputError, JobFailed, first_line
from ganport.infer.runtime.external_data import (
    check_location,
    external_tensors,
    inline_external_data,
)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
PROVIDERS = ("auto", "cuda", "cpu")
CONV_ALGO_SEARCHES = ("HEURISTIC", "EXHAUSTIVE", "DEFAULT")
OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
# Distributions that all install the same ``onnxruntime`` import package.
RUNTIME_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu")
CUDA_EXTRA = "pip install 'onnxruntime-gpu[cuda,cudnn]'"
# ORT's default logger severity (warning); restored after a quiet CUDA attempt.
_ORT_DEFAULT_SEVERITY = 2
_ORT_FATAL_ONLY = 4
# What onnxruntime raises for a model it cannot load or run.
_ORT_ERRORS = (
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidGraph,
    ort_state.InvalidProtobuf,
    ort_state.NoSuchFile,
    ort_state.NotImplemented,
    ort_state.RuntimeException,
)
_warned_conflict = False


def create_session(
    path: str | os.PathLike[str],
    provider: str = "auto",
    *,
    device_id: int = 0,
    cudnn_conv_algo_search: str = "HEURISTIC",
    use_tf32: bool = False,
    intra_op_threads: int | None = None,
    graph_optimization_level: str = "all",
    config_entries: Mapping[str, str] | None = None,
    enable_cuda_graph: bool = False,
) -> tuple[ort.InferenceSession, str]:
    """Load an ONNX model on ``provider`` (auto, cuda or cpu); return the session and who runs it.

    The one place the product makes sessions, so provider checks, threads, external data
    and error messages are the same everywhere. CUDA defaults favour reproducibility:
    HEURISTIC convolution search (EXHAUSTIVE re-benchmarks for every new batch size) and
    TF32 off so results match torch's float32. ``intra_op_threads`` None or 0 leaves ORT's
    own choice; ``config_entries`` are ORT session config entries (e.g. thread spinning);
    ``enable_cuda_graph`` makes the CUDA provider capture and replay one input shape.
    """
    _check_options(
        provider, cudnn_conv_algo_search, graph_optimization_level, intra_op_threads, device_id
    )
    model = _model_file(path)
    _warn_runtime_conflict()
    options = ort.SessionOptions()
    options.graph_optimization_level = OPTIMIZATION_LEVELS[graph_optimization_level]
    options.log_severity_level = 3  # errors only: the provider check below speaks for ORT
    if intra_op_threads:
        options.intra_op_num_threads = intra_op_threads
    for key, value in (config_entries or {}).items():
        options.add_session_config_entry(key, value)

    if provider in ("auto", "cuda") and CUDA in ort.get_available_providers():
        cuda_options = {
            "device_id": str(device_id),
            "cudnn_conv_algo_search": cudnn_conv_algo_search,
            "use_tf32": "1" if use_tf32 else "0",
        }
        if enable_cuda_graph:
            cuda_options["enable_cuda_graph"] = "1"
        preload_report = _preload_cuda_libraries()
        with quiet_ort_logs():
            session = _load(model, options, [(CUDA, cuda_options)])
        if session.get_providers()[0] == CUDA:
            return session, CUDA
        if provider == "cuda":
            raise InputError(_cuda_failure(preload_report))
    elif provider == "cuda":
        raise InputError(_cuda_failure(""))
    session = _load(model, options, [CPU])
    return session, session.get_providers()[0]


def run_on_device(
    session: ort.InferenceSession,
    feeds: Mapping[str, np.ndarray | ort.OrtValue],
    output_names: Sequence[str],
    device: str = "cpu",
    device_id: int = 0,
) -> list[ort.OrtValue]:
    """Run with IO binding: inputs are copied to ``device`` once (or already live there as
    OrtValues) and outputs are allocated there, so chained GPU work never round-trips
    through host memory. Call ``.numpy()`` on an output to bring it to the host.
    """
    binding = session.io_binding()
    for name, value in feeds.items():
        if isinstance(value, np.ndarray):
            value = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value), device, device_id)
        binding.bind_ortvalue_input(name, value)
    for name in output_names:
        binding.bind_output(name, device, device_id)
    try:
        with quiet_ort_logs() if device == "cuda" else contextlib.nullcontext():
            session.run_with_iobinding(binding)
    except _ORT_ERRORS as exc:
        raise JobFailed(f"onnxruntime failed to run the model: {first_line(exc)}") from exc
    return binding.get_outputs()


def run(
    session: ort.InferenceSession,
    provider: str,
    feeds: Mapping[str, np.ndarray],
    output_names: Sequence[str],
    device_id: int = 0,
) -> list[np.ndarray]:
    """Run a session and return host arrays: plain ``run`` on CPU, IO binding on CUDA."""
    if provider == CUDA:
        outputs = run_on_device(session, feeds, output_names, "cuda", device_id)
        return [value.numpy() for value in outputs]
    try:
        return session.run(list(output_names), dict(feeds))
    except _ORT_ERRORS as exc:
        raise JobFailed(f"onnxruntime failed to run the model: {first_line(exc)}") from exc


def installed_runtimes() -> dict[str, str]:
    """Installed onnxruntime distributions and their versions (more than one is a conflict)."""
    found = {}
    for name in RUNTIME_DISTRIBUTIONS:
        with contextlib.suppress(dist_metadata.PackageNotFoundError):
            found[name] = dist_metadata.version(name)
    return found


def runtime_conflict() -> str | None:
    """A message when several onnxruntime distributions share one ``onnxruntime`` folder.

    pip lets them overwrite each other's files, so which build is imported (and whether
    it has the CUDA provider) depends on the order they were installed in.
    """
    found = installed_runtimes()
    if len(found) < 2:
        return None
    listed = " and ".join(f"{name} {version}" for name, version in found.items())
    keep = "onnxruntime-gpu" if _gpu_wheels_exist() else "onnxruntime"
    return (
        f"{listed} are both installed and overwrite each other's files; keep one: "
        f"pip uninstall -y {' '.join(found)} && pip install {keep}"
    )


def runtime_versions() -> dict[str, str]:
    """Versions that shape a runtime result; written into every report."""
    return {
        "ganport": __version__,
        "onnxruntime": ort.__version__,
        "onnxruntime_package": getattr(ort, "package_name", "onnxruntime"),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _check_options(
    provider: str,
    cudnn_conv_algo_search: str,
    graph_optimization_level: str,
    intra_op_threads: int | None,
    device_id: int,
) -> None:
    if provider not in PROVIDERS:
        raise InputError(f"provider {provider!r} is not one of {', '.join(PROVIDERS)}")
    if cudnn_conv_algo_search not in CONV_ALGO_SEARCHES:
        raise InputError(
            f"cudnn_conv_algo_search {cudnn_conv_algo_search!r} is not one of "
            f"{', '.join(CONV_ALGO_SEARCHES)}"
        )
    if graph_optimization_level not in OPTIMIZATION_LEVELS:
        raise InputError(
            f"graph_optimization_level {graph_optimization_level!r} is not one of "
            f"{', '.join(OPTIMIZATION_LEVELS)}"
        )
    if intra_op_threads is not None and intra_op_threads < 0:
        raise InputError(f"intra_op_threads must be >= 0, not {intra_op_threads}")
    if device_id < 0:
        raise InputError(f"device_id must be >= 0, not {device_id}")


def _model_file(path: str | os.PathLike[str]) -> Path:
    model = Path(path)
    if not model.exists():
        raise InputError(f"{model}: no such model file")
    if not model.is_file():
        raise InputError(f"{model}: not a file; give the .onnx model file")
    if not os.access(model, os.R_OK):
        raise InputError(f"{model}: cannot read (permission denied)")
    return model


def _load(
    model: Path, options: ort.SessionOptions, providers: list[str | tuple[str, dict[str, str]]]
) -> ort.InferenceSession:
    try:
        return _session(model, str(model), options, providers)
    except _ORT_ERRORS as exc:
        text = str(exc)
        if _EXTERNAL_CONSTANT in text:
            # Every layout ONNX writes loads: ORT's shape inference cannot read a constant it
            # needs from an external file, so read the external data into the model first.
            inlined = inline_external_data(model, _read_model(model))
            try:
                return _session(model, inlined, options, providers)
            except _ORT_ERRORS as again:
                raise InputError(
                    f"{model}: not a loadable ONNX model ({first_line(again)})"
                ) from again
        if "external data" in text.lower() or "absolute path" in text.lower():
            # Name the tensor and the real cause (an absolute path, '..', a symlink leaving
            # the folder, a missing file or range); ORT's own words when none is found.
            for name, entries in external_tensors(_read_model(model), str(model)):
                check_location(model, name, entries)
            detail = re.search(r"(External data path[^\n]*|Absolute path[^\n]*)", text)
            raise InputError(
                f"{model}: its external data cannot be loaded "
                f"({detail.group(1) if detail else first_line(exc)})"
            ) from exc
        raise InputError(f"{model}: not a loadable ONNX model ({first_line(exc)})") from exc


# What ORT says when shape inference meets a constant kept in an external file.
_EXTERNAL_CONSTANT = "Cannot parse data from external tensors"


def _session(
    model: Path,
    what: str | bytes,
    options: ort.SessionOptions,
    providers: list[str | tuple[str, dict[str, str]]],
) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(what, sess_options=options, providers=providers)
    except UnicodeDecodeError as exc:  # onnxruntime reads the model's text fields as UTF-8
        raise InputError(f"{model}: damaged ONNX model: text that is not UTF-8 ({exc})") from exc


def _read_model(model: Path) -> bytes:
    try:
        return model.read_bytes()
    except OSError as exc:
        raise InputError(f"{model}: cannot read ({exc.strerror or exc})") from exc


@contextlib.contextmanager
def quiet_ort_logs() -> Iterator[None]:
    """Silence ORT's process-wide logger where it reports, as errors, what it handles itself.

    While CUDA is tried, its multi-line failure messages are replaced by the one-line
    diagnosis of ``_cuda_failure``. While a CUDA session meets a new input shape, it builds
    cuDNN plans: with TF32 off (the default here, so float32 matches torch) onnxruntime
    first asks cuDNN for a convolution plan without tensor cores, which a float16
    convolution does not have; it logs "[cudnn_frontend] Error: No execution plans support
    the graph." and retries with tensor cores, which succeeds. A run that really fails
    still raises, with onnxruntime's message. onnxruntime has no getter for the severity,
    so afterwards it is ORT's default (warning) again, whatever it was before.
    """
    ort.set_default_logger_severity(_ORT_FATAL_ONLY)
    try:
        yield
    finally:
        ort.set_default_logger_severity(_ORT_DEFAULT_SEVERITY)


def _preload_cuda_libraries() -> str:
    """Load CUDA/cuDNN from pip's nvidia-* packages (the ``[cuda,cudnn]`` extra), which the
    CUDA provider does not find on its own; return what failed to load, for diagnosis."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return ""
    report = io.StringIO()
    with contextlib.redirect_stdout(report), contextlib.suppress(RuntimeError, OSError):
        preload(cuda=True, cudnn=True)
    return report.getvalue()


def _cuda_failure(preload_report: str) -> str:
    """One line saying why the CUDA provider is not running, and what to do about it."""
    conflict = runtime_conflict()
    if conflict:
        return f"CUDAExecutionProvider is not usable: {conflict}"
    if CUDA not in ort.get_available_providers():
        package = getattr(ort, "package_name", "onnxruntime")
        hint = (
            "pip uninstall -y onnxruntime && pip install 'onnxruntime-gpu[cuda,cudnn]'"
            if _gpu_wheels_exist()
            else "onnxruntime-gpu has no wheels for this platform; use --provider cpu"
        )
        return f"CUDA was asked for but {package} {ort.__version__} is a CPU-only build; {hint}"
    # preload_dlls prints "Failed to load <library>: <loader error naming it>".
    missing = next(
        (
            line.split(": ", 1)[-1].strip()
            for line in preload_report.splitlines()
            if line.startswith("Failed to load")
        ),
        "",
    )
    if missing:
        return (
            f"CUDAExecutionProvider cannot start: the CUDA/cuDNN libraries are missing "
            f"({missing}); install them with {CUDA_EXTRA}"
        )
    if not _driver_present():
        return (
            "CUDAExecutionProvider cannot start: no NVIDIA driver (libcuda) on this machine; "
            "use --provider cpu"
        )
    return (
        "CUDAExecutionProvider did not start (no usable CUDA device? check nvidia-smi and "
        f"CUDA_VISIBLE_DEVICES; CUDA/cuDNN versions must match onnxruntime-gpu: {CUDA_EXTRA})"
    )


def _driver_present() -> bool:
    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def _gpu_wheels_exist() -> bool:
    machine = platform.machine().lower()
    return sys.platform == "win32" or (sys.platform == "linux" and machine in ("x86_64", "amd64"))


def _warn_runtime_conflict() -> None:
    global _warned_conflict
    conflict = runtime_conflict()
    if conflict and not _warned_conflict:
        _warned_conflict = True
        warnings.warn(conflict, RuntimeWarning, stacklevel=3)
