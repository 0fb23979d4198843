"""The training loop: D step, G step every ``n_critic`` steps, EMA of G, checkpoints.

Reproducible by construction: model init comes from ``torch.manual_seed(seed)``, the
order of each epoch from a generator seeded by (seed, epoch), and every noise draw
from one CPU generator whose state is checkpointed. So a resumed run repeats an
uninterrupted one step for step on the CPU. Under torchrun every process draws that same
global batch and trains its shard (``ganport.train.distributed``).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Protocol

import torch
from torch import nn
from tqdm import tqdm

from ganport.core.atomic import write_bytes
from ganport.core.errors import InputError, JobFailed
from ganport.core.images import save_grid
from ganport.core.latent import latent
from ganport.core.lock import folder_lock
from ganport.train.augment import diff_augment
from ganport.train.batchnorm import recalibrate
from ganport.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ganport.train.clusters import cluster_labels, cluster_shares
from ganport.train.config import TrainConfig
from ganport.train.data import Dataset
from ganport.train.distributed import Distributed, DistributedModel, join
from ganport.train.losses import (
    LOSSES,
    d_class_loss,
    g_class_loss,
    gradient_penalty,
    mode_seeking_loss,
    paired_latents,
    r1_penalty,
)
from ganport.train.models import LatentClass, build_discriminator, build_generator
from ganport.train.own import classes_of
from ganport.train.precision import autocast, resolve_precision
from ganport.train.schedule import lr_factor
from ganport.train.tensorboard import TensorBoardLog
from ganport.train.transfer import resident, to_device

CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "checkpoint_best.pt"
METRICS_NAME = "metrics.jsonl"
GRID_SAMPLES = 64


class Evaluator(Protocol):
    """Scores G_ema during training, lower is better (an FID); ``samples`` is logged with it.

    Training does not know how quality is measured: ``ganport.infer.quality``
    provides ``FidEvaluator``, and the CLI passes one in for ``--eval-every``.
    """

    samples: int

    def __call__(self, generator: nn.Module) -> float: ...


@dataclass(frozen=True)
class RunOptions:
    """How long and where a run goes; unlike TrainConfig these do not change its result,
    except that a decaying learning rate (``TrainConfig.lr_decay_from``) is laid out over
    the run's ``epochs`` or ``steps``: resumed towards the same end, a run goes on exactly;
    given a later end, its rate rises again and falls over the longer run."""

    out: Path
    epochs: int | None = None
    steps: int | None = None
    device: str = "auto"
    checkpoint_every: int = 0  # steps between checkpoints; 0: at the end of each epoch only
    keep: int = 0  # earlier checkpoints to keep as checkpoint-stepNNNNNNN.pt
    progress: bool | None = None  # None: a bar when stderr is a terminal
    eval_every: int = 0  # steps between evaluations (0: none); best kept as checkpoint_best.pt
    evaluator: Evaluator | None = None
    tensorboard: bool = False  # also write TensorBoard events under out/tensorboard/
    sync_bn: bool = False  # under torchrun: BatchNorm over the global batch (CUDA only)
    # Steps between the moments the host waits for the step's losses (to log them, check
    # they are finite, agree on stop signals); also at each epoch end, evaluation and
    # checkpoint. Between them a GPU runs ahead of Python instead of idling at each step.
    host_sync_every: int = 25


@dataclass
class RunResult:
    """What a finished (or interrupted) run left behind."""

    checkpoint: Path
    step: int
    epoch: int
    seconds: float
    last_losses: dict[str, float]
    sample_grids: list[Path] = field(default_factory=list)
    interrupted_by: str | None = None
    rank: int = 0  # under torchrun, this process's rank; only rank 0 wrote the files


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when torch sees a GPU, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda asked for, but torch sees no CUDA device here")
    if device != "cpu" and not device.startswith("cuda"):
        raise InputError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


class Trainer:
    """Holds G, D, G_ema and their optimisers; one ``step`` is one discriminator update."""

    def __init__(
        self,
        config: TrainConfig,
        data: Dataset,
        device: torch.device,
        modes: torch.Tensor | None = None,
    ) -> None:
        """``modes``: a run on modes' k-means labels, when already found (``train`` finds
        them first, as their shares decide G); else found on first use (``labels``)."""
        if len(data) < config.batch_size:
            raise InputError(
                f"data set {data.name!r} has {len(data)} images, fewer than the batch size "
                f"{config.batch_size}"
            )
        _check_labels(config, data)
        self.config = replace(config, precision=resolve_precision(config.precision, device))
        self.data = data
        self.device = device
        self.images = resident(data.images, device)
        self._finds_modes = bool(config.model.classes) and config.model.class_source == "clusters"
        self._labels = None
        if data.labels is not None and not self._finds_modes:
            self._labels = resident(data.labels, device)
        elif modes is not None:
            self._labels = resident(modes, device)
        self._epoch_order: tuple[int, torch.Tensor] | None = None
        torch.manual_seed(config.seed)
        self.generator = build_generator(config.model).to(device)
        self.discriminator = build_discriminator(config.model).to(device)
        self.generator_ema = copy.deepcopy(self.generator).eval()
        self.generator_ema.requires_grad_(False)
        self._ema_stats_stale = True  # G_ema's BatchNorm statistics predate its weights
        self.opt_g = self._optimizer(self.generator)
        self.opt_d = self._optimizer(self.discriminator)
        self.noise = torch.Generator().manual_seed(config.seed + 1)
        self.d_loss_fn, self.g_loss_fn = LOSSES[config.loss]
        self.step = 0
        # The run's last step, set by ``train``: a decaying learning rate reaches 0 there
        # (``ganport.train.schedule``); None keeps the rate constant.
        self.total_steps: int | None = None
        self.last_losses: dict[str, float] = {}
        self.best_fid = math.inf
        self.dist = Distributed()  # train() sets a torchrun run's; see ganport.train.distributed
        own = config.model.own or {}
        self.d_takes_labels = bool(own and own["discriminator"]["layout"].get("classes"))
        if self.d_takes_labels:
            if config.loss == "wgan-gp":
                raise InputError(
                    "wgan-gp's gradient penalty runs D on images alone; a D that "
                    "takes labels trains with bce or hinge"
                )
            classes = own["discriminator"]["layout"]["classes"]
            self.latent_class = LatentClass(classes).to(device)

    @property
    def labels(self) -> torch.Tensor | None:
        """The class of each image, where batches are cut: the data's labels, or for modes
        of an unlabelled run (``class_source`` clusters) its k-means clusters, found on
        first use, so a resumed run takes its checkpoint's and never clusters again."""
        if self._labels is None and self._finds_modes:
            model = self.config.model
            found = cluster_labels(self.data.images, model.classes, self.config.seed)
            self._labels = resident(found, self.device)
        return self._labels

    @labels.setter
    def labels(self, labels: torch.Tensor) -> None:
        self._labels = resident(labels, self.device)

    @property
    def steps_per_epoch(self) -> int:
        return len(self.data) // self.config.batch_size

    def _optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """Adam updates all of a model's tensors in one fused kernel: on the CPU 10x faster
        than torch's per-tensor default (README, training speed), on a GPU a few launches
        instead of hundreds. RMSprop has no fused form; it takes the multi-tensor one.
        A resumed run keeps the form its checkpoint was trained with."""
        cfg = self.config
        if cfg.optimizer == "adam":
            return torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, fused=True)
        return torch.optim.RMSprop(model.parameters(), lr=cfg.lr, foreach=True)

    def batch_indices(self, step: int) -> torch.Tensor:
        """Indices of the batch at global ``step``: epoch order seeded by (seed, epoch)."""
        epoch, position = divmod(step, self.steps_per_epoch)
        if self._epoch_order is None or self._epoch_order[0] != epoch:
            order = torch.randperm(
                len(self.data),
                generator=torch.Generator().manual_seed(self.config.seed * 100_003 + epoch),
            )
            self._epoch_order = (epoch, order)
        order = self._epoch_order[1]
        size = self.config.batch_size
        return order[position * size : (position + 1) * size]

    def train_step(self) -> dict[str, float]:
        """One step (``queue_step``), its logged values brought to the host."""
        (values,) = values_on_host([self.queue_step()])
        self.note_losses(values)
        return values

    def note_losses(self, values: dict[str, float]) -> None:
        """Keep a step's losses (host values) as the run's last, for the checkpoint."""
        self.last_losses |= {k: v for k, v in values.items() if k.endswith("_loss")}

    def queue_step(self) -> dict[str, torch.Tensor]:
        """One discriminator update, plus a generator update every ``n_critic`` steps.

        Returns what metrics.jsonl logs for the step, as 0-dim tensors on the device (the
        host does not wait for them: ``values_on_host`` fetches many steps' at once):
        ``d_loss`` (and ``g_loss`` on G's steps); ``d_real`` and ``d_fake``, the batch
        means of sigmoid(D's logit) on the real and the generated images of the D update
        (D's probability under bce; under hinge and wgan-gp the critic score squashed into
        (0, 1), whose gap, not its level, counts); and for a conditional D
        ``class_acc_real`` and ``class_acc_fake``, the share of real and generated images
        whose auxiliary class head names their class.
        """
        self._follow_lr_schedule()
        indices, real, z = self._draw_batch()
        with self.autocast():
            fake = self.generator(z)
        if self.config.model.classes:
            real_by = (to_device(self.labels[indices], self.device),)
            fake_by = (self.generator.latent_class.index(z),)
        else:
            real_by, fake_by = self.label_inputs(indices, z)
        d_loss, watched = self._update_d(real, fake.detach(), real_by, fake_by)
        losses = {"d_loss": d_loss}
        if (self.step + 1) % self.config.n_critic == 0:
            losses["g_loss"] = self._update_g(z, fake, fake_by)
        self.step += 1
        return {**losses, **watched}

    def _draw_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """This step's batch (indices, real images on the device) and latents, the shard
        of this process."""
        cfg = self.config
        indices = self.dist.shard(self.batch_indices(self.step))
        indices = to_device(indices, self.images.device)
        real = to_device(self.images[indices], self.device)
        z = torch.randn(cfg.batch_size, cfg.model.nz, generator=self.noise)
        if cfg.mode_seeking and cfg.model.classes:
            z = paired_latents(z)
        return indices, real, to_device(self.dist.shard(z), self.device)

    def _update_d(
        self,
        real: torch.Tensor,
        fake: torch.Tensor,
        real_by: tuple[torch.Tensor, ...],
        fake_by: tuple[torch.Tensor, ...],
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's update on a real and a (detached) generated batch: its loss, with the
        regularisers the recipe asks for, and what is watched of D."""
        cfg = self.config
        self.opt_d.zero_grad(set_to_none=True)
        r1_now = cfg.r1_gamma > 0 and self.step % cfg.r1_every == 0
        with self.autocast():
            real_seen = self.seen_by_d(real).requires_grad_(r1_now)
            if cfg.model.classes:
                real_heads = self.discriminator.heads(real_seen)
                fake_heads = self.discriminator.heads(self.seen_by_d(fake))
                real_logits, fake_logits = real_heads.logits, fake_heads.logits
                d_loss = self.d_loss_fn(real_logits, fake_logits) + d_class_loss(
                    real_heads, fake_heads, *real_by, *fake_by
                )
                watched = {
                    "class_acc_real": _accuracy(real_heads.classes, *real_by),
                    "class_acc_fake": _accuracy(fake_heads.classes, *fake_by),
                }
            else:
                real_logits = self.discriminator(real_seen, *real_by)
                fake_logits = self.discriminator(self.seen_by_d(fake), *fake_by)
                d_loss = self.d_loss_fn(real_logits, fake_logits)
                watched = {}
            if cfg.loss == "wgan-gp":
                alpha = torch.rand((cfg.batch_size, 1, 1, 1), generator=self.noise)
                alpha = to_device(self.dist.shard(alpha), self.device)
                d_loss = d_loss + cfg.gp_lambda * gradient_penalty(
                    self.discriminator, real, fake, alpha=alpha
                )
            if r1_now:
                weight = cfg.r1_gamma / 2 * cfg.r1_every
                d_loss = d_loss + weight * r1_penalty(real_logits, real_seen)
        d_loss.backward()
        self.opt_d.step()
        watched |= {"d_real": _mean_sigmoid(real_logits), "d_fake": _mean_sigmoid(fake_logits)}
        return d_loss.detach(), watched

    def _update_g(
        self, z: torch.Tensor, fake: torch.Tensor, fake_by: tuple[torch.Tensor, ...]
    ) -> torch.Tensor:
        """G's update through a frozen D, then the EMA of G; its loss."""
        cfg = self.config
        self.opt_g.zero_grad(set_to_none=True)
        with _frozen(self.discriminator):
            with self.autocast():
                if cfg.model.classes:
                    heads = self.discriminator.heads(self.seen_by_d(fake))
                    g_loss = self.g_loss_fn(heads.logits) + g_class_loss(heads, *fake_by)
                else:
                    g_loss = self.g_loss_fn(self.discriminator(self.seen_by_d(fake), *fake_by))
                if cfg.mode_seeking:
                    g_loss = g_loss + cfg.mode_seeking * mode_seeking_loss(z, fake)
            g_loss.backward()
        self.opt_g.step()
        self.update_ema()
        return g_loss.detach()

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """Forward passes in the run's precision (``ganport.train.precision``)."""
        return autocast(self.config.precision, self.device)

    def label_inputs(
        self, indices: torch.Tensor, z: torch.Tensor
    ) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """The labels a D that takes them gets with the real and the generated images: the
        data's, and the class each latent drew (your own pair); none otherwise."""
        if not self.d_takes_labels:
            return (), ()
        real = to_device(self.labels[indices], self.device)
        fake = self.latent_class.index(z)
        return (real,), (fake,)

    def _follow_lr_schedule(self) -> None:
        """Set this step's learning rate of G and D when the recipe decays it."""
        if self.config.lr_decay_from >= 1.0 or self.total_steps is None:
            return
        factor = lr_factor(self.step, self.total_steps, self.config.lr_decay_from)
        for optimizer in (self.opt_g, self.opt_d):
            for group in optimizer.param_groups:
                group["lr"] = self.config.lr * factor

    def seen_by_d(self, images: torch.Tensor) -> torch.Tensor:
        """What D sees of a batch: DiffAugment'ed when the recipe asks for it."""
        if not self.config.augment:
            return images
        return diff_augment(images, self.noise, self.config.batch_size, self.dist.shard)

    @torch.no_grad()
    def update_ema(self) -> None:
        """EMA of G's parameters with TF-style warm-up (short runs are not stuck at init).
        Its BatchNorm statistics are not averaged: ``averaged_generator`` computes them."""
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        ema = list(self.generator_ema.parameters())
        torch._foreach_lerp_(ema, list(self.generator.parameters()), 1.0 - decay)  # one launch
        self._ema_stats_stale = True

    def averaged_generator(self) -> nn.Module:
        """G_ema in eval mode with BatchNorm statistics of its own weights
        (``ganport.train.batchnorm``), recomputed once after each change of the weights:
        what the grids, the evaluations and the checkpoint (hence the export) use."""
        if self._ema_stats_stale:
            recalibrate(self.generator_ema, self.config.model.nz, self.config.seed, self.device)
            self._ema_stats_stale = False
        return self.generator_ema.eval()

    @torch.no_grad()
    def sample_grid(self, path: Path) -> Path:
        """Fixed-noise samples (the latent convention, the run's seed) from G_ema in eval mode."""
        z = torch.from_numpy(latent(GRID_SAMPLES, self.config.model.nz, self.config.seed))
        images = self.averaged_generator()(z.to(self.device)).cpu().numpy()
        return save_grid(images, path)

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "generator": self.generator.state_dict(),
            "generator_ema": self.averaged_generator().state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "optimizer_g": self.opt_g.state_dict(),
            "optimizer_d": self.opt_d.state_dict(),
            "step": self.step,
            "epoch": self.step // self.steps_per_epoch,
            "rng": {"noise": self.noise.get_state(), "torch": torch.get_rng_state()},
            "data": self.data.name,
            "last_losses": dict(self.last_losses),
            "best_fid": self.best_fid,
            "world_size": self.dist.world_size,
            **self._cluster_state(),
        }

    def _cluster_state(self) -> dict[str, Any]:
        """A clustered run's labels, kept so a resumed run trains on the same modes."""
        if not self._finds_modes:
            return {}
        return {"cluster_labels": self.labels.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.generator_ema.load_state_dict(state["generator_ema"])
        self._ema_stats_stale = True
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["optimizer_g"])
        self.opt_d.load_state_dict(state["optimizer_d"])
        self.noise.set_state(state["rng"]["noise"])
        torch.set_rng_state(state["rng"]["torch"])
        self.step = int(state["step"])
        self.last_losses = dict(state.get("last_losses", {}))
        self.best_fid = float(state.get("best_fid", math.inf))
        if "cluster_labels" in state:
            self.labels = state["cluster_labels"]


