"""The runtime half runs where torch (and onnx) cannot be imported, as an embedded user has it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

# Runs in a fresh interpreter: None in sys.modules makes `import torch` raise ImportError.
SCRIPT = """
import json, sys
for name in ("torch", "onnx", "onnxscript"):
    sys.modules[name] = None
try:
    import torch
except ImportError:
    pass
else:
    raise AssertionError("torch should not be importable here")

import numpy as np
import ganport.infer as infer
from ganport.cli import main

folder, out = sys.argv[1], sys.argv[2]
g = infer.Generator(f"{folder}/generator.onnx", provider="cpu")
images = g.sample(8, seed=1, batch_size=3)
d = infer.Discriminator(f"{folder}/discriminator.onnx", provider="cpu")
logits = d.score(images)
codes = []
for args in (
    ["sample", "--help"],
    ["score", "--help"],
    ["sample", f"{folder}/generator.onnx", "-n", "8", "--seed", "1", "--provider", "cpu",
     "--npy", f"{out}/s.npy", "--out", f"{out}/s.png"],
    ["score", f"{folder}/discriminator.onnx", f"{out}/s.npy", "--provider", "cpu",
     "--json", f"{out}/r.json"],
):
    try:
        main(args)
    except SystemExit as exit_:
        codes.append(exit_.code)
training_side = ("torch", "onnx", "ganport.train", "ganport.export", "ganport.infer.compare")
leaked = sorted(m for m in training_side if sys.modules.get(m))
print(json.dumps({"provider": g.provider, "logits": logits.tolist(), "codes": codes,
                  "same": bool(np.array_equal(np.load(f"{out}/s.npy"), images)),
                  "leaked": leaked}))
"""


def test_sampling_and_scoring_run_without_torch(dcgan28_export: Path, tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(dcgan28_export), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["codes"] == [0, 0, 0, 0]
    assert report["same"], "the CLI's array must equal the API's samples"
    assert report["leaked"] == [], f"runtime half imported {report['leaked']}"
    assert len(report["logits"]) == 8
    scored = json.loads((tmp_path / "r.json").read_text())
    cli_logits = [s["logit"] for s in scored["scores"]]
    np.testing.assert_allclose(cli_logits, report["logits"], rtol=1e-6, atol=1e-7)
    assert (tmp_path / "s.png").stat().st_size > 0
