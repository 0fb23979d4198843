"""The compatibility matrix: do other ONNX runtimes load ganport's exports and agree with torch?

A claim of portability is a run of that runtime. Each cell exports one model variant
(default, ``--opset 13``, ``--fp16``, ``--static-batch``) of one checkpoint, runs it on
one runtime, and compares it with torch on the same inputs under the tolerance rule of
its precision: G on latent-convention z and, for a class-conditional G, on z placed on
and beside every class edge (where a runtime reading z[:, 0] at another precision draws
another class); D on real images of the run's data set.

Runtimes: this environment's onnxruntime, ``onnx.reference.ReferenceEvaluator``, any
other Python environment with onnxruntime (an older release in its own venv), and
onnxruntime-node. The other environments run ``runners/run_models.py`` and
``runners/run_models.cjs``, which import nothing of ganport.

    python -m ganport.infer.compare.compat CHECKPOINT... [--python VENV_PYTHON]...
        [--node NODE_MODULES] [--work DIR] [--json matrix.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganport.core.atomic import write_bytes, write_json
from ganport.core.classes import class_edges, edge_latent
from ganport.core.errors import GanportError, InputError, first_line
from ganport.core.latent import latent
from ganport.core.tolerance import compare, profile_for
from ganport.infer.compare.compat_expected import expected_outcome

RUNNERS = Path(__file__).parent / "runners"
ROWS = 48  # rows of every input: covers each of 9 class edges' 5 neighbours once
VARIANTS = {
    "default": {},
    "opset 13": {"opset": 13},
    "fp16": {"fp16": True},
    "int8": {"int8": True},
    f"static batch {ROWS}": {"static_batch": ROWS},
}

# Runs a list of (model, input) pairs; returns outputs (None where it failed) and errors.
RunMany = Callable[[list[tuple[Path, np.ndarray]]], tuple[list[np.ndarray | None], list[str]]]


@dataclass(frozen=True)
class Runtime:
    """One runtime that can run ONNX files: a name, its version, and how to run them."""

    name: str
    version: str
    run_many: RunMany
    variants: tuple[str, ...] | None = None  # the ones it runs (None: every variant)


@dataclass
class Cell:
    """One model variant on one runtime, compared with torch."""

    runtime: str
    version: str
    model: str
    role: str
    variant: str
    inputs: str
    passed: bool
    max_abs: float | None = None
    class_agreement: float | None = None  # rows drawing torch's image, on edge latents
    profile: str = ""
    error: str | None = None

    @property
    def outcome(self) -> str:
        """ "exact", or why not: the runtime's own error, or how far from torch it is."""
        if self.passed:
            return "exact"
        if self.error:
            return f"unsupported: {self.error}"
        return f"inexact: max abs {self.max_abs:.2g}"

    def expected(self) -> str:
        """What ``EXPECTED`` writes down for this cell."""
        return expected_outcome(
            self.runtime, self.version, self.model, self.variant, self.role, self.inputs
        )

    @property
    def as_expected(self) -> bool:
        """Whether the outcome is the one written down: exact, or not exact in the way and
        for the reason recorded ("unsupported: <part of its error>"). A cell that starts
        passing is a change too: update the table."""
        want = self.expected()
        if want == "exact":
            return self.outcome == want
        kind, _, reason = want.partition(": ")
        return self.outcome.startswith(kind) and reason in self.outcome