def train(
    config: TrainConfig, data: Dataset, options: RunOptions, resume: bool = False
) -> RunResult:
    """Train (or resume) a run in ``options.out`` until the asked epochs or steps are done.

    The run folder is locked for the whole run (``ganport.core.lock``). Under torchrun every
    process calls this and rank 0 alone holds the lock and writes (``ganport.train.distributed``).
    """
    device = resolve_device(options.device)
    with join(device) as dist, contextlib.ExitStack() as owner:
        device = dist.device(device)  # first: NCCL's collectives below need each rank's GPU
        with dist.agreed_errors():
            if dist.is_main:
                owner.enter_context(folder_lock(options.out, "training"))
            dist.check_batch(config.batch_size)
            out = Path(options.out)
            config = replace(config, precision=resolve_precision(config.precision, device))
            resumed = _resumable(out / CHECKPOINT_NAME, config) if resume else None
            if resumed is None:
                config, modes = _modes_of_run(config, data, dist, out)
            else:  # the checkpoint's config: a run on modes keeps its shares
                config, modes = resumed.config, None
            trainer = Trainer(config, data, device, modes)
            trainer.dist = dist
        try:
            return _train(trainer, options, resumed)
        finally:
            # DDP's reducer keeps the process group alive: freed here, the group goes with
            # join()'s destroy_process_group, not at interpreter exit, where gloo's threads
            # now and then aborted a rank ("terminate called without an active exception").
            del trainer
            gc.collect()


