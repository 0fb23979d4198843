"""Training in several processes: torchrun's environment, DDP, and what the ranks agree on.

A run started by ``torchrun`` (WORLD_SIZE > 1 in the environment) joins the process group
(NCCL on CUDA, gloo on the CPU) and trains G and D under DistributedDataParallel. The run
is defined by its *global* batch, so N processes train what one process would:

- every rank draws the same global batch (indices from the (seed, epoch) order, z and the
  gradient penalty's α from the one noise generator) and keeps its contiguous shard of
  ``batch_size / N`` rows. Every sample of an epoch is seen once, by one rank, and the
  order is reshuffled each epoch: DistributedSampler's contract, with shards taken from the
  single-process batches so that a run does not depend on N;
- each rank's losses are means over equal shards and DDP averages the gradients, so the
  update is the one of the global batch's mean loss: same learning rate, same batch;
- BatchNorm normalises each rank's shard with that shard's statistics unless the layers are
  SyncBatchNorm (``sync_bn``, CUDA only), which normalise with the global batch's.

After each step the ranks sum their losses and the signals they received in one
all-reduce: the logged losses are the global batch's, a non-finite loss on any rank stops
every rank, and SIGINT/SIGTERM stop every rank after the same step. Rank 0 alone writes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ganport.core.errors import GanportError, InputError, JobFailed, first_line

# How long a collective waits for a silent peer before failing (a killed peer is noticed at
# once: its sockets close). Long enough for rank 0 to write grids, checkpoints and FIDs.
TIMEOUT = timedelta(minutes=10)
STOP_SIGNALS = ("SIGINT", "SIGTERM")


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job; the default is a single-process run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process on a machine: ``cuda:LOCAL_RANK``."""
        if device.type != "cuda" or not self.enabled:
            return device
        if self.local_rank >= torch.cuda.device_count():
            raise InputError(
                f"process {self.local_rank} on this machine needs its own GPU, and torch sees "
                f"{torch.cuda.device_count()}: start at most that many processes per machine"
            )
        torch.cuda.set_device(self.local_rank)
        return torch.device("cuda", self.local_rank)

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world_size:
            raise InputError(
                f"the batch size {batch_size} is the global batch and must split evenly over "
                f"the {self.world_size} processes"
            )

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous rows of a global batch."""
        if not self.enabled:
            return batch
        size = batch.shape[0] // self.world_size
        return batch[self.rank * size : (self.rank + 1) * size]

    def from_main(self, tensor: torch.Tensor) -> torch.Tensor:
        """Rank 0's ``tensor`` on every rank (what each computed alone may differ in the
        last bits, as k-means does across machines)."""
        if not self.enabled:
            return tensor
        nccl = dist.get_backend() == "nccl"
        shared = tensor.to(torch.device("cuda", self.local_rank)) if nccl else tensor.clone()
        dist.broadcast(shared, src=0)
        return shared.to(tensor.device)

    def wrap(self, model: nn.Module, device: torch.device, sync_bn: bool) -> Any:
        """``model`` trained under DDP; the plain model when the run has one process."""
        if sync_bn and device.type != "cuda":
            raise InputError(
                "--sync-bn needs CUDA: torch's SyncBatchNorm runs on GPU tensors only; on the "
                "CPU each process normalises its own shard"
            )
        if not self.enabled:
            return model
        if sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [device.index] if device.type == "cuda" else None
        return DistributedModel(model, DistributedDataParallel(_Routed(model), device_ids=ids))

    def agree(
        self, steps: list[dict[str, float]], received: str | None
    ) -> tuple[list[dict[str, float]], str | None]:
        """The global batch's mean of each step's ``values`` and the stop signal any rank
        received, in one all-reduce for all the steps."""
        if not self.enabled:
            return steps, received
        flags = [float(received == name) for name in STOP_SIGNALS]
        device = torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else None
        numbers = [value for values in steps for value in values.values()]
        total = torch.tensor(numbers + flags, dtype=torch.float64)
        total = total.to(device) if device is not None else total
        dist.all_reduce(total)
        sums = iter(total.cpu().tolist())
        agreed = [{name: next(sums) / self.world_size for name in values} for values in steps]
        stop = next((name for name in STOP_SIGNALS if next(sums)), None)
        return agreed, stop

    @contextlib.contextmanager
    def agreed_errors(self) -> Iterator[None]:
        """An error on any rank in the block ends it on every rank with that error.

        Setup checks (the folder lock, an existing run, a resume mismatch) run on rank 0 or
        on all; without this a rank that passed would wait for a peer that had given up.
        Only rank 0 prints the error (``quiet`` on the others); all exit with its code.
        """
        if not self.enabled:
            yield
            return
        failure: GanportError | None = None
        try:
            yield
        except GanportError as exc:
            failure = exc
        found: list[Any] = [None] * self.world_size
        mine = None if failure is None else (failure.exit_code, str(failure))
        dist.all_gather_object(found, mine)
        first = next((f for f in found if f is not None), None)
        if first is not None:
            code, message = first
            error = InputError(message) if code == 2 else JobFailed(message)
            raise self.everywhere(error) from failure

    def everywhere(self, error: GanportError) -> GanportError:
        """An error every rank raises alike: only rank 0 prints it."""
        error.quiet = not self.is_main  # type: ignore[attr-defined]
        return error

    @contextlib.contextmanager
    def peer_failures(self, kept: Callable[[], str]) -> Iterator[None]:
        """A rank that died (kill -9, out of memory) ends the others with one line.

        ``kept()`` says which checkpoint survives; rank 0 never writes a half file (atomic
        saves), so the last one it finished is intact. Under ``ganport train --nproc`` the
        launcher names the rank that died, so the others stay quiet.
        """
        try:
            yield
        except (dist.DistError, RuntimeError) as exc:
            if not self.enabled or not _is_peer_failure(exc):
                raise
            error = JobFailed(
                f"another process of the job stopped ({first_line(exc)[:200]}); "
                f"training stopped; {kept()}"
            )
            error.quiet = os.environ.get("GANPORT_LAUNCHER") == "1"  # type: ignore[attr-defined]
            raise error from exc


class _Routed(nn.Module):
    """Lets DDP run any of the model's methods: DDP only syncs work done in its forward."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, method: str, *args: torch.Tensor) -> Any:
        return self.module(*args) if method == "forward" else getattr(self.module, method)(*args)


