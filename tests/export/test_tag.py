"""``ganport tag`` on ONNX files exported the way users export them: torch modules written
as in pytorch/examples and PyTorch-GAN, seeded (no training needed), through
``torch.onnx.export``; then ``sample`` and ``score`` on the tagged copies, against the
source files run on ONNX Runtime and mapped to the contract by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from ganport.core.classes import class_of_latent
from ganport.core.latent import latent
from ganport.core.manifest import sha256_file
from ganport.core.metadata import METADATA_KEY, ModelMetadata
from ganport.infer import Discriminator, Generator
from tests.conftest import run_inprocess

NZ = 16
ROOT = Path(__file__).resolve().parents[2]
ORT_WEB = Path(  # as tests/infer/test_web.py finds it
    os.environ.get("GANPORT_ONNXRUNTIME_WEB", ROOT / ".web" / "node_modules" / "onnxruntime-web")
)


class DcganGenerator(nn.Module):
    """pytorch/examples' DCGAN generator, at 32×32: z (N, nz, 1, 1) → tanh images."""

    def __init__(self, nz: int = NZ, ngf: int = 8, nc: int = 3) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class DcganDiscriminator(nn.Module):
    """pytorch/examples' DCGAN discriminator without its sigmoid: logits (N, 1, 1, 1)."""

    def __init__(self, ndf: int = 8, nc: int = 3) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class MlpGenerator(nn.Module):
    """A flat MLP generator ending in a sigmoid: z (N, nz) → (N, 784) in [0, 1]."""

    def __init__(self, nz: int = NZ) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(nz, 64), nn.ReLU(), nn.Linear(64, 784), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ShiftedGenerator(MlpGenerator):
    """Images moved to [0, 1] by hand, ``(tanh + 1) / 2``: no final op tells the range."""

    def __init__(self) -> None:
        super().__init__()
        self.net[-1] = nn.Tanh()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.net(z) + 1) / 2


class TwoLatents(nn.Module):
    """Two float inputs: not a generator's layout."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.tanh(a * b).repeat(1, 49)


class MlpDiscriminator(nn.Module):
    """PyTorch-GAN's MLP discriminator on flat images: (N, 784) → sigmoid (N, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(784, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1), nn.Sigmoid()
        )

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.model(img)


class SqueezingDiscriminator(MlpDiscriminator):
    """The same D ending in ``.squeeze()``: a batch of one gives a scalar."""

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.model(img.view(img.size(0), -1)).squeeze()


class ConditionalGenerator(nn.Module):
    """PyTorch-GAN's cgan generator: G(noise, labels) with an embedding of the labels."""

    def __init__(self, nz: int = NZ, n_classes: int = 10) -> None:
        super().__init__()
        self.label_emb = nn.Embedding(n_classes, n_classes)
        self.model = nn.Sequential(
            nn.Linear(nz + n_classes, 64), nn.LeakyReLU(0.2), nn.Linear(64, 784), nn.Tanh()
        )

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        gen_input = torch.cat((self.label_emb(labels), noise), -1)
        img = self.model(gen_input)
        return img.view(img.size(0), 1, 28, 28)


