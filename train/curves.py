"""Training curves: a picture of metrics.jsonl, for a finished run or one still training.

``curve_data`` reads the log into the series the figure draws (the tests check these
against the log itself); ``plot_curves`` draws them with matplotlib (the ``[train]``
extra) into ``RUN_DIR/curves.png``: D and G losses (smoothed, raw values faint),
D(x) and D(G(z)), the auxiliary class accuracy of a conditional D, and FID when the run
evaluated it, over steps, with the epochs marked and the run's settings in the title.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganport.core.atomic import atomic_path
from ganport.core.errors import InputError

CURVES_NAME = "curves.png"
METRICS_NAME = "metrics.jsonl"  # the trainer's log (trainer.METRICS_NAME)
CHECKPOINT_NAME = "checkpoint.pt"  # where a run's settings are (trainer.CHECKPOINT_NAME)
WIDTH_PX = 1200
PANEL_PX = 300
HEADER_PX = 80
DPI = 100
SMOOTHING_POINTS = 60  # the smoothed line averages over about len(series) / this many steps

# Per-step series of the log, and the label each gets on its panel.
LOSSES = {"d_loss": "D loss", "g_loss": "G loss"}
D_OUTPUTS = {"d_real": "D(x), real", "d_fake": "D(G(z)), generated"}
CLASS_ACCURACY = {"class_acc_real": "real images", "class_acc_fake": "generated images"}


@dataclass(frozen=True)
class Series:
    """One logged value over steps: the raw points and their smoothed line."""

    steps: np.ndarray
    values: np.ndarray
    smoothed: np.ndarray


@dataclass
class CurveData:
    """Everything the figure draws, read from a run's log (and its checkpoint's settings)."""

    series: dict[str, Series] = field(default_factory=dict)
    fid: Series | None = None
    epoch_ends: list[int] = field(default_factory=list)  # the last step of each full epoch
    last_step: int = 0
    last_epoch: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def conditional(self) -> bool:
        return any(name in self.series for name in CLASS_ACCURACY)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The log's records; a line cut short (a run being written or killed) is skipped."""
    records = []
    with open(path, encoding="utf-8") as log:
        for line in log:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int):
                records.append(record)
    return records


def smooth(values: np.ndarray, span: int) -> np.ndarray:
    """Exponential moving average over about ``span`` points, debiased at the start (as
    TensorBoard's smoothing), so the line starts at the first values rather than at 0."""
    alpha = 2.0 / (max(span, 1) + 1.0)
    out = np.empty(len(values), np.float64)
    average, weight = 0.0, 0.0
    for i, value in enumerate(values):
        average = (1 - alpha) * average + alpha * float(value)
        weight = (1 - alpha) * weight + alpha
        out[i] = average / weight
    return out


