"""GANs written elsewhere, from state_dict + source file to a passing parity and a sample
grid, through the CLI alone: pytorch/examples' DCGAN (64×64, 1 and 3 channels),
PyTorch-GAN's conditional MLP pair (labels as an input), and a tutorial's CNN generator
with its two sigmoid discriminators. Real modules, real exports, real ONNX Runtime."""

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from ganport.core.classes import class_of_latent
from ganport.core.latent import latent
from ganport.infer import Discriminator, Generator
from tests.conftest import run_ganport as ganport
from tests.conftest import run_inprocess

OWN = Path(__file__).parents[1] / "own_models"
FAST = ("--batch-sizes", "1,7", "--seeds", "0", "--samples", "64")


def _load(path: Path):
    """The user's file as a module of its own (as ganport imports it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"own_{path.stem}_{id(path)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _settle(model: torch.nn.Module, *inputs: torch.Tensor) -> torch.nn.Module:
    """A few forward passes in train mode: BatchNorm statistics off the identity, as after
    training; then eval mode, as the user saves it."""
    with torch.no_grad():
        for _ in range(3):
            model.train()(*inputs)
    return model.eval()


@pytest.fixture(scope="module", params=[1, 3], ids=["grey", "rgb"])
def dcgan(request, tmp_path_factory):
    """pytorch/examples' DCGAN with nc channels, exported as a pair from two .pth files."""
    folder = tmp_path_factory.mktemp(f"dcgan{request.param}")
    source = folder / "dcgan.py"
    text = (OWN / "pytorch_examples_dcgan.py").read_text()
    source.write_text(text.replace("nc = 3", f"nc = {request.param}"))
    module = _load(source)
    torch.manual_seed(request.param)
    net_g = _settle(module.Generator(1), torch.randn(16, 100, 1, 1))
    net_d = _settle(module.Discriminator(1), torch.rand(16, request.param, 64, 64) * 2 - 1)
    torch.save(net_g.state_dict(), folder / "netG.pth")
    torch.save(net_d.state_dict(), folder / "netD.pth")
    proc = ganport(
        "export", folder / "netG.pth", "--model", f"{source}:Generator",
        "--model-args", '{"ngpu": 1}', "--discriminator-model", f"{source}:Discriminator",
        "--discriminator-args", '{"ngpu": 1}', "--discriminator-weights", folder / "netD.pth",
        "--out", folder / "exported",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return {"folder": folder, "out": proc.stdout, "g": net_g, "d": net_d, "nc": request.param}


def test_pytorch_examples_dcgan_reaches_parity_and_a_grid(dcgan, capsys):
    exported = dcgan["folder"] / "exported"
    assert "z (N, 100, 1, 1) → images (N, " in dcgan["out"]
    assert "→ probability (N,)" in dcgan["out"]
    code, out, err = run_inprocess(capsys, "parity", exported, *FAST)
    assert code == 0, err
    assert "parity PASS" in out
    grid = dcgan["folder"] / "grid.png"
    code, _, err = run_inprocess(capsys, "sample", exported / "generator.onnx", "-n", "4",
                                 "--out", grid, "--npy", dcgan["folder"] / "s.npy")  # fmt: skip
    assert code == 0, err
    assert Image.open(grid).mode == ("L" if dcgan["nc"] == 1 else "RGB")
    # The user's own module on the latent convention's z, reshaped as it takes it.
    z = torch.from_numpy(latent(4, 100, seed=0))
    with torch.no_grad():
        want = dcgan["g"](z.reshape(4, 100, 1, 1)).numpy()
    got = np.load(dcgan["folder"] / "s.npy")
    assert got.shape == (4, dcgan["nc"], 64, 64)
    assert np.abs(want).max() > 0.01  # a signal well above the tolerance
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_a_sigmoid_discriminator_gives_its_own_probability(dcgan):
    d = Discriminator(dcgan["folder"] / "exported" / "discriminator.onnx")
    assert d.metadata.d_output == "probability" and d.metadata.output_name == "probability"
    images = np.random.default_rng(0).uniform(-1, 1, (5, dcgan["nc"], 64, 64))
    images = images.astype(np.float32)
    with torch.no_grad():
        want = dcgan["d"](torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(d.probability(images), want, atol=1e-6)
    logits = d.score(images)
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), want, atol=1e-5)