@dataclass
class Matrix:
    cells: list[Cell] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every cell as written down in ``EXPECTED``."""
        return all(cell.as_expected for cell in self.cells)

    def surprises(self) -> list[str]:
        """One line per cell whose outcome is not the one written down."""
        return [
            f"{c.runtime} {c.model} {c.role} {c.variant} ({c.inputs}): {c.outcome}, "
            f"expected {c.expected()}"
            for c in self.cells
            if not c.as_expected
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "cells": [dataclasses.asdict(c) for c in self.cells]}

    def table(self) -> str:
        """One line per cell: what ran, where, and how far from torch."""
        rows = [("runtime", "version", "model", "variant", "inputs", "max abs", "classes", "")]
        for c in self.cells:
            agreement = "-" if c.class_agreement is None else f"{c.class_agreement:.0%}"
            error = "-" if c.max_abs is None else f"{c.max_abs:.2g}"
            verdict = c.outcome if c.as_expected else f"UNEXPECTED {c.outcome}"
            rows.append(
                (
                    c.runtime,
                    c.version,
                    f"{c.model} {c.role[0].upper()}",
                    c.variant,
                    c.inputs,
                    error,
                    agreement,
                    verdict,
                )
            )
        return _aligned(rows)

    def markdown(self) -> str:
        """The summary as a Markdown table: one row per runtime and variant, each outcome."""
        rows = self.summary_rows()
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        """One line per runtime and variant (``summary_rows``), aligned."""
        return _aligned(self.summary_rows())

    def summary_rows(self) -> list[tuple[str, ...]]:
        """One row per runtime and variant: cells exact, worst error per role, the share
        of class-edge rows drawing torch's image, and the first reason a cell is not exact."""
        groups: dict[tuple[str, str, str], list[Cell]] = {}
        for cell in self.cells:
            groups.setdefault((cell.runtime, cell.version, cell.variant), []).append(cell)
        rows = [("runtime", "version", "variant", "exact", "max abs G", "max abs D", "classes", "")]
        for (runtime, version, variant), cells in groups.items():
            worst = {
                role: max(
                    (c.max_abs for c in cells if c.role == role and c.max_abs is not None),
                    default=None,
                )
                for role in ("generator", "discriminator")
            }
            edges = [c.class_agreement for c in cells if c.class_agreement is not None]
            why = next((f"{c.role}: {c.outcome}" for c in cells if not c.passed), "")
            rows.append(
                (
                    runtime,
                    version,
                    variant,
                    f"{sum(c.passed for c in cells)}/{len(cells)}",
                    *("-" if v is None else f"{v:.2g}" for v in worst.values()),
                    f"{min(edges):.0%}" if edges else "-",
                    why.replace("|", "/"),
                )
            )
        return rows


def current_onnxruntime() -> Runtime:
    """The onnxruntime of this environment, on the CPU provider."""
    return engine_runtime("onnxruntime")


def reference_evaluator() -> Runtime:
    """ONNX's own reference implementation of the operators (numpy)."""
    return engine_runtime("onnx-reference", label="onnx.reference")


def engine_runtime(
    name: str,
    convert: Callable[[Path, Path], None] | None = None,
    label: str | None = None,
    variants: tuple[str, ...] | None = None,
) -> Runtime:
    """A ``ganport.infer.engines`` engine in this process. ``convert`` (ONNX file, file to
    write) first turns each export into the engine's own format (.tflite, .ort), as
    ``ganport export --target`` does; a failed conversion is the cell's result. Unless
    ``label`` names it, the runtime's name says what the engine computes in where that is
    not float32, e.g. "openvino (bf16)": its cells are written down under that name."""
    from ganport.core.runtimes import ENGINE_SUFFIXES
    from ganport.infer.engines import get_engine

    engine = get_engine(name)

    def run_many(jobs: list[tuple[Path, np.ndarray]]) -> tuple[list, list[str]]:
        outputs, errors, loaded = [], [], {}
        with tempfile.TemporaryDirectory(prefix="ganport-compat-") as tmp:
            for path, x in jobs:
                try:
                    if path not in loaded:
                        loaded[path] = _load_on(engine, path, convert, Path(tmp), ENGINE_SUFFIXES)
                    model = loaded[path]
                    outputs.append(np.asarray(model.run({model.input_names[0]: x})[0]))
                    errors.append("")
                except Exception as exc:  # a conversion, load or run failure is the result
                    loaded.setdefault(path, _Failed(exc))
                    outputs.append(None)
                    errors.append(first_line(exc))
        return outputs, errors

    if label is None and engine.compute and engine.compute != "f32":
        label = f"{name} ({engine.compute})"
    name = label or name
    return Runtime(name, engine.version, run_many, variants)


