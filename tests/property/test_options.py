"""Numeric and path options of the commands that write: any value is used or refused in
one line, never a MemoryError, a hang or a half-written file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.property.helpers import ganport

NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, -1, 2**31, 2**63, 10**30]),
    st.sampled_from(["", "x", "1.5", "nan", "inf", "1e3", "0x10", " 3", "-0"]),
)
TRUNCATION = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["0", "-1", "1e-9", "x"])
)


def _targets(tmp_path, kind):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a folder")
    return {
        "new": tmp_path / "new" / "out",
        "existing": tmp_path / "out",
        "under-a-file": blocker / "out",
        "proc": Path("/proc/ganport-cannot-write-here/out"),
        "folder": tmp_path,
    }[kind]


@given(
    n=NUMBERS,
    seed=NUMBERS,
    batch=st.none() | NUMBERS,
    label=st.none() | NUMBERS,
    truncation=st.none() | TRUNCATION,
    target=st.sampled_from(["new", "existing", "under-a-file", "proc", "folder"]),
    npy=st.booleans(),
    conditional=st.booleans(),
)
def test_sample_options(
    capsys, tmp_path, tiny, n, seed, batch, label, truncation, target, npy, conditional
):
    existing = tmp_path / ("out.npy" if npy else "out.png")
    existing.write_bytes(b"old output")
    out = _targets(tmp_path, target)
    out = out.with_suffix(".npy" if npy else ".png") if target != "folder" else out
    args = ["-n", n, "--seed", seed, "--npy" if npy else "--out", out]
    for flag, value in (("--batch-size", batch), ("--class", label), ("--truncation", truncation)):
        if value is not None:
            args += [flag, value]
    model = tiny["g4" if conditional else "g"]
    code, _, _ = ganport(
        capsys,
        "sample",
        model,
        *args,
        outputs=(existing,),
        names=("-n", "--seed", "--batch-size", "--class", "--truncation", str(out), "class", "n"),
    )
    if code == 0 and npy:
        images = np.load(out)
        assert images.shape == (int(n), 3 if conditional else 1, *images.shape[2:])
        assert np.isfinite(images).all() and np.abs(images).max() <= 1


@given(
    label=st.none() | NUMBERS,
    target=st.sampled_from(["new", "existing", "under-a-file", "proc", "folder"]),
)
def test_score_options(capsys, tmp_path, tiny, label, target):
    images = tmp_path / "images.npy"
    np.save(images, np.zeros((3, 6, 6), np.uint8))
    existing = tmp_path / "out.json"
    existing.write_bytes(b"old report")
    report = _targets(tmp_path, target)
    report = report.with_suffix(".json") if target != "folder" else report
    args = ["--json", report] + ([] if label is None else ["--class", label])
    ganport(
        capsys,
        "score",
        tiny["d1"],
        images,
        *args,
        outputs=(existing,),
        names=("--class", "--json", str(report), "class"),
    )


def test_huge_n_is_refused_or_bounded(capsys, tmp_path, tiny):
    """A grid needs only its first 256 rows; an array the disk cannot hold is refused."""
    grid = tmp_path / "grid.png"
    code, _, err = ganport(capsys, "sample", tiny["g"], "-n", 10**30, "--out", grid)
    assert code == 0 and grid.is_file() and "first 256" in err
    code, _, err = ganport(capsys, "sample", tiny["g"], "-n", 10**30, "--npy", tmp_path / "a.npy")
    assert code == 2 and "--npy" in err and not (tmp_path / "a.npy").exists()


def test_tiny_truncation_is_refused_not_endless(capsys, tmp_path, tiny):
    code, _, err = ganport(
        capsys, "sample", tiny["g"], "--truncation", "1e-9", "--out", tmp_path / "g.png"
    )
    assert code == 2 and "truncation" in err


def test_out_under_a_file_names_the_file(capsys, tmp_path, tiny):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = ganport(capsys, "sample", tiny["g"], "--out", blocker / "g.png")
    assert code == 1 and "is a file, not a folder" in err