def test_parity_fails_on_a_tampered_export_and_refuses_changed_weights(dcgan, tmp_path, capsys):
    tampered = tmp_path / "tampered"
    shutil.copytree(dcgan["folder"] / "exported", tampered)
    model = onnx.load(str(tampered / "generator.onnx"))
    weight = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
    values = onnx.numpy_helper.to_array(weight).copy()
    values.flat[0] += 0.5
    weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
    onnx.save(model, str(tampered / "generator.onnx"))
    code, out, err = run_inprocess(capsys, "parity", tampered, *FAST)
    assert code == 1 and "parity failed" in err
    assert "FAIL generator.onnx" in out

    changed = torch.load(dcgan["folder"] / "netD.pth")
    first = next(iter(changed))
    changed[first] = changed[first] + 1
    original = (dcgan["folder"] / "netD.pth").read_bytes()
    torch.save(changed, dcgan["folder"] / "netD.pth")
    try:
        code, _, err = run_inprocess(capsys, "parity", dcgan["folder"] / "exported", *FAST)
    finally:
        (dcgan["folder"] / "netD.pth").write_bytes(original)
    assert code == 2 and err.count("\n") == 1
    assert "changed since the export" in err


@pytest.fixture(scope="module")
def cgan(tmp_path_factory):
    """PyTorch-GAN's cgan pair, both state_dicts in one file under the keys users pick."""
    folder = tmp_path_factory.mktemp("cgan")
    module = _load(OWN / "pytorch_gan_cgan.py")
    torch.manual_seed(0)
    labels = torch.arange(32) % 10
    g = _settle(module.Generator(), torch.randn(32, 100), labels)
    d = module.Discriminator().eval()
    pair = {"generator": g.state_dict(), "discriminator": d.state_dict(), "epoch": 3}
    torch.save(pair, folder / "cgan.pth")
    spec = OWN / "pytorch_gan_cgan.py"
    proc = ganport(
        "export", folder / "cgan.pth", "--model", f"{spec}:Generator",
        "--discriminator-model", f"{spec}:Discriminator", "--out", folder / "exported",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return {"folder": folder, "out": proc.stdout, "g": g, "d": d}


def test_a_conditional_pair_takes_labels_as_an_input(cgan, capsys):
    exported = cgan["folder"] / "exported"
    assert "z (N, 100) + labels (N,) of 10 classes → images (N, 1, 28, 28)" in cgan["out"]
    generator = Generator(exported / "generator.onnx")
    assert generator.metadata.class_input == "labels" and generator.classes == 10
    code, _, err = run_inprocess(capsys, "parity", exported, *FAST)
    assert code == 0, err
    z = latent(6, 100, seed=2)
    with torch.no_grad():
        asked = cgan["g"](torch.from_numpy(z), torch.full((6,), 3)).numpy()
        drawn = cgan["g"](torch.from_numpy(z), torch.from_numpy(class_of_latent(z, 10))).numpy()
    np.testing.assert_allclose(generator.sample(6, seed=2, label=3), asked, atol=1e-5)
    np.testing.assert_allclose(generator.sample(6, seed=2), drawn, atol=1e-5)
    assert np.abs(asked - drawn).max() > 1e-3  # the label really changes the image


def test_weights_from_safetensors_or_a_wrapped_model_load_alike(cgan, tmp_path, capsys):
    """A .safetensors file, and a state_dict saved from DataParallel ("module." keys), give
    the same export as the plain file."""
    from safetensors.torch import save_file

    state = cgan["g"].state_dict()
    save_file(state, tmp_path / "g.safetensors")
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "g_dp.pth")
    want = Generator(cgan["folder"] / "exported" / "generator.onnx").sample(3, seed=4)
    spec = f"{OWN / 'pytorch_gan_cgan.py'}:Generator"
    for weights in ("g.safetensors", "g_dp.pth"):
        out = tmp_path / weights.replace(".", "_")
        argv = ["export", tmp_path / weights, "--model", spec, "--out", out]
        code, _, err = run_inprocess(capsys, *argv)
        assert code == 0, err
        np.testing.assert_array_equal(Generator(out / "generator.onnx").sample(3, seed=4), want)


