"""100,000 samples stream through the API and the CLI in bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from ganport.infer import Generator

N = 100_000

# In a fresh interpreter: load and warm up first, then measure how far the peak resident
# set (and numpy's traced allocations) grows while 100,000 samples stream.
SCRIPT = """
import json, resource, sys, tracemalloc
sys.modules["torch"] = None
import numpy as np
from ganport.infer import Generator
from ganport.cli import main

model, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
g = Generator(model, provider="cpu")
for _ in g.iter_batches(1024, seed=9):
    pass
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
tracemalloc.start()
rows, checksum = 0, 0.0
for batch in g.iter_batches(n, seed=0):
    rows += len(batch)
    checksum += float(batch.sum(dtype=np.float64))
api_traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
api_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
try:
    main(["sample", model, "-n", str(n), "--provider", "cpu", "--npy", f"{out}/all.npy",
          "--out", f"{out}/grid.png"])
except SystemExit as exit_:
    code = exit_.code
cli_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
print(json.dumps({"rows": rows, "checksum": checksum, "api_traced": api_traced,
                  "api_rss": api_rss, "cli_rss": cli_rss, "code": code}))
"""


def test_100k_samples_stream_with_bounded_memory(mlp28_export: Path, tmp_path: Path):
    model = mlp28_export / "generator.onnx"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(model), str(tmp_path), str(N)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    g = Generator(model, provider="cpu")
    full_array = N * int(np.prod(g.image_shape)) * 4  # what materialising them would take
    assert report["rows"] == N and report["code"] == 0
    assert report["api_traced"] < full_array / 50, report
    assert report["api_rss"] < full_array / 10, report
    assert report["cli_rss"] < full_array / 10, report

    written = np.load(tmp_path / "all.npy", mmap_mode="r")
    try:
        assert written.shape == (N, *g.image_shape) and written.dtype == np.float32
        assert np.array_equal(written[:10], g.sample(10))
        assert np.array_equal(written[-3:], list(g.iter_batches(N, batch_size=N // 4))[-1][-3:])
        np.testing.assert_allclose(written.sum(dtype=np.float64), report["checksum"], rtol=1e-9)
    finally:
        del written
        (tmp_path / "all.npy").unlink()
    assert (tmp_path / "grid.png").is_file()