# Matrix runtimes that are engines of ganport.infer.engines: name → (engine, the target
# whose conversion it runs first, the variants it takes). "openvino" reads the .onnx at
# OpenVINO's default settings as a user would; "openvino IR" runs what --target writes.
ENGINE_RUNTIMES: dict[str, tuple[str, str | None, tuple[str, ...] | None]] = {
    "openvino": ("openvino", None, None),
    "openvino-f32": ("openvino-f32", None, None),
    "openvino IR": ("openvino", "openvino", None),
    "tract": ("tract", None, None),
    "ort-format": ("ort-format", "ort-mobile", None),
    "litert": ("litert", "litert", (f"static batch {ROWS}",)),
}


def engine_runtime_named(kind: str) -> Runtime:
    """One of ``ENGINE_RUNTIMES``; an InputError says what is missing here."""
    from ganport.export.targets import get_target

    engine, target, variants = ENGINE_RUNTIMES[kind]
    if target == "litert":
        from ganport.export.targets.litert import onnx2tf_command

        onnx2tf_command()  # the converter must be here before any cell runs
    convert = get_target(target).convert if target else None
    return engine_runtime(engine, convert, kind if kind != engine else None, variants)


class _Failed:
    """A model that did not convert or load: every run raises the first failure again."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.input_names = ["x"]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        raise self.exc


def _load_on(engine: Any, path: Path, convert: Any, work: Path, suffixes: dict) -> Any:
    if convert is None:
        return engine.load(path)
    file = work / f"{len(list(work.iterdir()))}-{path.stem}{suffixes[engine.name]}"
    convert(path, file)
    return engine.load(file)


def external_runtime(
    name: str, command: Sequence[str], env: dict[str, str] | None = None
) -> Runtime:
    """A runtime in another process: ``command`` + JOBS.json runs one of the runners."""

    def run_many(jobs: list[tuple[Path, np.ndarray]]) -> tuple[list, list[str]]:
        with tempfile.TemporaryDirectory(prefix="ganport-compat-") as tmp:
            folder = Path(tmp)
            spec = []
            for i, (path, x) in enumerate(jobs):
                np.save(folder / f"in{i}.npy", np.ascontiguousarray(x, np.float32))
                spec.append(
                    {
                        "model": str(path),
                        "input": str(folder / f"in{i}.npy"),
                        "output": str(folder / f"out{i}.npy"),
                    }
                )
            (folder / "jobs.json").write_text(json.dumps(spec))
            answer = _call([*command, str(folder / "jobs.json")], env)
            errors = [answer["errors"].get(job["output"], "") for job in spec]
            outputs = [
                None if error else np.load(job["output"])
                for job, error in zip(spec, errors, strict=True)
            ]
        return outputs, errors

    version = _call([*command, _empty_jobs()], env)["version"]
    return Runtime(name, version, run_many)


def python_runtime(python: str | Path) -> Runtime:
    """onnxruntime in another Python environment (e.g. an older release in its own venv)."""
    return external_runtime("onnxruntime", [str(python), str(RUNNERS / "run_models.py")])


def node_runtime(node_modules: str | Path) -> Runtime:
    """onnxruntime-node, installed with npm into ``node_modules``."""
    node = shutil.which("node")
    if node is None:
        raise InputError("onnxruntime-node needs node on PATH")
    if not (Path(node_modules) / "onnxruntime-node").is_dir():
        raise InputError(
            f"{node_modules}: no onnxruntime-node here (npm install onnxruntime-node, with "
            "ONNXRUNTIME_NODE_INSTALL=skip)"
        )
    env = {"NODE_PATH": str(Path(node_modules).resolve())}
    return external_runtime("onnxruntime-node", [node, str(RUNNERS / "run_models.cjs")], env)


def export_variants(checkpoint: Path, work: Path) -> dict[str, Path]:
    """Each variant of the checkpoint's G and D exported (and checked) into its own folder."""
    from ganport.export import ExportOptions, export_checkpoint

    folders = {}
    for variant, settings in VARIANTS.items():
        folder = work / variant.replace(" ", "-")
        export_checkpoint(checkpoint, folder, options=ExportOptions(**settings))
        folders[variant] = folder
    return folders