def test_a_conditional_discriminator_is_scored_with_the_images_class(cgan, tmp_path, capsys):
    exported = cgan["folder"] / "exported"
    images = tmp_path / "x.npy"
    code, _, err = run_inprocess(capsys, "sample", exported / "generator.onnx", "-n", "3",
                                 "--class", "7", "--npy", images)  # fmt: skip
    assert code == 0, err
    report = tmp_path / "s.json"
    code, _, err = run_inprocess(capsys, "score", exported / "discriminator.onnx", images,
                                 "--class", "7", "--json", report)  # fmt: skip
    assert code == 0, err
    with torch.no_grad():
        logits = cgan["d"](torch.from_numpy(np.load(images)), torch.full((3,), 7)).numpy()[:, 0]
    got = [s["logit"] for s in json.loads(report.read_text())["scores"]]
    np.testing.assert_allclose(got, logits, atol=1e-5)
    code, _, err = run_inprocess(capsys, "score", exported / "discriminator.onnx", images)
    assert code == 2 and "give --class 0..9" in err


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    """A tutorial's MyGeneratorCNN with its CNN D (``.squeeze()`` with no dim) as a pair,
    and its MLP D (flat images, (N, 1)) alone."""
    folder = tmp_path_factory.mktemp("tutorial")
    module = _load(OWN / "document_cnn.py")
    torch.manual_seed(1)
    g = _settle(module.MyGeneratorCNN(), torch.randn(8, 64, 1, 1))
    models = {"g": g, "cnn": module.MyDiscriminatorCNN().eval(), "mlp": module.MyDiscriminatorMLP()}
    for name, model in models.items():
        torch.save(model.state_dict(), folder / f"{name}.pth")
    spec = OWN / "document_cnn.py"
    pair = ganport(
        "export", folder / "g.pth", "--model", f"{spec}:MyGeneratorCNN",
        "--discriminator-model", f"{spec}:MyDiscriminatorCNN",
        "--discriminator-weights", folder / "cnn.pth", "--out", folder / "pair",
    )  # fmt: skip
    alone = ganport(
        "export", folder / "mlp.pth", "--model", f"{spec}:MyDiscriminatorMLP",
        "--image-shape", "1,64,64", "--out", folder / "mlp",
    )  # fmt: skip
    assert pair.returncode == 0 and alone.returncode == 0, pair.stderr + alone.stderr
    return {"folder": folder, "models": models, "out": pair.stdout + alone.stdout}


def test_a_tutorial_cnn_and_its_sigmoid_discriminators(tutorial, capsys):
    folder = tutorial["folder"]
    assert "z (N, 64, 1, 1) → images (N, 1, 64, 64)" in tutorial["out"]
    # The MLP D alone was found by running it: flat images, one probability per row.
    assert "images (N, 4096) = (1, 64, 64) in [-1, 1] → probability (N, 1)" in tutorial["out"]
    for target in ("pair", "mlp"):
        code, _, err = run_inprocess(capsys, "parity", folder / target, *FAST)
        assert code == 0, err
    # ``.squeeze()`` gives a scalar for one image; the export keeps (N,) at every batch.
    cnn = Discriminator(folder / "pair" / "discriminator.onnx")
    one = np.zeros((1, 1, 64, 64), np.float32)
    with torch.no_grad():
        want = tutorial["models"]["cnn"](torch.from_numpy(one)).reshape(1).numpy()
    np.testing.assert_allclose(cnn.probability(one), want, atol=1e-6)
    code, _, err = run_inprocess(capsys, "sample", folder / "pair" / "generator.onnx",
                                 "-n", "9", "--out", folder / "grid.png")  # fmt: skip
    assert code == 0, err
    assert Image.open(folder / "grid.png").size == (3 * 64 + 4 * 2, 3 * 64 + 4 * 2)