def _modes_of_run(
    config: TrainConfig, data: Dataset, dist: Distributed, out: Path
) -> tuple[TrainConfig, torch.Tensor | None]:
    """A new run on modes with the shares G draws its modes at, and its k-means labels.

    The shares set G's class edges, so they are fixed before G is built: the run finds
    its clusters now (rank 0's, on every rank: each rank's own could differ in the last
    bits) and draws each mode as often as it holds images (``cluster_shares``). A resumed
    run keeps its checkpoint's shares, and its labels come with the checkpoint's state.
    """
    model = config.model
    if not model.classes or model.class_source != "clusters":
        return config, None
    if (out / CHECKPOINT_NAME).exists():
        return config, None  # _train says that a run is there
    _check_labels(config, data)  # every rank alike, before rank 0 clusters
    found = torch.empty(len(data), dtype=torch.int64)
    if dist.is_main:
        found = cluster_labels(data.images, model.classes, config.seed)
    labels = dist.from_main(found)
    return _with_shares(config, cluster_shares(labels, model.classes)), labels


def _with_shares(config: TrainConfig, shares: tuple[float, ...] | None) -> TrainConfig:
    return replace(config, model=replace(config.model, class_shares=shares))


def _train(trainer: Trainer, options: RunOptions, resumed: Checkpoint | None) -> RunResult:
    """The run's loop: step D (and G), log, sample and evaluate, checkpoint; until the
    target step or a stop signal."""
    dist = trainer.dist
    out = Path(options.out)
    ckpt_path = out / CHECKPOINT_NAME
    target = _begin(trainer, options, resumed)
    result = RunResult(ckpt_path, trainer.step, trainer.step // trainer.steps_per_epoch, 0.0, {})
    result.rank = dist.rank
    if trainer.step >= target:
        result.last_losses = trainer.last_losses
        return result

    evaluate = _evaluator(trainer, options) if dist.is_main else None
    start = time.perf_counter()
    saved_at = trainer.step

    def kept() -> str:
        return _kept(ckpt_path, saved_at)

    with (
        _stop_signals() as stop,
        _run_log(trainer, options, target) as log,
        dist.peer_failures(kept),
    ):
        pending: list[dict[str, torch.Tensor]] = []  # steps whose values are still queued
        while trainer.step < target and stop.signal is None:
            pending.append(trainer.queue_step())
            step = trainer.step
            epoch_done = step % trainer.steps_per_epoch == 0
            periodic = bool(options.checkpoint_every) and step % options.checkpoint_every == 0
            evaluating = evaluate is not None and step % options.eval_every == 0
            if len(pending) < options.host_sync_every and not (
                epoch_done or periodic or evaluating or step == target
            ):
                continue
            # The global batch's values of each pending step, and any rank's stop signal.
            logged, stop.signal = dist.agree(values_on_host(pending), stop.received)
            log.steps(logged, step - len(pending) + 1, kept)
            pending.clear()
            if epoch_done and dist.is_main:
                result.sample_grids.append(log.epoch_grid(step))
            if evaluating:
                _record_evaluation(trainer, evaluate(), step, log, options)
            if epoch_done or periodic:
                _save(trainer, ckpt_path, options.keep)
                saved_at = step
        if saved_at != trainer.step:
            _save(trainer, ckpt_path, options.keep)
    result.step = trainer.step
    result.epoch = trainer.step // trainer.steps_per_epoch
    result.seconds = time.perf_counter() - start
    result.last_losses = dict(trainer.last_losses)
    result.interrupted_by = stop.signal
    return result


def _begin(trainer: Trainer, options: RunOptions, resumed: Checkpoint | None) -> int:
    """Make the run folder and the trainer ready (the resumed state loaded, the metrics
    log cut back to it, G and D wrapped for the processes) and return the target step."""
    dist = trainer.dist
    out = Path(options.out)
    ckpt_path = out / CHECKPOINT_NAME
    with dist.agreed_errors():
        if dist.is_main:
            _remove_stale_temporaries(out)
        if resumed is not None:
            trainer.load_state_dict(resumed.state)
        elif ckpt_path.exists():
            raise InputError(
                f"{out} already holds a run ({ckpt_path.name}); continue it with --resume "
                "or train into another --out"
            )
        target = _target_steps(options, trainer.steps_per_epoch)
        trainer.total_steps = target
        if dist.is_main:
            _truncate_metrics(out / METRICS_NAME, trainer.step)
        trainer.generator = dist.wrap(trainer.generator, trainer.device, options.sync_bn)
        trainer.discriminator = dist.wrap(trainer.discriminator, trainer.device, options.sync_bn)
    return target


@dataclass
class _RunLog:
    """Where a run's values and grids go: metrics.jsonl (os.devnull on ranks other than
    0), TensorBoard when asked for, and the progress bar."""

    trainer: Trainer
    out: Path
    file: IO[str]
    board: TensorBoardLog | None
    bar: tqdm

    def steps(self, logged: list[dict[str, float]], first: int, kept: Callable[[], str]) -> None:
        """The values of the steps from ``first`` on, one metrics line each; a non-finite
        value ends the run (``kept()`` says which checkpoint is left)."""
        trainer = self.trainer
        for at, losses in enumerate(logged, start=first):
            if not all(math.isfinite(v) for v in losses.values()):
                raise trainer.dist.everywhere(
                    JobFailed(
                        f"loss became non-finite at step {at} ({_fmt(losses)}); "
                        f"training stopped; {kept()}"
                    )
                )
            trainer.note_losses(losses)
            record = {
                "step": at,
                "epoch": (at - 1) // trainer.steps_per_epoch,
                "world_size": trainer.dist.world_size,
            }
            self.file.write(json.dumps({**record, **losses, "time": round(time.time(), 3)}) + "\n")
            if self.board is not None:
                self.board.scalars(at, losses)
        self.file.flush()
        self.bar.update(len(logged))
        self.bar.set_postfix(_fmt(trainer.last_losses), refresh=False)

    def epoch_grid(self, step: int) -> Path:
        """The fixed-noise grid of the epoch that ends at ``step``."""
        epoch = step // self.trainer.steps_per_epoch
        grid = self.trainer.sample_grid(self.out / "samples" / f"epoch_{epoch:03d}.png")
        if self.board is not None:
            self.board.grid(step, grid)
        return grid

    def evaluation(self, step: int, fid: float, samples: int) -> None:
        self.file.write(
            json.dumps(
                {
                    "step": step,
                    "fid": round(fid, 4),
                    "eval_samples": samples,
                    "world_size": self.trainer.dist.world_size,
                }
            )
            + "\n"
        )
        if self.board is not None:
            self.board.scalars(step, {"fid": round(fid, 4)})


@contextmanager
def _run_log(trainer: Trainer, options: RunOptions, target: int) -> Iterator[_RunLog]:
    """The run's log, its files open (rank 0's) and its bar drawn for the run's length."""
    main = trainer.dist.is_main
    out = Path(options.out)
    with (
        open(out / METRICS_NAME if main else os.devnull, "a", encoding="utf-8") as file,
        _board(options.tensorboard and main, out, trainer.step) as board,
        tqdm(
            total=target,
            initial=trainer.step,
            disable=_no_bar(options) if main else True,
            unit="step",
        ) as bar,
    ):
        yield _RunLog(trainer, out, file, board, bar)


def _record_evaluation(
    trainer: Trainer, fid: float, step: int, log: _RunLog, options: RunOptions
) -> None:
    """Log an evaluation; a new best is kept as checkpoint_best.pt."""
    log.evaluation(step, fid, options.evaluator.samples)
    if fid < trainer.best_fid:
        trainer.best_fid = fid
        save_checkpoint(Path(options.out) / BEST_NAME, {**trainer.state_dict(), "fid": fid})


def values_on_host(steps: list[dict[str, torch.Tensor]]) -> list[dict[str, float]]:
    """Several steps' logged values in one device-to-host copy (one wait for the GPU)."""
    flat = [value.detach().float().reshape(()) for values in steps for value in values.values()]
    if not flat:
        return [{} for _ in steps]
    numbers = iter(torch.stack(flat).cpu().tolist())
    return [{name: next(numbers) for name in values} for values in steps]


def _mean_sigmoid(logits: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(logits.detach().float()).mean()


def _accuracy(class_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (class_logits.detach().argmax(dim=1) == labels).float().mean()


@contextlib.contextmanager
def _frozen(discriminator: Any) -> Iterator[None]:
    """G's step needs gradients through D, not of D's weights (the next D step discards
    them): D's weights stop asking for them, which saves their backward, and under DDP the
    step skips D's gradient all-reduce."""
    weights = [p for p in discriminator.parameters() if p.requires_grad]
    skip_sync = (
        discriminator.ddp.no_sync()
        if isinstance(discriminator, DistributedModel)
        else contextlib.nullcontext()
    )
    for weight in weights:
        weight.requires_grad_(False)
    try:
        with skip_sync:
            yield
    finally:
        for weight in weights:
            weight.requires_grad_(True)


def _kept(ckpt_path: Path, saved_at: int) -> str:
    """Which checkpoint a failed run leaves (it is complete: saves are atomic)."""
    if ckpt_path.exists():
        return f"the last good checkpoint is {ckpt_path} (step {saved_at})"
    return "no checkpoint had been written yet"


def _check_labels(config: TrainConfig, data: Dataset) -> None:
    """A class-conditional run needs labels 0..classes-1 on every image; modes need at
    least as many images as modes."""
    classes = config.model.classes or (classes_of(config.model.own) if config.model.own else 0)
    if not classes:
        return
    if config.model.class_source == "clusters":
        if len(data) < classes:
            raise InputError(f"{len(data)} images cannot form {classes} modes")
        return
    if data.labels is None:
        raise InputError(
            f"a class-conditional model (classes={classes}) needs labelled data; "
            f"{data.name!r} has no labels (train it with --classes 0)"
        )
    if int(data.labels.min()) < 0 or int(data.labels.max()) >= classes:
        raise InputError(
            f"{data.name!r} has labels {int(data.labels.min())}..{int(data.labels.max())}, "
            f"outside the model's 0..{classes - 1}"
        )


def _resumable(ckpt_path: Path, config: TrainConfig) -> Checkpoint:
    """The checkpoint a run resumes from, trained with ``config``. Its class shares are
    found by the run, not asked for, so the run's own count as ``config``'s."""
    if not ckpt_path.exists():
        raise InputError(f"--resume: no checkpoint at {ckpt_path}")
    ckpt = load_checkpoint(ckpt_path)
    if _with_shares(config, ckpt.config.model.class_shares) != ckpt.config:
        raise InputError(
            f"--resume: {ckpt_path} was trained with a different configuration; "
            "resume with the checkpoint's own settings (see `ganport train --help`)"
        )
    return ckpt


def _evaluator(trainer: Trainer, options: RunOptions) -> Callable[[], float] | None:
    """The run's evaluation of G_ema, or None when evaluations are off."""
    if not options.eval_every:
        return None
    if options.evaluator is None:
        raise InputError("eval_every needs an evaluator (e.g. quality.FidEvaluator)")
    evaluator = options.evaluator
    return lambda: evaluator(trainer.averaged_generator())


def _remove_stale_temporaries(out: Path) -> None:
    """Delete temp files a killed run left mid-save; the complete files are untouched."""
    for tmp in out.glob(f".{CHECKPOINT_NAME}.*.tmp"):
        tmp.unlink(missing_ok=True)


def _target_steps(options: RunOptions, steps_per_epoch: int) -> int:
    if options.steps is not None and options.epochs is not None:
        raise InputError("give --epochs or --steps, not both")
    if options.steps is not None:
        return options.steps
    return (options.epochs if options.epochs is not None else 1) * steps_per_epoch


def _save(trainer: Trainer, ckpt_path: Path, keep: int) -> None:
    if not trainer.dist.is_main:
        return
    save_checkpoint(ckpt_path, trainer.state_dict())
    if keep > 0:
        kept = ckpt_path.with_name(f"checkpoint-step{trainer.step:07d}.pt")
        save_checkpoint(kept, trainer.state_dict())
        for old in sorted(ckpt_path.parent.glob("checkpoint-step*.pt"))[:-keep]:
            old.unlink(missing_ok=True)


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop log lines past the checkpoint's step, so a resumed run's log has each step once."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
    write_bytes(path, "".join(f"{line}\n" for line in kept).encode())


def _fmt(losses: dict[str, float]) -> dict[str, str]:
    return {k.removesuffix("_loss"): f"{v:.4f}" for k, v in losses.items()}


@contextmanager
def _board(enabled: bool, out: Path, resumed_at: int) -> Iterator[TensorBoardLog | None]:
    """The run's TensorBoard writer when asked for, closed (flushed) however the run ends."""
    if not enabled:
        yield None
        return
    board = TensorBoardLog(out, resumed_at)
    try:
        yield board
    finally:
        board.close()


def _no_bar(options: RunOptions) -> bool | None:
    return None if options.progress is None else not options.progress


class _StopFlag:
    received: str | None = None  # set by the handler
    signal: str | None = None  # the run stops: set after a step (all ranks agree on it)


@contextmanager
def _stop_signals() -> Iterator[_StopFlag]:
    """SIGINT/SIGTERM finish the current step, then the loop saves and returns."""
    flag = _StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, _frame: Any) -> None:
        flag.received = signal.Signals(signum).name

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
