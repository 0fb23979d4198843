"""The compatibility matrix on real runtimes: older onnxruntime releases in their own venvs,
onnxruntime-node, onnx.reference and this environment's onnxruntime.

.ci/run installs the others and names them: GANPORT_COMPAT_PYTHONS (interpreters with an
older onnxruntime, separated by ':') and GANPORT_COMPAT_NODE_MODULES (a node_modules with
onnxruntime-node). A runtime that is not named is skipped, with the reason.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from ganport.infer.compare import compat
from tests.conftest import compat_runtime as _runtime

RUNTIMES = [
    "onnxruntime",
    "onnx.reference",
    "onnxruntime-node",
    "older-0",
    "older-1",
    *compat.ENGINE_RUNTIMES,
]


@pytest.fixture(scope="module")
def matrix_exports(tmp_path_factory, conditional_checkpoints, checkpoints, mlp28_checkpoint):
    """The three model families, each exported in every variant the matrix runs."""
    families = {
        "conditional dcgan28": conditional_checkpoints["dcgan"],
        "dcgan64": checkpoints[("dcgan", 64)],
        "mlp28": mlp28_checkpoint,
    }
    work = tmp_path_factory.mktemp("compat")
    return families, {
        name: compat.export_variants(ckpt, work / name) for name, ckpt in families.items()
    }


@pytest.mark.parametrize("kind", RUNTIMES)
def test_every_variant_loads_and_agrees_with_torch(kind, matrix_exports, tmp_path):
    families, exported = matrix_exports
    runtime = _runtime(kind)
    matrix = compat.run_matrix(families, [runtime], tmp_path, exported=exported)
    assert matrix.passed, "\n".join(matrix.surprises()) + "\n" + matrix.table()
    cells = {(c.model, c.role, c.variant, c.inputs) for c in matrix.cells}
    variants = len(runtime.variants or compat.VARIANTS)
    assert len(cells) == 3 * variants * 2 + variants  # families × variants × roles, + G edges
    edges = [c for c in matrix.cells if c.inputs == "z at class edges"]
    assert {c.variant for c in edges} == set(runtime.variants or compat.VARIANTS)
    assert all(c.class_agreement == 1.0 for c in edges if c.passed)


@pytest.mark.parametrize("kind", ["older-0", "onnxruntime-node"])
def test_a_model_the_runtime_cannot_load_fails_its_cell(kind, matrix_exports, tmp_path):
    """The matrix can fail: the same generator stamped with a newer IR than 1.15 reads."""
    families, exported = matrix_exports
    runtime = _runtime(kind)
    family = "mlp28"
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in Path(exported[family]["default"]).iterdir():
        model = onnx.load(str(file)) if file.suffix == ".onnx" else None
        if model is not None:
            model.ir_version = 11 if runtime.version.startswith("1.1") else 99
            onnx.save(model, str(broken / file.name))
    cells = compat.run_matrix(
        {family: families[family]}, [runtime], tmp_path, exported={family: {"default": broken}}
    ).cells
    assert cells and not any(c.passed for c in cells)
    assert all("IR version" in (c.error or "") or "ir_version" in (c.error or "") for c in cells)


def test_the_script_reports_bad_input_in_one_line(tmp_path, capsys):
    import shutil

    cases = [
        ([str(tmp_path / "missing.pt"), "--no-reference"], "no such checkpoint"),
        (["x.pt", "--python", str(tmp_path / "no-python")], "cannot run it"),
        (["x.pt", "--python", shutil.which("true")], "did not answer as a ganport runner"),
        # Without node on PATH (a machine .ci/run did not set up), that is what is missing.
        (
            ["x.pt", "--node", str(tmp_path)],
            "no onnxruntime-node here" if shutil.which("node") else "needs node on PATH",
        ),
    ]
    for args, message in cases:
        assert compat.main(args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_the_docs_page_shows_what_the_table_writes_down():
    """docs/runtime-matrix.md is a run of the matrix: every row it shows not exact is one
    the expected-outcome table writes down, and every runtime CI runs is on it."""
    from ganport.infer.compare.compat_expected import EXACT, expected_outcome

    page = Path(__file__).parents[2] / "docs" / "runtime-matrix.md"
    rows = [line.split(" | ") for line in page.read_text().splitlines() if line.count("|") > 6]
    shown = {}
    for row in rows[2:]:
        runtime, version, variant, exact = (cell.strip("| ") for cell in row[:4])
        passed, total = map(int, exact.split("/"))
        shown[(runtime, variant)] = passed
        if passed < total:
            outcomes = {
                expected_outcome(runtime, version, model, variant, role, inputs)
                for model in ("conditional dcgan28", "dcgan64", "mlp28")
                for role in ("generator", "discriminator")
                for inputs in ("z", "z at class edges", "real images")
            }
            assert outcomes != {EXACT}, f"{runtime} {variant}: not exact, yet not written down"
    names = {runtime.split(" (")[0] for runtime, _ in shown}
    assert set(compat.ENGINE_RUNTIMES) <= names, names
