"""``ganport train --nproc N``: the single-machine torchrun, run from inside ganport.

It starts N copies of the same ``ganport train`` command through torch's elastic launcher
(what ``torchrun --standalone --nproc-per-node N`` does), then turns the outcome into
ganport's exit codes: rank 0's own code when it ended the job (it has printed its line),
else one line naming the rank that died. SIGINT/SIGTERM to this process reach every rank
(the launcher forwards them); rank 0 saves once and the job exits 130/143.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import uuid
from pathlib import Path

import click

from ganport.core.errors import InputError, JobFailed
from ganport.core.lock import folder_lock


def forwarded_args(ctx: click.Context, leave_out: set[str]) -> list[str]:
    """The command line the user gave, as options, without those in ``leave_out``."""
    args: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        source = ctx.get_parameter_source(name)
        if name in leave_out or source is click.core.ParameterSource.DEFAULT:
            continue
        if not isinstance(param, click.Option):
            continue
        value = ctx.params[name]
        flag = param.opts[-1] if param.opts[-1].startswith("--") else param.opts[0]
        if param.is_flag:
            if value:
                args.append(flag)
        elif value is not None:
            args += [flag, str(value)]
    return args


def launch(command: list[str], nproc: int, out: Path) -> None:
    """Run ``python -m ganport COMMAND`` in ``nproc`` processes on this machine, or fail."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    with folder_lock(out, "training"):
        pass  # refuse at once, before starting N processes, when a live job owns the folder
    if "OMP_NUM_THREADS" not in os.environ:  # as torchrun does: N processes share the cores
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    # This module says what failed in one line; the launcher's own log would repeat it.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    os.environ["GANPORT_LAUNCHER"] = "1"
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.1,
        start_method="spawn",
        logs_specs=DefaultLogsSpecs(),
    )
    try:
        elastic_launch(config, sys.executable)("-u", "-m", "ganport", *command)
    except SignalException as exc:
        raise click.exceptions.Exit(128 + int(exc.sigval)) from None
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        if failure.exitcode > 0:
            # A rank ended the job on purpose and rank 0 printed why: keep the exit code.
            raise click.exceptions.Exit(failure.exitcode) from None
        how = (
            f"was killed by {signal.Signals(-failure.exitcode).name}"
            if failure.exitcode < 0
            else "exited"
        )
        raise JobFailed(
            f"training process rank {rank} (pid {failure.pid}) {how}; the job stopped; "
            f"{_last_checkpoint(out)}"
        ) from None


def _last_checkpoint(out: Path) -> str:
    """The run's checkpoint, read back: rank 0 saves atomically, so a kill leaves it whole."""
    from ganport.train.checkpoint import load_checkpoint
    from ganport.train.trainer import CHECKPOINT_NAME

    path = out / CHECKPOINT_NAME
    if not path.exists():
        return "no checkpoint had been written yet"
    return f"the last checkpoint, {path} (step {load_checkpoint(path).step}), is intact"


def check_nproc(nproc: int) -> None:
    if nproc > 1 and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise InputError("--nproc launches torchrun itself; do not use it under torchrun")
