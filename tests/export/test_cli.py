import json

from tests.conftest import run_ganport as ganport


def test_export_command_writes_checked_models(tmp_path, dcgan28_checkpoint):
    proc = ganport("export", dcgan28_checkpoint, "--out", tmp_path, "--exporter", "torchscript")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [m["file"] for m in manifest["models"]] == ["generator.onnx", "discriminator.onnx"]
    assert "checked at batch 1,2,7,64" in proc.stdout


def test_export_errors_are_one_line(tmp_path, dcgan28_checkpoint):
    corrupt = tmp_path / "c.pt"
    corrupt.write_bytes(dcgan28_checkpoint.read_bytes()[:-100])
    cases = [
        (["export", tmp_path / "missing.pt"], 2, "does not exist"),
        (["export", corrupt, "--out", tmp_path / "o"], 2, "not a readable checkpoint"),
        (["export", dcgan28_checkpoint, "--opset", "9"], 2, "--opset"),
        # A file where the output folder should be: nothing can be written there.
        (["export", dcgan28_checkpoint, "--out", corrupt / "sub"], 1, "cannot write"),
        (["export", dcgan28_checkpoint, "--out", corrupt], 2, "is a file"),
        # An export the chosen older runtime could not load is refused before any work.
        (
            [
                "export",
                dcgan28_checkpoint,
                "--opset",
                "19",
                "--oldest-onnxruntime",
                "1.15",
                "--out",
                tmp_path / "o",
            ],
            2,
            "onnxruntime 1.15 implements opsets up to 18",
        ),
        (["export", dcgan28_checkpoint, "--oldest-onnxruntime", "1.9"], 2, "older than any"),
        (["export", dcgan28_checkpoint, "--oldest-onnxruntime", "new"], 2, "is not an onnxruntime"),
    ]
    for args, code, message in cases:
        proc = ganport(*args)
        assert proc.returncode == code, (args, proc.stderr)
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
    assert corrupt.read_bytes() == dcgan28_checkpoint.read_bytes()[:-100]


def test_each_release_reads_the_ir_version_its_newest_opset_needs():
    """Why the opset alone decides what an older onnxruntime loads: ganport's exports carry
    the lowest IR their opset needs, within each release's measured IR limit."""
    import onnx

    from ganport.export.runtimes import LIMITS, ir_version_for

    for max_ir, max_opset in LIMITS.values():
        for opset in range(13, max_opset + 1):
            assert ir_version_for([onnx.helper.make_opsetid("", opset)]) <= max_ir