class ConditionalDiscriminator(nn.Module):
    """PyTorch-GAN's cgan discriminator: D(img, labels) → a logit (N, 1)."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.label_embedding = nn.Embedding(n_classes, n_classes)
        self.model = nn.Sequential(
            nn.Linear(n_classes + 784, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1)
        )

    def forward(self, img: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        d_in = torch.cat((img.view(img.size(0), -1), self.label_embedding(labels)), -1)
        return self.model(d_in)


def export(module: nn.Module, example: tuple, path: Path, names: list[str], dynamic: bool = True):
    """``torch.onnx.export`` as a user calls it (the TorchScript exporter, dynamic batch)."""
    torch.manual_seed(0)
    *inputs, output = names
    axes = {name: {0: "batch_size"} for name in names} if dynamic else None
    torch.onnx.export(
        module.eval(),
        example,
        str(path),
        dynamo=False,
        input_names=inputs,
        output_names=[output],
        dynamic_axes=axes,
    )
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every test model exported once; weights seeded."""
    folder = tmp_path_factory.mktemp("user-onnx")
    torch.manual_seed(0)
    models = {
        "dcgan_g": (DcganGenerator(), (torch.randn(2, NZ, 1, 1),), ["noise", "fake"]),
        "dcgan_d": (DcganDiscriminator(), (torch.randn(2, 3, 32, 32),), ["input", "output"]),
        "mlp_g": (MlpGenerator(), (torch.randn(2, NZ),), ["z", "x"]),
        "mlp_d": (MlpDiscriminator(), (torch.rand(2, 784),), ["img", "validity"]),
        "squeeze_d": (SqueezingDiscriminator(), (torch.rand(2, 784),), ["img", "validity"]),
        "shifted_g": (ShiftedGenerator(), (torch.randn(2, NZ),), ["z", "x"]),
        "two_g": (TwoLatents(), (torch.randn(2, NZ), torch.randn(2, NZ)), ["a", "b", "x"]),
    }
    cgan = ConditionalGenerator()
    models["cgan_g"] = (
        cgan,
        (torch.randn(2, NZ), torch.tensor([1, 2])),
        ["noise", "labels", "img"],
    )
    models["cgan_d"] = (
        ConditionalDiscriminator(),
        (torch.randn(2, 1, 28, 28), torch.tensor([1, 2])),
        ["img", "labels", "validity"],
    )
    models["cgan32_g"] = (
        cgan,
        (torch.randn(2, NZ), torch.tensor([1, 2], dtype=torch.int32)),
        ["noise", "y", "image"],
    )
    paths = {}
    with torch.no_grad():
        for name, (module, example, names) in models.items():
            paths[name] = export(module, example, folder / f"{name}.onnx", names)
        static = DcganGenerator()
        paths["static_g"] = export(
            static, (torch.randn(4, NZ, 1, 1),), folder / "static_g.onnx", ["z", "out"], False
        )
    return paths


@pytest.fixture(scope="module")
def hashes(sources: dict[str, Path]) -> dict[str, str]:
    return {name: sha256_file(path) for name, path in sources.items()}


def ganport(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    return run_inprocess(capsys, *args)


def source_run(path: Path, *feeds: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, feeds, strict=True)))[0]


def metadata(path: Path) -> ModelMetadata:
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return ModelMetadata.from_json(props[METADATA_KEY])


