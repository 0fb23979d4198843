"""Every command, fed the mistakes users make: one line on stderr, exit 2 or 1, no traceback,
and nothing that was there before is touched."""

import pytest

from tests.conftest import run_ganport as ganport


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, mlp28_export):
    root = tmp_path_factory.mktemp("bad")
    files = {
        "missing": root / "missing.onnx",
        "folder": root,
        "text": root / "notes.txt",
        "truncated_onnx": root / "truncated.onnx",
        "garbage_pt": root / "garbage.pt",
        "empty_png": root / "empty.png",
    }
    files["text"].write_text("hello")
    files["truncated_onnx"].write_bytes((mlp28_export / "generator.onnx").read_bytes()[:3000])
    files["garbage_pt"].write_bytes(b"PK\x03\x04 not really a zip" * 10)
    files["empty_png"].write_bytes(b"")
    return files


CASES = [
    ("sample-missing", ["sample", "{missing}"], 2, "does not exist"),
    ("sample-folder", ["sample", "{folder}"], 2, "is a directory"),
    ("sample-text", ["sample", "{text}"], 2, "not a loadable ONNX model"),
    ("sample-truncated", ["sample", "{truncated_onnx}"], 2, "not a loadable ONNX model"),
    ("sample-bad-n", ["sample", "{G}", "-n", "0"], 2, "-n"),
    ("sample-discriminator", ["sample", "{D}"], 2, "not a generator"),
    ("score-generator", ["score", "{G}", "{empty_png}"], 2, "not a discriminator"),
    ("score-empty-png", ["score", "{D}", "{empty_png}"], 2, "empty.png"),
    ("score-text", ["score", "{D}", "{text}"], 2, "notes.txt"),
    ("export-garbage", ["export", "{garbage_pt}"], 2, "not a readable checkpoint"),
    ("export-onnx-as-ckpt", ["export", "{G}"], 2, "not a readable checkpoint"),
    ("export-bad-which", ["export", "{ckpt}", "--which", "both2"], 2, "--which"),
    ("parity-garbage", ["parity", "{garbage_pt}", "{G}"], 2, "not a readable checkpoint"),
    ("parity-truncated", ["parity", "{ckpt}", "{truncated_onnx}"], 2, "not a loadable ONNX"),
    ("parity-provider", ["parity", "{ckpt}", "{G}", "--provider", "tpu"], 2, "--provider"),
    ("train-bad-data", ["train", "--data", "{text}", "--out", "{out}"], 2, "unsupported data"),
    ("train-bad-lr", ["train", "--lr", "-1", "--out", "{out}"], 2, "--lr"),
    ("train-bad-mode-seeking", ["train", "--mode-seeking", "-1", "--out", "{out}"], 2, "--mode"),
    ("train-bad-ema", ["train", "--ema-decay", "1", "--out", "{out}"], 2, "--ema-decay"),
    ("pipeline-bad-data", ["pipeline", "--data", "{missing}", "--out", "{out}"], 2, "neither"),
    ("unknown-command", ["frobnicate"], 2, "No such command"),
]


@pytest.mark.parametrize(
    ("args", "code", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_user_errors_end_in_one_clear_line(
    args, code, message, bad_files, mlp28_export, mlp28_checkpoint, tmp_path
):
    names = {k: str(v) for k, v in bad_files.items()}
    names |= {
        "G": mlp28_export / "generator.onnx",
        "D": mlp28_export / "discriminator.onnx",
        "ckpt": mlp28_checkpoint,
        "out": tmp_path / "out",
    }
    before = {p: p.read_bytes() for p in mlp28_export.iterdir()}
    proc = ganport(*[a.format(**names) for a in args])
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert {p: p.read_bytes() for p in mlp28_export.iterdir()} == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
