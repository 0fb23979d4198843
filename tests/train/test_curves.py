"""Training curves and TensorBoard events of a real run, checked against its metrics.jsonl."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganport.infer.quality.feature_net import save_feature_net
from ganport.infer.quality.feature_net import train_feature_net as train_net
from ganport.infer.quality.fingerprint import cache_path
from ganport.train import ModelConfig, TrainConfig, load_dataset
from ganport.train.curves import HEADER_PX, PANEL_PX, WIDTH_PX, curve_data
from ganport.train.trainer import Trainer
from tests.conftest import run_inprocess

STEPS_PER_EPOCH = 1797 // 128  # digits at batch 128


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`ganport train` for two epochs of conditional digits with FID and TensorBoard on.

    FID uses a feature network of a few steps put where the cache keeps digits' network,
    so the run does not spend its time training the full one (the figures' quality is not
    what is tested here).
    """
    base = tmp_path_factory.mktemp("curves")
    digits = load_dataset("digits", 16)
    cache = base / "cache"
    save_feature_net(
        train_net(digits, seed=0, steps=5),
        cache_path(digits, 0, cache / "ganport" / "feature_nets"),
    )
    out = base / "run"
    args = "--arch mlp --data digits --image-size 16 --width 8 --nz 8 --batch-size 128"
    args += " --epochs 2 --eval-every 10 --eval-samples 100 --tensorboard"
    proc = subprocess.run(
        [sys.executable, "-m", "ganport", "train", *args.split(), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
    )
    assert proc.returncode == 0, proc.stderr
    assert f"curves:     {out / 'curves.png'}" in proc.stdout
    return out


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_curves_png_has_a_panel_per_kind_of_value(run):
    with Image.open(run / "curves.png") as png:
        assert png.format == "PNG"
        # losses, D(x)/D(G(z)), class accuracy (a conditional run), FID (--eval-every)
        assert png.size == (WIDTH_PX, HEADER_PX + 4 * PANEL_PX)
        pixels = np.asarray(png.convert("L"))
    assert pixels.min() < 100 and pixels.std() > 10  # drawn on, not a blank canvas


def test_plotted_series_are_the_logged_values(run):
    records = _records(run)
    data = curve_data(run)
    steps = [r for r in records if "d_loss" in r]
    assert len(steps) == 2 * STEPS_PER_EPOCH
    for name in ("d_loss", "g_loss", "d_real", "d_fake", "class_acc_real", "class_acc_fake"):
        np.testing.assert_array_equal(data.series[name].steps, [r["step"] for r in steps])
        np.testing.assert_array_equal(data.series[name].values, [r[name] for r in steps])
        assert len(data.series[name].smoothed) == len(steps)
    for name in ("d_real", "d_fake", "class_acc_real", "class_acc_fake"):
        assert 0 <= data.series[name].values.min() <= data.series[name].values.max() <= 1
    fids = [r for r in records if "fid" in r]
    assert [r["step"] for r in fids] == [10, 20]
    np.testing.assert_array_equal(data.fid.values, [r["fid"] for r in fids])
    assert data.epoch_ends == [STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]
    assert (data.last_step, data.last_epoch) == (2 * STEPS_PER_EPOCH, 2)
    assert data.settings["arch"] == "mlp 16px" and data.settings["classes"] == "10 classes"
    # Smoothing averages: the line stays within the raw values' range.
    d_loss = data.series["d_loss"]
    assert d_loss.values.min() <= d_loss.smoothed.min()
    assert d_loss.smoothed.max() <= d_loss.values.max()


def test_tensorboard_events_hold_the_logged_values_and_the_grids(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    records = _records(run)
    for name in ("d_loss", "g_loss", "d_real", "d_fake", "class_acc_real", "fid"):
        logged = [(r["step"], r[name]) for r in records if name in r]
        read = [(e.step, e.value) for e in events.Scalars(name)]
        assert [s for s, _ in read] == [s for s, _ in logged], name
        np.testing.assert_allclose([v for _, v in read], [v for _, v in logged], rtol=1e-6)
    grids = events.Images("samples")
    assert [g.step for g in grids] == [STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]
    with Image.open(run / "samples" / "epoch_002.png") as grid:
        on_disk = np.asarray(grid.convert("RGB"))
    from io import BytesIO

    with Image.open(BytesIO(grids[-1].encoded_image_string)) as image:
        np.testing.assert_array_equal(np.asarray(image.convert("RGB")), on_disk)


def test_plot_draws_a_run_still_training(run, tmp_path, capsys):
    """No checkpoint yet and a last line cut mid-write: the steps so far, settings unknown."""
    live = tmp_path / "live"
    live.mkdir()
    lines = (run / "metrics.jsonl").read_text().splitlines()[:21]  # 20 steps, 1 FID
    (live / "metrics.jsonl").write_text("\n".join(lines) + "\n" + lines[-1][:25])
    code, out, err = run_inprocess(capsys, "plot", live, "--out", tmp_path / "c.png")
    assert (code, out, err) == (0, f"curves: {tmp_path / 'c.png'}\n", "")
    data = curve_data(live)
    assert data.last_step == 20 and data.epoch_ends == [STEPS_PER_EPOCH] and not data.settings
    with Image.open(tmp_path / "c.png") as png:
        assert png.size == (WIDTH_PX, HEADER_PX + 4 * PANEL_PX)
    assert not (live / "curves.png").exists()


@pytest.mark.parametrize(
    ("content", "message"), [(None, "no metrics.jsonl"), ("", "no training steps logged")]
)
def test_plot_without_steps_is_one_line_exit_2(tmp_path, capsys, content, message):
    if content is not None:
        (tmp_path / "metrics.jsonl").write_text(content)
    code, _, err = run_inprocess(capsys, "plot", tmp_path)
    assert code == 2
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "curves.png").exists()


def test_logged_d_outputs_and_class_accuracy_are_those_of_the_d_update():
    """d_real, d_fake: mean sigmoid of D's logits before its update; accuracies of its
    class head on the same batches; recomputed here from copies taken before the step."""
    data = load_dataset("digits", 16)
    config = TrainConfig(
        model=ModelConfig(arch="mlp", image_size=16, width=8, nz=8, classes=10),
        data="digits",
        batch_size=64,
    )
    trainer = Trainer(config, data, torch.device("cpu"))
    for _ in range(3):  # away from initialisation
        trainer.train_step()
    d_before, g_before = copy.deepcopy(trainer.discriminator), copy.deepcopy(trainer.generator)
    noise = torch.Generator().set_state(trainer.noise.get_state())
    indices = trainer.batch_indices(trainer.step)
    logged = trainer.train_step()
    real = data.images[indices]
    z = torch.randn(len(real), 8, generator=noise)
    with torch.no_grad():
        fake = g_before(z)
        real_logits, real_classes, _ = d_before.heads(real)
        fake_logits, fake_classes, _ = d_before.heads(fake)
    assert logged["d_real"] == pytest.approx(torch.sigmoid(real_logits).mean().item(), abs=1e-6)
    assert logged["d_fake"] == pytest.approx(torch.sigmoid(fake_logits).mean().item(), abs=1e-6)
    real_acc = (real_classes.argmax(1) == data.labels[indices]).float().mean().item()
    fake_acc = (fake_classes.argmax(1) == g_before.latent_class.index(z)).float().mean().item()
    assert (logged["class_acc_real"], logged["class_acc_fake"]) == (real_acc, fake_acc)
    assert set(trainer.last_losses) == {"d_loss", "g_loss"}
