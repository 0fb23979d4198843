"""Your own pair in ganport's trainer (``ganport train --generator ... --discriminator``):
real training steps on real digits, checkpoints that resume exactly, and an export of the
trained pair in your models' own form (a labels input, a kept sigmoid) that passes parity."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ganport.core.latent import latent
from ganport.infer import Discriminator, Generator
from ganport.train import load_checkpoint
from tests.conftest import run_inprocess

OWN = Path(__file__).parents[1] / "own_models"
CGAN = [
    "--generator", f"{OWN / 'pytorch_gan_cgan.py'}:Generator",
    "--discriminator", f"{OWN / 'pytorch_gan_cgan.py'}:Discriminator",
    "--data", "digits", "--batch-size", "16", "--seed", "3",
]  # fmt: skip


def _losses(run: Path) -> list[tuple]:
    rows = map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
    return [(r["step"], r["d_loss"], r.get("g_loss"), r["d_real"]) for r in rows]


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory):
    """Eight steps of PyTorch-GAN's conditional pair, then four more by --resume."""
    from ganport.cli import main

    run = tmp_path_factory.mktemp("cgan-run")
    for extra in (["--steps", "8"], ["--resume", "--steps", "12"]):
        with pytest.raises(SystemExit) as done:
            main(["train", *CGAN, "--out", str(run), *extra] if extra[0] != "--resume"
                 else ["train", "--out", str(run), *extra])  # fmt: skip
        assert done.value.code == 0
    return run


def test_your_pair_trains_and_resumes_as_one_run(cgan_run, tmp_path, capsys):
    code, _, err = run_inprocess(capsys, "train", *CGAN, "--steps", "12", "--out", tmp_path)
    assert code == 0, err
    assert _losses(cgan_run) == _losses(tmp_path)  # stopped at 8 and resumed: the same run
    whole, split = (load_checkpoint(p / "checkpoint.pt") for p in (tmp_path, cgan_run))
    for key in ("generator", "generator_ema", "discriminator"):
        for name, tensor in whole.state[key].items():
            assert torch.equal(tensor, split.state[key][name]), (key, name)
    config = whole.config.model
    assert config.arch == "own" and config.nz == 100 and config.image_shape == (1, 28, 28)
    assert config.own["discriminator"]["layout"]["classes"] == 10
    # Training moved the weights (the user's own initialisation is the start).
    from tests.own_models.pytorch_gan_cgan import Generator as Start

    torch.manual_seed(whole.config.seed)
    start = {k: v for k, v in Start().state_dict().items() if v.is_floating_point()}
    trained = whole.generator(ema=False).model.state_dict()
    assert any(not torch.equal(trained[k], v) for k, v in start.items())


def test_a_trained_pair_exports_with_its_labels_input_and_passes_parity(cgan_run, capsys):
    out = cgan_run / "onnx"
    code, _, err = run_inprocess(capsys, "export", cgan_run / "checkpoint.pt", "--out", out)
    assert code == 0, err
    generator = Generator(out / "generator.onnx")
    assert [i.name for i in generator.session.get_inputs()] == ["z", "labels"]
    assert generator.metadata.dataset == "digits" and generator.metadata.training_step == 12
    code, _, err = run_inprocess(capsys, "parity", out, "--batch-sizes", "1,7", "--samples", "64")
    assert code == 0, err
    z = latent(4, 100, seed=0)
    ckpt = load_checkpoint(cgan_run / "checkpoint.pt")
    with torch.no_grad():
        want = ckpt.generator()(torch.from_numpy(z), torch.full((4,), 5)).numpy()
    np.testing.assert_allclose(generator.sample(4, label=5), want, atol=1e-5)


def test_a_sigmoid_discriminator_trains_on_its_logit_and_exports_its_probability(tmp_path, capsys):
    spec = OWN / "document_cnn.py"
    code, _, err = run_inprocess(
        capsys, "train", "--generator", f"{spec}:MyGeneratorCNN",
        "--discriminator", f"{spec}:MyDiscriminatorCNN", "--data", "digits",
        "--batch-size", "8", "--steps", "3", "--out", tmp_path,
    )  # fmt: skip
    assert code == 0, err
    losses = _losses(tmp_path)
    assert len(losses) == 3 and all(np.isfinite(value) for row in losses for value in row[1:3])
    code, _, err = run_inprocess(capsys, "export", tmp_path / "checkpoint.pt", "--out", tmp_path)
    assert code == 0, err
    d = Discriminator(tmp_path / "discriminator.onnx")
    assert d.metadata.d_output == "probability"
    images = np.zeros((2, 1, 64, 64), np.float32)
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    with torch.no_grad():
        logit = ckpt.discriminator()(torch.from_numpy(images)).numpy()  # the training form
    np.testing.assert_allclose(d.probability(images), 1 / (1 + np.exp(-logit)), atol=1e-5)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--discriminator", "x.py:D"], "give --generator and --discriminator"),
        (["--arch", "mlp", *CGAN[:4]], "--arch is for ganport's own models"),
        (["--loss", "wgan-gp", *CGAN[:4]], "a D that takes labels trains with bce or hinge"),
    ],
)
def test_refusals_are_one_line(tmp_path, capsys, extra, message):
    code, _, err = run_inprocess(capsys, "train", *extra, "--steps", "1", "--out", tmp_path)
    assert code == 2 and err.count("\n") == 1, err
    assert message in err