class DistributedModel:
    """A model whose calls run through DDP; its weights, buffers and state are the plain
    model's, so checkpoints, the EMA and the optimisers see exactly what one process sees."""

    def __init__(self, module: nn.Module, ddp: DistributedDataParallel) -> None:
        self.module = module
        self.ddp = ddp

    def __call__(self, *args: torch.Tensor) -> Any:
        return self.ddp("forward", *args)

    def heads(self, image: torch.Tensor) -> Any:
        return self.ddp("heads", image)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)


@contextlib.contextmanager
def join(device: torch.device) -> Iterator[Distributed]:
    """Join torchrun's process group for the block (a single-process run without torchrun).

    Reads torchrun's RANK, WORLD_SIZE, LOCAL_RANK and MASTER_ADDR/PORT. A process group the
    caller set up already is used as it is and left open.
    """
    if dist.is_available() and dist.is_initialized():
        yield Distributed(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))
        return
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size == 1:
        yield Distributed()
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend, timeout=TIMEOUT)
    except dist.DistError as exc:
        raise JobFailed(f"could not join the training job ({first_line(exc)})") from exc
    try:
        yield Distributed(dist.get_rank(), world_size, _env_int("LOCAL_RANK", 0))
        # Leave together: a rank that tore its connections down while rank 0 was still
        # saving sometimes aborted in gloo's teardown ("terminate called ...").
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _is_peer_failure(exc: BaseException) -> bool:
    """A collective failed because a peer went away (gloo and NCCL raise RuntimeErrors)."""
    if isinstance(exc, dist.DistError):
        return True
    text = str(exc).lower()
    return any(word in text for word in ("gloo", "nccl", "connection", "broken pipe"))


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default
