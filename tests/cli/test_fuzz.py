"""Random, truncated and bit-flipped files never crash, hang or traceback a reader."""

import gzip
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def test_file_readers_survive_fuzzing(tmp_path, dcgan28_checkpoint, mlp28_export):
    idx = tmp_path / "seed-idx"
    pixels = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    idx.write_bytes(gzip.compress(struct.pack(">IIII", 2051, 3, 28, 28) + pixels.tobytes()))
    png = tmp_path / "seed.png"
    Image.fromarray(pixels[0]).save(png)
    npy = tmp_path / "seed.npy"
    np.save(npy, pixels)
    seeds = {
        "checkpoint": str(dcgan28_checkpoint),
        "onnx": str(mlp28_export / "generator.onnx"),
        "idx": str(idx),
        "image": str(png),
        "npy": str(npy),
    }
    work = tmp_path / "work"
    work.mkdir()
    driver = Path(__file__).with_name("fuzz_readers.py")
    proc = subprocess.run(
        [sys.executable, str(driver), str(work), json.dumps(seeds), "60", "90"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]  # no crash, no hang
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, found in report.items():
        assert found["inputs"] > 10, name
        assert found["unexpected"] == [], (name, found["unexpected"][:5])