def curve_data(run_dir: Path) -> CurveData:
    """The run's series; an InputError when it has no log or an empty one."""
    path = Path(run_dir) / METRICS_NAME
    if not path.is_file():
        raise InputError(f"{run_dir}: no {METRICS_NAME} (not a training run folder?)")
    records = read_metrics(path)
    step_records = [r for r in records if "d_loss" in r]
    if not step_records:
        raise InputError(f"{path}: no training steps logged yet")
    data = CurveData(settings=run_settings(Path(run_dir)))
    span = max(1, len(step_records) // SMOOTHING_POINTS)
    for name in (*LOSSES, *D_OUTPUTS, *CLASS_ACCURACY):
        points = [(r["step"], r[name]) for r in step_records if name in r]
        if points:
            data.series[name] = _series(points, span)
    fid_points = [(r["step"], r["fid"]) for r in records if "fid" in r]
    if fid_points:
        data.fid = _series(fid_points, 1)
    epochs: dict[int, int] = {}
    for record in step_records:
        epoch = record.get("epoch")
        if isinstance(epoch, int):
            epochs[epoch] = max(epochs.get(epoch, 0), record["step"])
    data.last_step = step_records[-1]["step"]
    data.epoch_ends = _epoch_ends(epochs, Path(run_dir))
    data.last_epoch = len(data.epoch_ends)
    return data


def _epoch_ends(last_steps: dict[int, int], run_dir: Path) -> list[int]:
    """The last step of each finished epoch (``last_steps``: epoch → its last logged step).

    An epoch followed by another is finished. The last one is finished when it is as long
    as the first, or, for a run of one epoch so far, when its sample grid was written.
    """
    epochs = sorted(last_steps)
    ends = [last_steps[e] for e in epochs if e + 1 in last_steps]
    if not epochs:
        return ends
    last = epochs[-1]
    steps_per_epoch = last_steps.get(0) if 1 in last_steps else None
    as_long = steps_per_epoch and last_steps[last] - last_steps.get(last - 1, 0) == steps_per_epoch
    if as_long or (run_dir / "samples" / f"epoch_{last + 1:03d}.png").is_file():
        ends.append(last_steps[last])
    return ends


def _series(points: list[tuple[int, float]], span: int) -> Series:
    steps = np.array([p[0] for p in points], np.int64)
    values = np.array([p[1] for p in points], np.float64)
    return Series(steps, values, smooth(values, span))


def run_settings(run_dir: Path) -> dict[str, Any]:
    """What the title names, from the run's checkpoint; empty before its first save."""
    from ganport.train.checkpoint import load_checkpoint

    path = run_dir / CHECKPOINT_NAME
    if not path.is_file():
        return {}
    try:
        config = load_checkpoint(path).config
    except InputError:
        return {}
    model = config.model
    return {
        "arch": f"{model.arch} {model.image_size}px",
        "data": config.data,
        "classes": _conditioning(model),
        "loss": config.loss,
        "batch": config.batch_size,
        "lr": f"{config.lr:g}"
        + (f" → 0 from {config.lr_decay_from:g} of the run" if config.lr_decay_from < 1 else ""),
        "seed": config.seed,
        "regularisers": "".join(
            [
                f", R1 {config.r1_gamma:g}" if config.r1_gamma else "",
                ", DiffAugment" * config.augment,
            ]
        ),
    }


def title(data: CurveData, run_dir: Path) -> str:
    """Two lines: the run and how far it got; its settings when the checkpoint has them."""
    first = f"{Path(run_dir).resolve().name}: step {data.last_step}, epoch {data.last_epoch}"
    settings = data.settings
    if not settings:
        return f"{first}\n(settings unknown: no checkpoint yet)"
    second = (
        f"{settings['arch']} on {settings['data']}, {settings['classes']}, loss {settings['loss']},"
        f" batch {settings['batch']}, lr {settings['lr']}{settings['regularisers']},"
        f" seed {settings['seed']}"
    )
    return f"{first}\n{second}"


def plot_curves(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Draw the run's curves into ``out`` (default ``RUN_DIR/curves.png``), atomically."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    from matplotlib import pyplot as plt

    run_dir = Path(run_dir)
    data = curve_data(run_dir)
    out = Path(out) if out is not None else run_dir / CURVES_NAME
    panels = [_draw_losses, _draw_d_outputs]
    if data.conditional:
        panels.append(_draw_class_accuracy)
    if data.fid is not None:
        panels.append(_draw_fid)
    height_px = HEADER_PX + PANEL_PX * len(panels)
    figure, axes = plt.subplots(
        len(panels),
        1,
        sharex=True,
        figsize=(WIDTH_PX / DPI, height_px / DPI),
        dpi=DPI,
        layout="constrained",
    )
    axes = np.atleast_1d(axes)
    try:
        for draw, ax in zip(panels, axes, strict=True):
            draw(ax, data)
            _mark_epochs(ax, data)
            ax.grid(alpha=0.25)
        axes[-1].set_xlabel("step")
        axes[-1].set_xlim(0, max(data.last_step, 1))
        _epoch_axis(axes[0], data)
        figure.suptitle(title(data, run_dir), fontsize=11)
        with atomic_path(out) as tmp, open(tmp, "wb") as file:
            figure.savefig(file, format="png", dpi=DPI)
    finally:
        plt.close(figure)
    return out


def _draw_lines(ax: Any, data: CurveData, labels: dict[str, str]) -> None:
    for i, (name, label) in enumerate(labels.items()):
        series = data.series.get(name)
        if series is None:
            continue
        color = f"C{i}"
        ax.plot(series.steps, series.values, color=color, alpha=0.2, linewidth=0.6)
        ax.plot(series.steps, series.smoothed, color=color, linewidth=1.6, label=label)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=9)


def _draw_losses(ax: Any, data: CurveData) -> None:
    _draw_lines(ax, data, LOSSES)
    terms = "; both include the class terms" if data.conditional else ""
    ax.set_title(f"losses (smoothed; raw values faint{terms})", fontsize=10, loc="left")


def _draw_d_outputs(ax: Any, data: CurveData) -> None:
    _draw_lines(ax, data, D_OUTPUTS)
    ax.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    ax.set_ylim(-0.02, 1.02)
    loss = data.settings.get("loss")
    what = "mean sigmoid of D's logit per batch"
    if loss in ("hinge", "wgan-gp"):
        what = f"mean sigmoid of the critic score per batch ({loss}: the gap counts, not the level)"
    ax.set_title(f"D(x) and D(G(z)): {what}", fontsize=10, loc="left")


def _draw_class_accuracy(ax: Any, data: CurveData) -> None:
    _draw_lines(ax, data, CLASS_ACCURACY)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("auxiliary class head of D: accuracy", fontsize=10, loc="left")


def _draw_fid(ax: Any, data: CurveData) -> None:
    fid = data.fid
    assert fid is not None
    ax.plot(fid.steps, fid.values, color="C3", marker="o", markersize=3, linewidth=1.4)
    if fid.values.min() > 0:  # FID falls by orders of magnitude: a plateau shows on a log axis
        ax.set_yscale("log")
    best = int(np.argmin(fid.values))
    late = fid.steps[best] > 0.7 * data.last_step  # keep the label inside the panel
    ax.annotate(
        f"best {fid.values[best]:.2f} at step {fid.steps[best]}",
        (fid.steps[best], fid.values[best]),
        textcoords="offset points",
        xytext=(-4 if late else 4, 8),
        ha="right" if late else "left",
        fontsize=8,
    )
    ax.set_title("FID of G_ema (lower is better; log scale)", fontsize=10, loc="left")


def _mark_epochs(ax: Any, data: CurveData) -> None:
    for end in data.epoch_ends:
        ax.axvline(end, color="grey", alpha=0.35, linewidth=0.7, linestyle=":")


def _epoch_axis(ax: Any, data: CurveData) -> None:
    """Epoch numbers along the top, at most about a dozen of them."""
    if not data.epoch_ends:
        return
    every = max(1, math.ceil(len(data.epoch_ends) / 12))
    marked = [(i + 1, end) for i, end in enumerate(data.epoch_ends) if (i + 1) % every == 0]
    top = ax.secondary_xaxis("top")
    top.set_xticks([end for _, end in marked], [str(epoch) for epoch, _ in marked], fontsize=8)
    top.set_xlabel("epoch", fontsize=9)


def _conditioning(model: Any) -> str:
    if model.class_source == "clusters":
        return f"{model.classes} k-means modes"
    if not model.classes:
        return "unconditional"
    return f"{model.classes} classes" + (" (twin class head)" if model.twin_classifier else "")
