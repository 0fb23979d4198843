"""Training in several processes (gloo on the CPU, 2 ranks), as torchrun runs it.

What is compared with one process: the DDP arithmetic is checked exactly on models without
batch statistics (two real gloo processes, gradients of the sharded global batch against the
global batch's); whole runs share their data order and noise exactly and their losses within
1%, the difference left by BatchNorm normalising each rank's shard (README).
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ganport.train import ModelConfig, build_discriminator, build_generator, load_checkpoint
from ganport.train.distributed import Distributed
from ganport.train.losses import (
    bce_d_loss,
    bce_g_loss,
    d_class_loss,
    g_class_loss,
    gradient_penalty,
)
from tests.conftest import run_ganport
from tests.train.test_interrupts import TRAIN, steps_logged, wait_for_progress

WORLD = 2
# A conditional pair (with TAC-GAN's twin head) whose D has no BatchNorm; G is run with its
# running statistics.
MODEL = ModelConfig(
    arch="mlp", image_size=8, nz=8, width=4, d_norm="none", classes=10, twin_classifier=True
)


def _losses_and_grads(rank_or_none, images, labels, z, alpha):
    """G and D losses of a global batch (rank None: all of it) and their gradients."""
    d = Distributed() if rank_or_none is None else Distributed(rank_or_none, WORLD)
    torch.manual_seed(0)
    generator = d.wrap(build_generator(MODEL).eval(), torch.device("cpu"), False)
    discriminator = d.wrap(build_discriminator(MODEL), torch.device("cpu"), False)
    real, real_labels, z = d.shard(images), d.shard(labels), d.shard(z)
    fake = generator(z)
    real_heads = discriminator.heads(real)
    fake_heads = discriminator.heads(fake.detach())
    fake_labels = generator.latent_class.index(z)
    d_loss = (
        bce_d_loss(real_heads.logits, fake_heads.logits)
        + d_class_loss(real_heads, fake_heads, real_labels, fake_labels)
        + 10 * gradient_penalty(discriminator, real, fake.detach(), alpha=d.shard(alpha))
    )
    d_loss.backward()
    d_grads = [p.grad.clone() for p in discriminator.parameters()]
    heads = discriminator.heads(fake)
    g_loss = bce_g_loss(heads.logits) + g_class_loss(heads, fake_labels)
    g_loss.backward()
    g_grads = [p.grad.clone() for p in generator.parameters()]
    return d_grads, g_grads


def _batch():
    from ganport.train import load_dataset

    data = load_dataset("digits", MODEL.image_size)
    noise = torch.Generator().manual_seed(1)
    return (
        data.images[:8],
        data.labels[:8],
        torch.randn(8, MODEL.nz, generator=noise),
        torch.rand((8, 1, 1, 1), generator=noise),
    )


def _rank(rank, store_file, out):
    dist.init_process_group("gloo", init_method=f"file://{store_file}", rank=rank, world_size=WORLD)
    try:
        d_grads, g_grads = _losses_and_grads(rank, *_batch())
        me = Distributed(rank, WORLD)
        # Each rank's own k-means could differ in the last bits: rank 0's modes are used.
        modes = me.from_main(torch.tensor([rank, 7]))
        # Rank 1 alone sees a non-finite loss and a SIGTERM: both ranks must learn of both.
        agreed = me.agree([{"loss": [1.0, float("nan")][rank]}], [None, "SIGTERM"][rank])
        record = {"d": d_grads, "g": g_grads, "agreed": agreed, "modes": modes}
        torch.save(record, out / f"rank{rank}.pt")
        # A broadcast's sender may finish before its receiver: tearing gloo down then
        # aborts the process. Both ranks leave together.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_ddp_of_a_sharded_global_batch_gives_the_global_batchs_gradients(tmp_path):
    mp.spawn(_rank, args=(tmp_path / "store", tmp_path), nprocs=WORLD)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    d_ref, g_ref = _losses_and_grads(None, *_batch())
    for got in ranks:
        for key, ref in (("d", d_ref), ("g", g_ref)):
            assert len(got[key]) == len(ref)
            for a, b in zip(got[key], ref, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
        (values,), stop = got["agreed"]
        assert values["loss"] != values["loss"] and stop == "SIGTERM"
        assert got["modes"].tolist() == [0, 7]
    # The comparison can fail: one shard's gradients alone (no averaging) are far off.
    images, labels, z, alpha = _batch()
    alone, _ = _losses_and_grads(None, images[:4], labels[:4], z[:4], alpha[:4])
    assert max((a - b).abs().max().item() for a, b in zip(alone, d_ref, strict=True)) > 1e-3


def _metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _train_in_this_process(out, steps, config):
    """One process, as ``ganport train`` runs it (``resume`` when ``out`` holds a run)."""
    from ganport.train import RunOptions, load_dataset, train

    options = RunOptions(out=out, steps=steps, device="cpu", progress=False)
    data = load_dataset(config.data, config.model.image_size)
    train(config, data, options, resume=(out / "checkpoint.pt").exists())


def test_two_processes_train_what_one_does_and_resume_with_either_count(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    result = run_ganport(*TRAIN, "--steps", 4, "--out", two, "--nproc", WORLD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("checkpoint:") == 1  # rank 0 alone reports
    config = load_checkpoint(two / "checkpoint.pt").config
    _train_in_this_process(one, 4, config)

    # Rank 0's files only, once each: what one process writes, no leftovers, lock released
    # (the command adds curves.png after training).
    files = sorted(str(p.relative_to(two)) for p in two.rglob("*"))
    assert files == ["checkpoint.pt", "curves.png", "metrics.jsonl"]
    assert sorted(str(p.relative_to(one)) for p in one.rglob("*")) == [
        "checkpoint.pt",
        "metrics.jsonl",
    ]
    a, b = _metrics(two), _metrics(one)
    assert [m["step"] for m in a] == [1, 2, 3, 4] and {m["world_size"] for m in a} == {2}
    assert {m["world_size"] for m in b} == {1}
    for x, y in zip(a, b, strict=True):  # per-rank BatchNorm: measured within 0.25%
        assert x["d_loss"] == pytest.approx(y["d_loss"], rel=1e-2)
        assert x["g_loss"] == pytest.approx(y["g_loss"], rel=1e-2)
    ckpt_two = load_checkpoint(two / "checkpoint.pt")
    ckpt_one = load_checkpoint(one / "checkpoint.pt")
    assert ckpt_two.state["world_size"] == 2 and ckpt_one.state["world_size"] == 1
    # Each rank drew the whole global batch's noise: the stream is where one process left it.
    assert torch.equal(ckpt_two.state["rng"]["noise"], ckpt_one.state["rng"]["noise"])

    # 2 → 1 and 1 → 2 processes: each step logged once, with the count that trained it.
    _train_in_this_process(two, 6, config)
    result = run_ganport(*TRAIN, "--steps", 6, "--out", one, "--resume", "--nproc", WORLD)
    assert result.returncode == 0, result.stderr
    assert [(m["step"], m["world_size"]) for m in _metrics(two)] == [
        (1, 2), (2, 2), (3, 2), (4, 2), (5, 1), (6, 1)
    ]  # fmt: skip
    assert [(m["step"], m["world_size"]) for m in _metrics(one)] == [
        (1, 1), (2, 1), (3, 1), (4, 1), (5, 2), (6, 2)
    ]  # fmt: skip
    for x, y in zip(_metrics(two), _metrics(one), strict=True):
        assert x["d_loss"] == pytest.approx(y["d_loss"], rel=1e-2)

    # A checkpoint written by 2 processes is any checkpoint: it exports and passes parity.
    from ganport.export import export_checkpoint

    manifest = export_checkpoint(one / "checkpoint.pt", tmp_path / "onnx", which="generator")
    assert load_checkpoint(one / "checkpoint.pt").state["world_size"] == 2
    (model,) = manifest.models
    assert model.checks["passed"] and len(model.checks["batches"]) >= 2


def _children(pid):
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _start(out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "ganport", *TRAIN, "--out", str(out), *map(str, extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_sigterm_saves_once_and_a_killed_rank_stops_the_job(tmp_path):
    out = tmp_path / "run"
    proc = _start(out, "--steps", 100_000, "--checkpoint-every", 2, "--nproc", WORLD)
    wait_for_progress(out, 3)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 143, stderr
    (line,) = stderr.strip().splitlines()
    assert line == f"stopped by SIGTERM; continue with --resume --out {out}"
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt.step == steps_logged(out)[-1] and ckpt.state["world_size"] == WORLD

    proc = _start(out, "--steps", 100_000, "--checkpoint-every", 2, "--nproc", WORLD, "--resume")
    wait_for_progress(out, ckpt.step + 3)
    workers = _children(proc.pid)
    rank0 = int((out / ".ganport.lock").read_text().split()[0])
    (rank1,) = [pid for pid in workers if pid != rank0]
    os.kill(rank1, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 1
    (line,) = stderr.strip().splitlines()  # one line, no traceback
    assert f"rank 1 (pid {rank1}) was killed by SIGKILL" in line and "is intact" in line
    assert load_checkpoint(out / "checkpoint.pt").step >= ckpt.step  # complete and loadable
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)  # no rank left hanging


def test_two_processes_train_on_rank_0s_modes_at_their_shares(tmp_path):
    """Rank 0 finds the modes before G is built; every rank gets its labels and its G the
    shares that cut z[:, 0]."""
    from ganport.train import load_dataset
    from ganport.train.clusters import cluster_labels

    args = ["--data", "digits", "--width", "8", "--nz", "16", "--batch-size", "16"]
    out = tmp_path / "modes"
    result = run_ganport(
        "train", *args, "--classes", "0", "--modes", "4", "--steps", 2, "--out", out,
        "--nproc", WORLD,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    ckpt = load_checkpoint(out / "checkpoint.pt")
    labels = ckpt.state["cluster_labels"]
    assert torch.equal(labels, cluster_labels(load_dataset("digits", 28).images, 4, seed=0))
    counts = torch.bincount(labels, minlength=4).tolist()
    assert ckpt.config.model.class_shares == tuple(c / len(labels) for c in counts)
