"""Checkpoints (``ganport export``) and export folders' manifest.json (``ganport web``,
``ganport parity``, ``ganport bench``) of any content."""

from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.property.helpers import ganport

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@given(
    how=st.sampled_from(["random", "truncate", "drop", "replace", "plain"]),
    data=st.binary(max_size=200),
    where=st.floats(0, 1, exclude_max=True),
    key=st.sampled_from(["format", "format_version", "config", "generator", "step", "x"]),
    value=JSONISH,
)
def test_export_reads_any_checkpoint(
    capsys, tmp_path, mlp28_checkpoint, how, data, where, key, value
):
    import torch

    ckpt = tmp_path / "checkpoint.pt"
    out = tmp_path / "export"
    seed = mlp28_checkpoint.read_bytes()
    if how == "random":
        ckpt.write_bytes(data)
    elif how == "truncate":
        ckpt.write_bytes(seed[: int(len(seed) * where)])
    elif how == "plain":
        torch.save(value, ckpt)
    else:
        state = torch.load(mlp28_checkpoint, weights_only=True)
        if how == "drop":
            state.pop(key, None)
        else:
            state[key] = value
        torch.save(state, ckpt)
    ganport(capsys, "export", ckpt, "--out", out, names=(str(ckpt),))


@pytest.fixture(scope="module")
def fake_ort_web(tmp_path_factory):
    package = tmp_path_factory.mktemp("onnxruntime-web")
    (package / "dist").mkdir()
    for name in (
        "ort.min.mjs",
        "ort-wasm-simd-threaded.jsep.mjs",
        "ort-wasm-simd-threaded.jsep.wasm",
    ):
        (package / "dist" / name).write_text("// stand-in")
    (package / "package.json").write_text('{"version": "1.0.0"}')
    return package


def _mutate(manifest: dict, path: list, value, drop: bool) -> None:
    node = manifest
    for step in path[:-1]:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and node:
            node = node[0]
        else:
            return
    last = path[-1]
    if isinstance(node, list) and node:
        node = node[0]
    if isinstance(node, dict):
        if drop:
            node.pop(last, None)
        else:
            node[last] = value


PATHS = st.sampled_from(
    [
        ["manifest_version"],
        ["source"],
        ["source", "checkpoint"],
        ["source", "config"],
        ["source", "models"],
        ["models"],
        ["models", "file"],
        ["models", "sha256"],
        ["models", "role"],
        ["models", "static_batch"],
        ["weights"],
    ]
)


@given(path=PATHS, value=JSONISH, drop=st.booleans(), raw=st.none() | st.binary(max_size=40))
def test_web_reads_any_manifest(
    capsys, tmp_path, mlp28_export, fake_ort_web, path, value, drop, raw
):
    folder = tmp_path / "export"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(mlp28_export, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    _mutate(manifest, path, value, drop)
    if raw is not None:
        (folder / "manifest.json").write_bytes(raw)
    else:
        (folder / "manifest.json").write_text(json.dumps(manifest))
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "site.json").write_text("{}")  # an earlier site: replaced only on success
    ganport(
        capsys,
        "web",
        folder,
        "--out",
        site,
        "--onnxruntime-web",
        fake_ort_web,
        outputs=(site,),
        names=("manifest.json", str(folder)),
    )


@given(path=PATHS, value=JSONISH, drop=st.booleans())
def test_parity_and_bench_read_any_manifest(capsys, tmp_path, mlp28_export, path, value, drop):
    folder = tmp_path / "export"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(mlp28_export, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    _mutate(manifest, path, value, drop)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    report = tmp_path / "report.json"
    report.write_text("old")
    ganport(
        capsys,
        "parity",
        folder,
        "--samples",
        0,
        "--distribution-samples",
        0,
        "--batch-sizes",
        1,
        "--seeds",
        0,
        "--json",
        report,
        outputs=(report,),
        names=("manifest", str(folder), "checkpoint"),
    )
