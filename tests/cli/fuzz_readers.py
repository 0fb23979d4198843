"""Fuzz driver, run as a subprocess by test_fuzz.py so a crash or hang cannot hide.

Feeds every file reader random bytes, truncations and bit flips of real files, and
prints one JSON line: how many inputs each reader saw, and any exception that was not
a ganport error (there must be none).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from ganport.core.errors import GanportError
from ganport.core.images import read_array, read_idx, read_image_file


def load_onnx(path):
    from ganport.infer import Generator

    return Generator(path, provider="cpu").sample(2)


def load_ckpt(path):
    from ganport.train import load_checkpoint

    return load_checkpoint(path).generator()


READERS = {
    "checkpoint": (load_ckpt, ".pt"),
    "onnx": (load_onnx, ".onnx"),
    "idx": (read_idx, ""),
    "image": (lambda p: read_image_file(p, 1), ".png"),
    "npy": (read_array, ".npy"),
}


def variants(seed_bytes, rng, count):
    yield b""
    for _ in range(count):
        choice = rng.integers(4)
        if choice == 0 or not seed_bytes:
            yield rng.bytes(int(rng.integers(1, 4096)))
        elif choice == 1:
            yield seed_bytes[: int(rng.integers(0, len(seed_bytes)))]
        elif choice == 2:
            data = bytearray(seed_bytes)
            for _ in range(int(rng.integers(1, 16))):
                data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
            yield bytes(data)
        else:
            cut = int(rng.integers(len(seed_bytes)))
            yield seed_bytes[:cut] + rng.bytes(int(rng.integers(1, 256)))


def main(workdir, seeds, count, budget_s):
    rng = np.random.default_rng(0)
    report = {}
    deadline = time.time() + budget_s
    for name, (reader, suffix) in READERS.items():
        seed = Path(seeds[name]).read_bytes() if name in seeds else b""
        seen, unexpected, accepted = 0, [], 0
        for i, data in enumerate(variants(seed, rng, count)):
            if time.time() > deadline:
                break
            path = Path(workdir) / f"{name}{i}{suffix}"
            path.write_bytes(data)
            try:
                reader(path)
                accepted += 1
            except GanportError as exc:
                assert str(exc).strip(), "empty error message"
            except Exception as exc:  # what the fuzz looks for
                unexpected.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            path.unlink()
            seen += 1
        report[name] = {"inputs": seen, "accepted": accepted, "unexpected": unexpected}
    print(json.dumps(report))


if __name__ == "__main__":
    workdir, seeds_json, count, budget = sys.argv[1:5]
    main(workdir, json.loads(seeds_json), int(count), float(budget))