def test_bench_rebuilds_your_own_models(cgan, capsys):
    code, out, err = run_inprocess(
        capsys, "bench", cgan["folder"] / "exported", "--batch-sizes", "2", "--no-compile",
        "--threads", 1, "--repeats", 2, "--warmup", 1, "--rounds", 2, "--matmul-size", 64,
    )  # fmt: skip
    assert code == 0, err
    assert "all outputs agree with torch eager" in out


def _pickled_module(folder: Path) -> Path:
    """A whole model saved with torch.save(model): loading it would run the pickle."""
    from tests.own_models.document_cnn import MyGeneratorCNN

    path = folder / "whole.pth"
    torch.save(MyGeneratorCNN(), path)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{g}", "--model", "{spec}:MyGenerator"], "has no 'MyGenerator'; its nn.Module classes"),
        (["{g}", "--model", "{spec}"], "give it as FILE.py:NAME"),
        (["{g}", "--model", "{spec}:MyDiscriminatorCNN"], "do not fit MyDiscriminatorCNN"),
        (["{g}", "--model", "{spec}:MyGeneratorCNN", "--model-args", "{{nz"], "not JSON"),
        (["{g}", "--model", "{spec}:MyGeneratorCNN", "--model-args", '{{"nz": 8}}'],
         "wrong shape"),
        (["{mlp}", "--model", "{spec}:MyDiscriminatorMLP"],
         "cannot tell which half MyDiscriminatorMLP is"),
        (["{mlp}", "--model", "{spec}:MyDiscriminatorMLP", "--which", "generator"],
         "a discriminator's output, not images"),
        (["{whole}", "--model", "{spec}:MyGeneratorCNN"], "could run code"),
        (["{g}", "--nz", "8"], "--nz is for your own model"),
    ],
)  # fmt: skip
def test_refusals_are_one_line_and_exit_2(tutorial, tmp_path, capsys, args, message):
    folder = tutorial["folder"]
    names = {"g": folder / "g.pth", "mlp": folder / "mlp.pth", "spec": OWN / "document_cnn.py"}
    if "{whole}" in args:
        names["whole"] = _pickled_module(tmp_path)
    argv = ["export", *(a.format(**names) for a in args), "--out", tmp_path / "out"]
    code, _, err = run_inprocess(capsys, *argv)
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert message in err
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_an_ambiguous_range_names_the_flag_that_settles_it(tmp_path, capsys):
    """A generator ending in ReLU makes only non-negative pixels: no range can be read."""
    source = tmp_path / "relu_g.py"
    source.write_text(
        "import torch.nn as nn\n\n\n"
        "class G(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU())\n\n"
        "    def forward(self, z):\n"
        "        return self.net(z).view(-1, 1, 4, 4)\n"
    )
    weights = tmp_path / "g.pth"
    torch.save(_load(source).G().state_dict(), weights)
    argv = ["export", weights, "--model", f"{source}:G", "--out", tmp_path / "o"]
    code, _, err = run_inprocess(capsys, *argv)
    assert code == 2 and "give --image-range" in err
    code, out, err = run_inprocess(capsys, *argv, "--image-range", "0,1")
    assert code == 0, err
    assert "in [0, 1]" in out