def run_matrix(
    checkpoints: dict[str, Path],
    runtimes: Sequence[Runtime],
    work: Path,
    exported: dict[str, dict[str, Path]] | None = None,
) -> Matrix:
    """Every variant of every checkpoint's G and D on every runtime, against torch.

    ``exported`` gives folders already made by ``export_variants`` (per checkpoint name,
    per variant); the others are exported into ``work``.
    """
    from ganport.export import variant_name
    from ganport.train import load_checkpoint

    matrix = Matrix()
    for family, checkpoint in checkpoints.items():
        ckpt = load_checkpoint(checkpoint)
        cases, neighbours = _cases(ckpt)
        folders = (exported or {}).get(family) or export_variants(checkpoint, work / family)
        jobs: list[tuple[str, str, str, Path, np.ndarray, np.ndarray]] = []
        for variant, folder in folders.items():
            settings = VARIANTS[variant]
            for role in ("generator", "discriminator"):
                name = variant_name(
                    role,
                    settings.get("fp16", False),
                    settings.get("static_batch"),
                    settings.get("int8", False),
                )
                path = folder / name
                for inputs, (x, want) in cases[role].items():
                    jobs.append((variant, role, inputs, path, x, want))
        for runtime in runtimes:
            mine = [job for job in jobs if runtime.variants is None or job[0] in runtime.variants]
            outputs, errors = runtime.run_many([(job[3], job[4]) for job in mine])
            for (variant, role, inputs, _, _, want), got, error in zip(
                mine, outputs, errors, strict=True
            ):
                precision = next((p for p in ("fp16", "int8") if VARIANTS[variant].get(p)), "fp32")
                tol = profile_for(precision, "CPUExecutionProvider")
                cell = Cell(
                    runtime.name,
                    runtime.version,
                    family,
                    role,
                    variant,
                    inputs,
                    passed=False,
                    profile=tol.name,
                    error=error or None,
                )
                if got is not None:
                    got = np.asarray(got, np.float32)
                    result = compare(got, want, tol)
                    cell.passed, cell.max_abs = result.passed, result.max_abs
                    if inputs in neighbours and got.shape == want.shape:
                        cell.class_agreement = _class_agreement(got, want, neighbours[inputs])
                        cell.passed = cell.passed and cell.class_agreement == 1.0
                matrix.cells.append(cell)
    return matrix


def _class_agreement(got: np.ndarray, want: np.ndarray, neighbour: np.ndarray) -> float:
    """The share of rows nearer torch's image of their class than of the neighbouring
    class: judged by class, so a loose tolerance (int8) cannot hide a row that flipped."""
    axes = tuple(range(1, got.ndim))
    near = np.abs(got - want).max(axis=axes) < np.abs(got - neighbour).max(axis=axes)
    return float(near.mean())


def _across_the_edge(z: np.ndarray, classes: int, shares: Any) -> np.ndarray:
    """``z`` with each row's z[:, 0] moved just across its nearest class edge: the same
    latent drawing the neighbouring class."""
    edges = class_edges(classes, shares)
    first = z[:, 0]
    nearest = edges[np.abs(first[:, None] - edges[None, :]).argmin(axis=1)]
    moved = np.where(first > nearest, nearest, np.nextafter(nearest, np.float32(np.inf)))
    z = z.copy()
    z[:, 0] = moved
    return z


def _cases(ckpt: Any) -> tuple[dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], dict]:
    """Per role, the named inputs and torch's outputs for them; and, for the class-edge
    latents, torch's images of the neighbouring class (``_across_the_edge``)."""
    import torch

    from ganport.infer.compare.parity import real_images

    model = ckpt.config.model
    generator, discriminator = ckpt.generator(), ckpt.discriminator()
    z = latent(ROWS, model.nz, seed=0)
    g_inputs = {"z": z}
    if model.classes:
        z_edges = latent(ROWS, model.nz, seed=1)
        g_inputs["z at class edges"] = edge_latent(z_edges, model.classes, model.class_shares)
    real = real_images(ckpt, ROWS)
    with torch.no_grad():
        images = generator(torch.from_numpy(z)).numpy() if real is None else real[:ROWS]
        neighbours = {
            name: generator(
                torch.from_numpy(_across_the_edge(x, model.classes, model.class_shares))
            ).numpy()
            for name, x in g_inputs.items()
            if name == "z at class edges"
        }
        cases = {
            "generator": {
                k: (x, generator(torch.from_numpy(x)).numpy()) for k, x in g_inputs.items()
            },
            "discriminator": {
                "real images" if real is not None else "generated images": (
                    images,
                    discriminator(torch.from_numpy(images)).numpy(),
                )
            },
        }
    return cases, neighbours