@pytest.fixture(scope="module")
def dcgan_folder(
    sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("dcgan-tagged")
    args = [sources["dcgan_g"], "--discriminator", sources["dcgan_d"], "--out", out]
    proc = subprocess.run(
        [sys.executable, "-m", "ganport", "tag", *map(str, args)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_a_dcgan_pair_is_tagged_and_says_what_it_found(dcgan_folder, sources, hashes):
    out, stdout = dcgan_folder
    assert stdout.splitlines() == [
        f"generator.onnx: z (N, {NZ}, 1, 1) → (N, {NZ}); images (N, 3, 32, 32) in [-1, 1]; "
        "symbolic batch",
        "discriminator.onnx: images (N, 3, 32, 32) in [-1, 1]; logit (N, 1, 1, 1) → (N,); "
        "symbolic batch",
        str(out / "manifest.json"),
    ]
    g, d = metadata(out / "generator.onnx"), metadata(out / "discriminator.onnx")
    assert (g.arch, g.nz, g.image_shape, g.exporter, g.weights) == (
        "dcgan_g",
        NZ,
        (3, 32, 32),
        "external",
        "raw",
    )
    assert g.source_sha256 == hashes["dcgan_g"] and g.static_batch is None
    assert g.source_layout == {
        "origin": "onnx",
        "z": "(N, nz, 1, 1)",
        "image": "(N, C, H, W)",
        "image_range": [-1.0, 1.0],
        "inputs": ["noise"],
        "outputs": ["fake"],
    }
    assert d.source_layout["output_shape"] == "(N, 1, 1, 1)" and d.d_output == "logit"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["checkpoint"] is None
    assert manifest["source"]["sha256"] == hashes["dcgan_g"]
    origin = manifest["source"]["models"]["discriminator"]
    assert origin["kind"] == "onnx" and origin["sha256"] == hashes["dcgan_d"]
    assert origin["file"] == str(sources["dcgan_d"].resolve())
    batches = [b["batch"] for b in manifest["models"][0]["checks"]["batches"]]
    assert batches == [1, 2, 7]
    assert [m["inputs"][0]["shape"] for m in manifest["models"]] == [
        ["batch", NZ],
        ["batch", 3, 32, 32],
    ]


def test_sample_and_score_on_the_tagged_dcgan_match_the_source(
    dcgan_folder, sources, tmp_path, capsys
):
    out, _ = dcgan_folder
    code, _, err = ganport(
        capsys,
        *("sample", out / "generator.onnx", "-n", 9, "--seed", 5, "--provider", "cpu"),
        *("--npy", tmp_path / "s.npy"),
    )
    assert code == 0, err
    z = latent(9, NZ, 5)
    want = source_run(sources["dcgan_g"], z.reshape(9, NZ, 1, 1))
    got = np.load(tmp_path / "s.npy")
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    code, _, err = ganport(
        capsys,
        *("score", out / "discriminator.onnx", tmp_path / "s.npy", "--provider", "cpu"),
        *("--json", tmp_path / "score.json"),
    )
    assert code == 0, err
    logits = [s["logit"] for s in json.loads((tmp_path / "score.json").read_text())["scores"]]
    want_logits = source_run(sources["dcgan_d"], got).reshape(-1)
    np.testing.assert_allclose(logits, want_logits, atol=1e-5, rtol=1e-5)


def test_a_flat_sigmoid_pair_is_reshaped_and_mapped_to_the_contract(
    sources, tmp_path, capsys, hashes
):
    out = tmp_path / "mlp"
    code, stdout, err = ganport(
        capsys, "tag", sources["mlp_g"], "--discriminator", sources["mlp_d"], "--out", out
    )
    assert code == 0, err
    assert stdout.splitlines()[:2] == [
        f"generator.onnx: z (N, {NZ}); images (N, 784) → (N, 1, 28, 28) in [0, 1] → [-1, 1]; "
        "symbolic batch",
        "discriminator.onnx: images (N, 1, 28, 28) → (N, 784) in [0, 1] (from [-1, 1]); "
        "probability (N, 1) → (N,); symbolic batch",
    ]
    assert metadata(out / "discriminator.onnx").d_output == "probability"
    code, _, err = ganport(
        capsys, "sample", out / "generator.onnx", "-n", 5, "--seed", 2, "--npy", tmp_path / "s.npy"
    )
    assert code == 0, err
    images = np.load(tmp_path / "s.npy")
    source = source_run(sources["mlp_g"], latent(5, NZ, 2))
    np.testing.assert_allclose(images, (2 * source - 1).reshape(5, 1, 28, 28), atol=1e-6, rtol=0)
    code, _, err = ganport(
        capsys,
        *("score", out / "discriminator.onnx", tmp_path / "s.npy"),
        *("--json", tmp_path / "score.json"),
    )
    assert code == 0, err
    scores = json.loads((tmp_path / "score.json").read_text())["scores"]
    want = source_run(sources["mlp_d"], ((images + 1) / 2).reshape(5, 784)).reshape(-1)
    np.testing.assert_allclose([s["probability"] for s in scores], want, atol=1e-6, rtol=0)
    assert sha256_file(sources["mlp_g"]) == hashes["mlp_g"]
    assert sha256_file(sources["mlp_d"]) == hashes["mlp_d"]


@pytest.mark.parametrize("name", ["cgan_g", "cgan32_g"])
def test_a_generator_with_labels_samples_the_class_asked_for(sources, tmp_path, capsys, name):
    out = tmp_path / name
    code, stdout, err = ganport(capsys, "tag", sources[name], "--classes", 10, "--out", out)
    assert code == 0, err
    dtype = "int64" if name == "cgan_g" else "int32 (cast from int64)"
    assert f"labels {dtype}, 10 classes" in stdout.splitlines()[0]
    meta = metadata(out / "generator.onnx")
    assert (meta.classes, meta.class_input, meta.class_source) == (10, "labels", "labels")
    z = latent(6, NZ, 4)
    cast = np.int64 if name == "cgan_g" else np.int32
    for label in (3, None):
        args = () if label is None else ("--class", label)
        code, _, err = ganport(
            capsys,
            *("sample", out / "generator.onnx", "-n", 6, "--seed", 4, *args),
            *("--npy", tmp_path / "s.npy"),
        )
        assert code == 0, err
        labels = class_of_latent(z, 10) if label is None else np.full(6, label)
        want = source_run(sources[name], z, labels.astype(cast))
        np.testing.assert_allclose(np.load(tmp_path / "s.npy"), want, atol=1e-6, rtol=0)


def test_a_static_batch_is_kept_and_recorded(sources, tmp_path, capsys):
    out = tmp_path / "static"
    code, stdout, err = ganport(capsys, "tag", sources["static_g"], "--out", out)
    assert code == 0, err
    assert stdout.splitlines()[0].endswith("; static batch 4")
    assert metadata(out / "generator.onnx").static_batch == 4
    code, _, err = ganport(
        capsys, "sample", out / "generator.onnx", "-n", 6, "--npy", tmp_path / "s.npy"
    )
    assert code == 0, err
    z = np.concatenate([latent(6, NZ, 0), np.zeros((2, NZ), np.float32)])
    want = np.concatenate(
        [source_run(sources["static_g"], z[i : i + 4, :, None, None]) for i in (0, 4)]
    )
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), want[:6], atol=1e-6, rtol=0)
    session = ort.InferenceSession(str(out / "generator.onnx"))
    with pytest.raises(Exception, match="dimension"):
        session.run(None, {"z": latent(3, NZ, 0)})


def test_refusals_are_one_line_and_leave_the_sources_alone(
    sources, hashes, dcgan_folder, tmp_path, capsys
):
    text = tmp_path / "notes.onnx"
    text.write_text("not a model\n")
    a_file = tmp_path / "file"
    a_file.write_text("")
    out = tmp_path / "out"
    tagged = dcgan_folder[0] / "generator.onnx"
    cases = [
        ([sources["mlp_g"], "--discriminator", sources["squeeze_d"]], "depends on the batch"),
        ([text], "not a readable ONNX file"),
        ([sources["shifted_g"]], "cannot tell its range; give --image-range -1,1 (tanh) or 0,1"),
        ([sources["two_g"]], "are not a generator's: one float tensor of z, and optionally"),
        ([tagged], "already a ganport model; use it as it is"),
        ([sources["cgan_g"]], "give --classes N"),
        ([sources["cgan_g"], "--classes", 11], "--classes 11 is too many: label 10 fails"),
        ([sources["mlp_g"], "--classes", 10], "--classes is for a model with a labels input"),
        ([sources["mlp_g"], "--nz", 8], "not the declared --nz 8"),
        ([sources["mlp_g"], "--image-shape", "3,16,16"], "--image-shape 3,16,16 holds 768"),
        ([sources["dcgan_g"], "--image-range", "0,1"], "outside [0, 1]"),
        (
            [sources["dcgan_d"], "--role", "discriminator", "--discriminator", sources["dcgan_d"]],
            "--discriminator pairs a D with a generator",
        ),
        ([sources["dcgan_d"]], "a discriminator? give --role discriminator"),
        (
            [sources["dcgan_g"], "--role", "discriminator"],
            "returns rows shaped (3, 32, 32) (a generator? leave out --role)",
        ),
    ]
    for args, message in cases:
        code, _, err = ganport(capsys, "tag", *args, "--out", out)
        assert code == 2, (args, err)
        assert message in err and len(err.strip().splitlines()) == 1, (args, err)
        assert "Traceback" not in err and not out.exists()
    code, _, err = ganport(capsys, "tag", sources["mlp_g"], "--out", a_file)
    assert code == 2 and "is a file" in err
    for name, digest in hashes.items():
        assert sha256_file(sources[name]) == digest
    # The real console script, once: one line, exit 2.
    proc = subprocess.run(
        [sys.executable, "-m", "ganport", "tag", str(text), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_a_declared_range_settles_what_the_values_cannot(sources, tmp_path, capsys):
    out = tmp_path / "shifted"
    code, stdout, err = ganport(
        capsys, "tag", sources["shifted_g"], "--image-range", "0,1", "--out", out
    )
    assert code == 0, err
    assert "in [0, 1] → [-1, 1]" in stdout
    g = Generator(out / "generator.onnx", provider="cpu")
    want = 2 * source_run(sources["shifted_g"], latent(3, NZ, 0)) - 1
    np.testing.assert_allclose(g.sample(3), want.reshape(3, 1, 28, 28), atol=1e-6, rtol=0)


def test_a_lone_discriminator_says_which_range_it_assumed(sources, tmp_path, capsys):
    out = tmp_path / "d"
    code, stdout, err = ganport(
        capsys, "tag", sources["dcgan_d"], "--role", "discriminator", "--out", out
    )
    assert code == 0, err
    assert "in [-1, 1] (assumed: give --image-range 0,1 if it takes [0, 1])" in stdout
    assert metadata(out / "discriminator.onnx").role == "discriminator"


def test_a_discriminator_with_labels_scores_as_its_source(sources, tmp_path, capsys):
    out = tmp_path / "cgan"
    args = [sources["cgan_g"], "--discriminator", sources["cgan_d"], "--classes", 10]
    code, stdout, err = ganport(capsys, "tag", *args, "--out", out)
    assert code == 0, err
    assert stdout.splitlines()[1] == (
        "discriminator.onnx: images (N, 1, 28, 28) in [-1, 1]; logit (N, 1) → (N,); "
        "labels int64, 10 classes; symbolic batch"
    )
    images = Generator(out / "generator.onnx", provider="cpu").sample(5, seed=1, label=7)
    d = Discriminator(out / "discriminator.onnx", provider="cpu")
    want = source_run(sources["cgan_d"], images, np.full(5, 7, np.int64)).reshape(-1)
    np.testing.assert_allclose(d.score(images, labels=7), want, atol=1e-6, rtol=0)


def test_the_web_page_is_built_from_a_tagged_folder(dcgan_folder, tmp_path, capsys):
    """The site build checks each model's contract and manifest hash (the page itself is
    tested in Chromium by tests/infer/test_web.py)."""
    if not (ORT_WEB / "dist" / "ort.min.mjs").is_file():
        pytest.skip(f"no onnxruntime-web at {ORT_WEB} (npm install onnxruntime-web@1.30.0)")
    site = tmp_path / "site"
    code, _, err = ganport(
        capsys, "web", dcgan_folder[0], "--out", site, "--onnxruntime-web", ORT_WEB
    )
    assert code == 0, err
    info = json.loads((site / "site.json").read_text())
    assert info["models"]["generator"]["metadata"]["exporter"] == "external"
    assert (site / "discriminator.onnx").read_bytes() == (
        dcgan_folder[0] / "discriminator.onnx"
    ).read_bytes()


def test_bench_times_a_tagged_folder_and_parity_says_why_it_cannot(dcgan_folder, capsys):
    folder, _ = dcgan_folder
    """No torch model stands behind a tagged file: bench times ONNX Runtime alone, and
    parity, which needs one, says so in one line."""
    code, out, err = ganport(
        capsys, "bench", folder, "--batch-sizes", "2", "--no-compile", "--threads", 1,
        "--repeats", 2, "--warmup", 1, "--rounds", 2, "--matmul-size", 64,
    )  # fmt: skip
    assert code == 0, err
    assert "ort-cpu" in out and "torch-eager" not in out
    assert "timed only: no torch model to check the outputs against" in out
    code, _, err = ganport(capsys, "parity", folder)
    assert code == 2 and err.count("\n") == 1
    assert "tagged from an ONNX file" in err
