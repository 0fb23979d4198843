"""SIGINT or SIGTERM in the middle of a writing command leaves the old output whole (or
the new one complete): real subprocesses, signalled while their temporary file exists."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.property.helpers import digest


def _signal_mid_write(args, folder: Path, sig, timeout=60.0, staged=None, after=None):
    """Run ``ganport args`` and signal it once its staged output shows in ``folder``: a
    hidden ``.tmp`` file (ganport.core.atomic), or what ``staged`` recognises; or, with
    ``after``, that many seconds in, whichever comes first."""
    staged = staged or (lambda p: p.name.startswith(".") and p.name.endswith(".tmp"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ganport", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    start = time.time()
    deadline = start + (after if after is not None else timeout)
    while time.time() < deadline and proc.poll() is None:
        if any(staged(p) for p in folder.iterdir()):
            break
        time.sleep(0.005)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in err and "internal error" not in err, err
    return proc.returncode, err


SIGNALS = [signal.SIGINT, signal.SIGTERM]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_sample_npy_and_grid(tmp_path, tiny, sig):
    npy, grid = tmp_path / "out.npy", tmp_path / "out.png"
    np.save(npy, np.zeros((2, 1, 6, 6), np.float32))
    grid.write_bytes(b"old grid")
    old = digest(npy), digest(grid)
    code, err = _signal_mid_write(
        ["sample", tiny["g"], "-n", 400_000, "--batch-size", 16, "--npy", npy, "--out", grid],
        tmp_path,
        sig,
    )
    if code == 0:  # finished before the signal: the new files are whole
        assert np.load(npy).shape == (400_000, 1, 6, 6)
    else:
        assert code in (130, -signal.SIGTERM, 143), err
        assert (digest(npy), digest(grid)) == old


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_score_json(tmp_path, tiny, sig):
    images = tmp_path / "images.npy"
    np.save(images, np.zeros((200_000, 6, 6), np.uint8))
    report = tmp_path / "report.json"
    report.write_text('{"old": 1}\n')
    code, err = _signal_mid_write(
        ["score", tiny["d1"], images, "--json", report], tmp_path, sig, timeout=1.0
    )
    if code == 0:
        assert json.loads(report.read_text())["count"] == 200_000
    else:
        assert report.read_text() == '{"old": 1}\n', err


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_export(tmp_path, mlp28_checkpoint, sig):
    from ganport.export import export_checkpoint

    out = tmp_path / "export"
    export_checkpoint(mlp28_checkpoint, out)
    old = {p.name: digest(p) for p in out.iterdir() if p.is_file()}
    _signal_mid_write(["export", mlp28_checkpoint, "--out", out, "--external-data"], out, sig)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "staging left behind"
    for name, value in old.items():
        # each file is the old one or a new complete one (loadable)
        if digest(out / name) != value and name.endswith(".onnx"):
            import onnx

            onnx.checker.check_model(str(out / name))
    assert json.loads((out / "manifest.json").read_text())["models"]


def _foreign(tiny_path: Path, out: Path) -> Path:
    """A ganport model with its metadata taken out: an ONNX file exported elsewhere."""
    import onnx

    model = onnx.load(str(tiny_path))
    del model.metadata_props[:]
    onnx.save(model, str(out))
    return out


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_tag(tmp_path, tiny, sig):
    source = _foreign(tiny["g"], tmp_path / "theirs.onnx")
    out = tmp_path / "tagged"
    out.mkdir()
    (out / "generator.onnx").write_bytes(b"old")
    (out / "manifest.json").write_text('{"old": 1}\n')
    code, err = _signal_mid_write(["tag", source, "--out", out, "--nz", 4], out, sig)
    if code == 0:  # finished first: the new folder is whole and usable
        from ganport.infer import Generator

        assert Generator(out / "generator.onnx").sample(2).shape == (2, 1, 6, 6)
        assert json.loads((out / "manifest.json").read_text())["models"]
    else:
        assert (out / "generator.onnx").read_bytes() == b"old", err
        assert (out / "manifest.json").read_text() == '{"old": 1}\n'


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_web(tmp_path, mlp28_export, sig):
    default = Path(__file__).parents[2] / ".web" / "node_modules" / "onnxruntime-web"
    ort_web = Path(os.environ.get("GANPORT_ONNXRUNTIME_WEB", default))
    if not (ort_web / "dist").is_dir():
        pytest.skip(f"no onnxruntime-web at {ort_web} (.ci/run installs it)")
    site = tmp_path / "site"
    argv = ["web", mlp28_export, "--out", site, "--onnxruntime-web", ort_web]
    assert subprocess.run([sys.executable, "-m", "ganport", *map(str, argv)]).returncode == 0
    old = {p.relative_to(site): digest(p) for p in site.rglob("*") if p.is_file()}
    staging = lambda p: p.name.startswith(".site.")  # noqa: E731  (web's staged folder)
    code, err = _signal_mid_write(argv, tmp_path, sig, staged=staging)
    new = {p.relative_to(site): digest(p) for p in site.rglob("*") if p.is_file()}
    assert new == old, err  # the same export: a whole new site is the old one, byte for byte
    assert code in (0, 130, 143, -signal.SIGTERM), err
    assert not [p for p in tmp_path.iterdir() if staging(p)], "a staged site was left behind"


def _reports_whole(reports: dict[Path, str], code: int, err: str, valid) -> None:
    """Each report is the old text (interrupted) or a complete new one (``valid`` reads it),
    and nothing staged is left beside it."""
    for path, old in reports.items():
        text = path.read_text()
        if text != old:  # replaced: by a whole new report, even when a later write was cut
            valid(path)
        leftovers = [p for p in path.parent.iterdir() if p.name.startswith(".")]
        assert not leftovers, leftovers
    # 130/143: ganport's own handling; -2/-15: the signal came before Python could handle it
    # (still starting up), which leaves nothing written either
    assert code in (0, 130, 143, -signal.SIGINT, -signal.SIGTERM), err


# Ctrl-C while the comparison runs, and SIGTERM as the reports are written.
EARLY_AND_AT_WRITE = [(signal.SIGINT, 1.5), (signal.SIGTERM, None)]


@pytest.mark.parametrize(("sig", "after"), EARLY_AND_AT_WRITE, ids=["SIGINT-early", "SIGTERM"])
def test_parity_json_and_junit(tmp_path, mlp28_checkpoint, mlp28_export, sig, after):
    import xml.etree.ElementTree as ET

    reports = {tmp_path / "parity.json": '{"old": 1}\n', tmp_path / "parity.xml": "<old/>\n"}
    for path, old in reports.items():
        path.write_text(old)
    args = ["parity", mlp28_checkpoint, mlp28_export, "--samples", "0", "--seeds", "0"]
    args += ["--json", tmp_path / "parity.json", "--junit", tmp_path / "parity.xml"]
    code, err = _signal_mid_write(args, tmp_path, sig, after=after)

    def valid(path: Path) -> None:
        if path.suffix == ".json":
            assert json.loads(path.read_text())["passed"] is True
        else:
            assert ET.parse(path).getroot().tag in ("testsuites", "testsuite")

    _reports_whole(reports, code, err, valid)


@pytest.mark.parametrize(("sig", "after"), EARLY_AND_AT_WRITE, ids=["SIGINT-early", "SIGTERM"])
def test_bench_json(tmp_path, mlp28_export, sig, after):
    report = tmp_path / "bench.json"
    report.write_text('{"old": 1}\n')
    args = ["bench", mlp28_export / "generator.onnx", "--batch-sizes", "1,8", "--no-compile"]
    args += ["--seconds", "0.05", "--rounds", "1", "--matmul-size", "64", "--json", report]
    code, err = _signal_mid_write(args, tmp_path, sig, after=after)
    _reports_whole({report: '{"old": 1}\n'}, code, err, lambda p: json.loads(p.read_text()))


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_evaluate_json(tmp_path, mlp28_export, mnist5k_feature_net, tmp_path_factory, sig):
    report = tmp_path / "evaluate.json"
    report.write_text('{"old": 1}\n')
    cache = tmp_path_factory.getbasetemp() / "feature_nets"  # where the fixture trained it
    args = ["evaluate", mlp28_export / "generator.onnx", "-n", "200", "--cache-dir", cache]
    code, err = _signal_mid_write([*args, "--json", report], tmp_path, sig)

    def valid(path: Path) -> None:
        assert json.loads(path.read_text())["n"] == 200

    _reports_whole({report: '{"old": 1}\n'}, code, err, valid)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_plot_png(tmp_path, mlp28_checkpoint, sig):
    from PIL import Image

    out = tmp_path / "curves.png"
    out.write_text("old")
    code, err = _signal_mid_write(["plot", mlp28_checkpoint.parent, "--out", out], tmp_path, sig)

    def valid(path: Path) -> None:
        assert Image.open(path).size[0] > 100

    _reports_whole({out: "old"}, code, err, valid)