def _page(matrix: Matrix, command: str) -> str:
    """The docs page of one run: what ran, how to run it again, and the summary table."""
    return (
        "# Runtime matrix\n\n"
        "Every export variant on every runtime, against torch: the summary of one run of\n"
        "the compatibility matrix ([Runtimes and portability](runtimes.md#the-compatibility-"
        "matrix) says what it runs and how a cell is judged). Written by:\n\n"
        f"```bash\n{command}\n```\n\n"
        '"exact" counts the cells within their precision\'s tolerance of torch; the last\n'
        "column quotes the first cell that is not, in the runtime's own words. Each such\n"
        "cell is written down as expected, so CI fails when one changes.\n\n" + matrix.markdown()
    )


def _aligned(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _call(command: list[str], env: dict[str, str] | None) -> dict[str, Any]:
    import os

    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
        )
    except OSError as exc:
        raise InputError(f"{command[0]}: cannot run it ({exc.strerror or exc})") from exc
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no message"]
        reason = next((line for line in lines if "Error" in line), lines[-1]).strip()
        raise InputError(f"{command[0]} could not run the models: {reason}")
    lines = result.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        raise InputError(f"{command[0]} did not answer as a ganport runner does") from None


def _empty_jobs() -> str:
    path = Path(tempfile.gettempdir()) / "ganport-compat-empty.json"
    path.write_text("[]")
    return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """The script: print the matrix; exit 1 on a failing cell, 2 on bad input (one line)."""
    try:
        return _main(argv)
    except GanportError as exc:
        print(f"ganport compat: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.exit_code


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, metavar="CHECKPOINT")
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        type=Path,
        help="Another Python with onnxruntime (repeatable).",
    )
    parser.add_argument(
        "--node", type=Path, default=None, help="A node_modules folder holding onnxruntime-node."
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="Skip onnx.reference (slow on large models)."
    )
    parser.add_argument(
        "--runtime",
        action="append",
        default=[],
        choices=list(ENGINE_RUNTIMES),
        help="Another runtime installed here (repeatable).",
    )
    parser.add_argument("--work", type=Path, default=None, help="Where the exports go.")
    parser.add_argument("--json", type=Path, default=None, help="Write the matrix as JSON.")
    parser.add_argument(
        "--markdown", type=Path, default=None, help="Write the summary as a Markdown table."
    )
    args = parser.parse_args(argv)
    runtimes = [current_onnxruntime(), *(python_runtime(p) for p in args.python)]
    runtimes += [engine_runtime_named(name) for name in args.runtime]
    if args.node:
        runtimes.append(node_runtime(args.node))
    if not args.no_reference:
        runtimes.append(reference_evaluator())
    names = [
        path.stem if path.stem != "checkpoint" else path.parent.name for path in args.checkpoints
    ]
    if len(set(names)) < len(names):
        names = [f"{i}:{name}" for i, name in enumerate(names)]
    checkpoints = dict(zip(names, args.checkpoints, strict=True))
    with tempfile.TemporaryDirectory(prefix="ganport-compat-") as tmp:
        matrix = run_matrix(checkpoints, runtimes, args.work or Path(tmp))
    print(matrix.table())
    print()
    print(matrix.summary())
    if args.json:
        write_json(args.json, matrix.to_dict())
    if args.markdown:
        command = shlex.join(
            ["python", "-m", "ganport.infer.compare.compat", *(argv or sys.argv[1:])]
        )
        write_bytes(args.markdown, _page(matrix, command).encode())
    for line in matrix.surprises():
        print(f"UNEXPECTED {line}")
    return 0 if matrix.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
