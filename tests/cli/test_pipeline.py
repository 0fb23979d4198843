"""The README's main command, end to end, on a small real run."""

import json

from PIL import Image

from tests.conftest import run_ganport as ganport


def test_pipeline_trains_exports_samples_and_checks_parity(tmp_path):
    out = tmp_path / "run"
    proc = ganport(
        "pipeline",
        "--arch",
        "mlp",
        "--data",
        "digits",
        "--image-size",
        "16",
        "--epochs",
        "1",
        "--tensorboard",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bars in a pipe
    for line in ("conditional on 10 classes", "checkpoint", "onnx grid", "parity       PASS"):
        assert line in proc.stdout
    assert f"curves       {out / 'curves.png'}" in proc.stdout
    with Image.open(out / "curves.png") as curves:
        assert curves.format == "PNG"
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 1
    manifest = json.loads((out / "onnx" / "manifest.json").read_text())
    assert {m["file"] for m in manifest["models"]} == {"generator.onnx", "discriminator.onnx"}
    with Image.open(out / "samples_onnx.png") as grid:
        assert grid.size == (2 + 8 * 18, 2 + 8 * 18)
    report = json.loads((out / "parity.json").read_text())
    # 4 batch sizes × 3 seeds × (G: z, z at class edges; D: real, generated)
    assert report["passed"] and len(report["cases"]) == 48
    assert (out / "parity.xml").read_text().startswith("<?xml")
