"""The page of ``ganport web`` in a real headless Chromium, on onnxruntime-web's wasm backend.

Needs Chromium (GANPORT_CHROMIUM, default /usr/bin/chromium), the playwright Python
package (its browser driver only: the system Chromium runs, nothing is downloaded) and
the npm onnxruntime-web package (GANPORT_ONNXRUNTIME_WEB, default
.web/node_modules/onnxruntime-web); each test is skipped, with the reason, without them.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ganport.core.classes import class_edges, class_of_latent, edge_latent, latent_of_class
from ganport.core.errors import InputError
from ganport.core.latent import latent, slerp
from ganport.infer import Discriminator, Generator
from tests.conftest import run_ganport, train_run

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("GANPORT_CHROMIUM", "/usr/bin/chromium"))
ORT_WEB = Path(
    os.environ.get("GANPORT_ONNXRUNTIME_WEB", ROOT / ".web" / "node_modules" / "onnxruntime-web")
)
LOAD_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not CHROMIUM.is_file():
        pytest.skip(
            f"no Chromium at {CHROMIUM} (apt-get install chromium, or set GANPORT_CHROMIUM)"
        )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


def build(export: Path, out: Path, **options: Any) -> Path:
    if not (ORT_WEB / "dist" / "ort.min.mjs").is_file():
        pytest.skip(f"no onnxruntime-web at {ORT_WEB} (npm install onnxruntime-web@1.30.0)")
    from ganport.web import build_site

    return build_site(export, out, ORT_WEB, **options).folder


@pytest.fixture(scope="module")
def conditional_export(tmp_path_factory: pytest.TempPathFactory, conditional_checkpoints) -> Path:
    from ganport.export import export_checkpoint

    out = tmp_path_factory.mktemp("conditional-export")
    export_checkpoint(conditional_checkpoints["dcgan"], out)
    return out


@pytest.fixture(scope="module")
def conditional_site(tmp_path_factory: pytest.TempPathFactory, conditional_export: Path) -> Path:
    return build(conditional_export, tmp_path_factory.mktemp("sites") / "conditional")


@pytest.fixture(scope="module")
def trained_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A conditional DCGAN trained long enough to draw the digits it is asked for: 600
    steps at width 16 (about 15 s on two CPU cores); its class-as-asked, by the evaluate
    classifier on page seed 0, measured 0.88. Without R1, which pays off over whole runs but
    slows the first few hundred steps (0.30 with it here)."""
    from ganport.export import export_checkpoint

    run = tmp_path_factory.mktemp("trained-conditional")
    checkpoint = train_run(run / "run", "dcgan", 28, steps=600, width=16, classes=10, r1_gamma=0.0)
    export_checkpoint(checkpoint, run / "export")
    return build(run / "export", run / "site")


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """``folder`` on a static HTTP server at 127.0.0.1, a free port, in a thread."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=folder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def opened(browser: Any, folder: Path, query: str = "", init: str = "") -> Iterator[Any]:
    """The site's page, served over HTTP, once it has loaded or failed."""
    with served(folder) as url, loaded(browser, url + query, init) as page:
        yield page


@contextlib.contextmanager
def loaded(browser: Any, url: str, init: str = "") -> Iterator[Any]:
    """The page at ``url`` once it has loaded or failed; ``page.errors`` collects the
    console errors and uncaught exceptions."""
    page = browser.new_page()
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    if init:
        page.add_init_script(init)
    try:
        page.goto(url)
        page.wait_for_function("document.body.dataset.state !== 'loading'", timeout=LOAD_MS)
        yield page
    finally:
        page.close()


def call(page: Any, expression: str, *arrays: np.ndarray) -> np.ndarray:
    """Evaluate ``expression`` (a function of Float32Array arguments) and return its array."""
    script = (
        f"async (args) => Array.from(await ({expression})(...args.map(a => Float32Array.from(a))))"
    )
    return np.array(page.evaluate(script, [a.ravel().tolist() for a in arrays]), np.float64)


def test_the_page_runs_the_models_as_python_onnxruntime_does(
    browser: Any, conditional_site: Path, conditional_export: Path
):
    generator = Generator(conditional_export / "generator.onnx", provider="cpu")
    discriminator = Discriminator(conditional_export / "discriminator.onnx", provider="cpu")
    z = latent(6, generator.nz, seed=3)
    z = np.concatenate([z, edge_latent(latent(12, generator.nz, seed=4), generator.classes)])
    with opened(browser, conditional_site) as page:
        assert page.evaluate("document.body.dataset.state") == "ready"
        info = page.evaluate("window.ganport.info")
        assert (info["backend"], info["generator"]["classes"]) == ("wasm", 10)
        assert len(page.query_selector_all("#grid figure canvas")) == 16
        assert page.query_selector_all("#class option")[-1].inner_text() == "9"
        images = call(page, f"z => window.ganport.generate(z, {len(z)})", z)
        want = generator.generate(z)
        assert np.abs(images.reshape(want.shape) - want).max() <= 1e-5
        one = call(page, "z => window.ganport.generate(z, 1)", z[:1])
        assert np.abs(one.reshape(want[:1].shape) - want[:1]).max() <= 1e-5
        scores = call(page, f"x => window.ganport.score(x, {len(z)})", want)  # P(real)
        assert np.abs(scores - discriminator.probability(want)).max() <= 1e-5
        with pytest.raises(Exception, match="reads its class from z"):
            call(page, f"z => window.ganport.generate(z, {len(z)}, 3)", z)
        facts = page.inner_text("#facts")
        assert "10, class from z[:, 0]" in facts and "sigmoid(logit)" in facts
        assert "ms per batch of 16" in page.inner_text("#status")
        assert page.errors == []


def test_the_page_class_rule_and_slerp_match_python(browser: Any, conditional_site: Path):
    classes, nz = 10, 16
    z = edge_latent(latent(5 * (classes - 1), nz, seed=0), classes)
    n = len(z)
    with opened(browser, conditional_site) as page:
        edges = call(page, "() => window.ganport.classEdges()")
        assert np.array_equal(edges.astype(np.float32), class_edges(classes))
        labels = call(page, f"z => window.ganport.classOfLatent(z, {n})", z)
        assert np.array_equal(labels, class_of_latent(z, classes))
        for k in range(classes):
            moved = call(page, f"z => window.ganport.latentOfClass(z, {n}, {k})", z)
            want = latent_of_class(z, classes, k)
            assert np.abs(moved.reshape(want.shape) - want).max() <= 1e-6
            assert (class_of_latent(moved.reshape(want.shape), classes) == k).all()
        a, b = latent(1, nz, seed=1)[0], latent(1, nz, seed=2)[0]
        path = call(page, "(a, b) => window.ganport.slerp(a, b, 7)", a, b)
        assert np.abs(path.reshape(7, nz) - slerp(a, b, 7)).max() <= 1e-6
        # A page seed is numpy's default_rng seed, bit for bit (tests/web checks it at length).
        z = call(page, "() => window.ganport.latent(5, 3)").astype(np.float32)
        assert np.array_equal(z.reshape(3, nz), latent(3, nz, seed=5))
        page.select_option("#class", "4")
        page.wait_for_function(
            "[...document.querySelectorAll('#grid figure')].every(f => f.dataset.class === '4')"
        )
        assert page.errors == []


def test_a_site_of_an_export_with_external_data_runs_as_python_does(
    browser: Any, conditional_checkpoints, tmp_path: Path
):
    """Weights kept beside the models (export --external-data) travel with the site and
    reach onnxruntime-web as its external data; a weights file swapped by hand is refused."""
    from ganport.export import ExportOptions, export_checkpoint

    export = tmp_path / "export"
    export_checkpoint(
        conditional_checkpoints["dcgan"], export, options=ExportOptions(external_data=True)
    )
    site = build(export, tmp_path / "site")
    assert (site / "generator.onnx.data").is_file()
    generator = Generator(export / "generator.onnx", provider="cpu")
    discriminator = Discriminator(export / "discriminator.onnx", provider="cpu")
    z = latent(5, generator.nz, seed=8)
    with opened(browser, site) as page:
        images = call(page, "z => window.ganport.generate(z, 5)", z)
        want = generator.generate(z)
        assert np.abs(images.reshape(want.shape) - want).max() <= 1e-5
        scores = call(page, "x => window.ganport.score(x, 5)", want)
        assert np.abs(scores - discriminator.probability(want)).max() <= 1e-5
        assert page.errors == []
    data = export / "generator.onnx.data"
    data.write_bytes(data.read_bytes()[::-1])
    with pytest.raises(InputError, match=r"generator\.onnx\.data: sha256 differs"):
        build(export, tmp_path / "site2")


def test_an_unconditional_site_without_d(browser: Any, dcgan28_export: Path, tmp_path: Path):
    site = build(dcgan28_export, tmp_path / "site", discriminator=False)
    generator = Generator(dcgan28_export / "generator.onnx", provider="cpu")
    z = latent(16, generator.nz, seed=5)
    with opened(browser, site) as page:
        for n in (1, 16):
            images = call(page, f"z => window.ganport.generate(z, {n})", z[:n])
            want = generator.generate(z[:n])
            assert np.abs(images.reshape(want.shape) - want).max() <= 1e-5
        assert page.is_hidden("#class-label")
        assert page.evaluate("window.ganport.info.discriminator") is None
        page.select_option("#count", "8")
        page.click("#generate")
        page.wait_for_function("document.querySelectorAll('#grid figure').length === 8")
        assert page.input_value("#seed") == "1"
        assert "D " not in page.inner_text("#grid")
        assert page.errors == []


def test_a_failing_backend_falls_back_to_wasm_and_says_so(browser: Any, conditional_site: Path):
    no_webgpu = "Object.defineProperty(navigator, 'gpu', { value: undefined });"
    with opened(browser, conditional_site, "?backend=webgpu", no_webgpu) as page:
        info = page.evaluate("window.ganport.info")
        assert info["backend"] == "wasm"
        assert "webgpu failed" in info["backendNote"] and "fell back to wasm" in info["backendNote"]
        assert "fell back to wasm" in page.inner_text("#status")


def test_a_broken_site_shows_its_error_on_the_page(
    browser: Any, conditional_site: Path, tmp_path: Path
):
    broken = shutil.copytree(conditional_site, tmp_path / "broken")
    (broken / "generator.onnx").unlink()
    with opened(browser, broken) as page:
        assert page.evaluate("document.body.dataset.state") == "error"
        assert page.is_visible("#error")
        assert "generator.onnx: HTTP 404" in page.inner_text("#error")


def shown(page: Any, field: str) -> np.ndarray:
    """The float32 array ``field`` (z or images) of the grid the page shows."""
    return np.array(page.evaluate(f"Array.from(window.ganport.shown.{field})"), np.float32)


def show(page: Any, seed: str | None = None, label: str | None = None) -> None:
    """Ask the page for a seed (typed, then Enter) and/or a class; wait for its grid."""
    if seed is not None:
        page.fill("#seed", seed)
        page.press("#seed", "Enter")
    if label is not None:
        page.select_option("#class", label)
    want = "null" if label == "" else label
    page.wait_for_function(
        "(s) => window.ganport.shown && (s[0] === null || window.ganport.shown.seed === s[0])"
        " && (s[1] === null || String(window.ganport.shown.label) === s[1])",
        arg=[seed, want],
    )


def test_a_page_seed_and_class_give_ganport_samples_images(
    browser: Any, conditional_site: Path, conditional_export: Path, tmp_path: Path
):
    seed, label, n = 2**64 - 1, 3, 16  # beyond a JavaScript Number: the field is exact
    model = conditional_export / "generator.onnx"
    args = ["sample", model, "-n", n, "--seed", seed]
    plain, of_class = tmp_path / "plain.npy", tmp_path / "class.npy"
    for extra in (["--npy", plain], ["--class", label, "--npy", of_class]):
        result = run_ganport(*args, *extra)
        assert result.returncode == 0, result.stderr
    nz = Generator(model, provider="cpu").nz
    with opened(browser, conditional_site) as page:
        show(page, seed=str(seed))
        z = shown(page, "z").reshape(n, nz)
        assert np.array_equal(z.view(np.uint32), latent(n, nz, seed).view(np.uint32))
        assert (
            np.abs(shown(page, "images").reshape(n, -1) - np.load(plain).reshape(n, -1)).max()
            <= 1e-5
        )
        show(page, label=str(label))
        z = shown(page, "z").reshape(n, nz)
        assert np.abs(z - latent_of_class(latent(n, nz, seed), 10, label)).max() <= 1e-6
        images = shown(page, "images").reshape(n, -1)
        assert np.abs(images - np.load(of_class).reshape(n, -1)).max() <= 1e-5
        page.click("#generate")  # the next seed, as a whole number however large
        page.wait_for_function(f"window.ganport.shown.seed === '{seed + 1}'")
        assert page.input_value("#seed") == str(seed + 1)
        page.fill("#seed", "-1")
        page.press("#seed", "Enter")
        page.wait_for_function("!document.querySelector('#error').hidden")
        assert "Seed: a whole number ≥ 0" in page.inner_text("#error")
        assert page.evaluate("document.body.dataset.state") == "ready"  # the grid stays
        assert page.errors == []


def canvas_pixels(page: Any) -> np.ndarray:
    """The grid's canvases read back as uint8 (n, H, W) (the red channel: grey images)."""
    pixels = page.evaluate(
        """() => [...document.querySelectorAll('#grid canvas')].map((canvas) => {
            const context = canvas.getContext('2d');
            const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
            return Array.from(data.filter((_, i) => i % 4 === 0));
        })"""
    )
    return np.array(pixels, np.uint8).reshape(len(pixels), 28, 28)


def test_the_class_picker_draws_the_class_asked_for(
    browser: Any, trained_site: Path, mnist5k_feature_net: Any
):
    """Each class's 16 images, read back from the page's canvases, go to the classifier of
    ``ganport evaluate``: class-as-asked must be at least 0.7 (chance: 0.1; measured 0.88)."""
    agreement = []
    with opened(browser, trained_site) as page:
        for label in range(10):
            show(page, label=str(label))
            pixels = canvas_pixels(page)
            images = pixels[:, None].astype(np.float32) / 127.5 - 1
            predicted = mnist5k_feature_net.embed(images).probs.argmax(axis=1)
            agreement.append(float((predicted == label).mean()))
        assert page.errors == []
    assert np.mean(agreement) >= 0.7, agreement


def screenshot_ink(page: Any) -> np.ndarray:
    """Each grid canvas as the screen shows it (its rounded corners cut off): its grey
    level's standard deviation and its fraction of bright ("ink") pixels, (n, 2)."""
    from PIL import Image

    stats = []
    canvases = page.locator("#grid canvas")
    for i in range(canvases.count()):
        png = canvases.nth(i).screenshot()
        grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), np.float64)
        h, w = grey.shape
        grey = grey[h // 16 : h - h // 16, w // 16 : w - w // 16]  # not the rounded corners
        stats.append((grey.std(), (grey > 128).mean()))
    return np.array(stats)


def test_the_grid_renders_digits(browser: Any, trained_site: Path):
    with opened(browser, trained_site) as page:
        stats = screenshot_ink(page)
        # White strokes on black, as MNIST: far from one colour, the strokes a few to a
        # few tens of percent of the square (measured: std 55-90, ink 0.07-0.22).
        assert len(stats) == 16
        assert (stats[:, 0] > 30).all() and ((stats[:, 1] > 0.03) & (stats[:, 1] < 0.5)).all(), (
            stats
        )
        # The same statistics call a grid of black canvases blank.
        page.evaluate(
            """() => document.querySelectorAll('#grid canvas').forEach((c) => {
                const g = c.getContext('2d');
                g.fillStyle = '#000';
                g.fillRect(0, 0, c.width, c.height);
            })"""
        )
        blank = screenshot_ink(page)
        assert (blank[:, 0] < 30).all() and (blank[:, 1] < 0.03).all(), blank


def expect_one_message(page: Any, text: str) -> None:
    assert page.evaluate("document.body.dataset.state") == "error"
    assert page.is_visible("#error")
    assert text in page.inner_text("#error")
    assert page.inner_text("#status") == "The generator could not run."
    assert page.query_selector_all("#grid figure") == []


def test_a_model_that_is_not_a_ganport_generator_is_refused_on_the_page(
    browser: Any, conditional_site: Path, tmp_path: Path
):
    import onnx

    swapped = shutil.copytree(conditional_site, tmp_path / "swapped")
    shutil.copyfile(swapped / "discriminator.onnx", swapped / "generator.onnx")
    with opened(browser, swapped) as page:
        expect_one_message(page, "generator.onnx is a ganport discriminator, not a generator")
    bare = shutil.copytree(conditional_site, tmp_path / "bare")
    model = onnx.load(bare / "generator.onnx")
    del model.metadata_props[:]
    onnx.save(model, bare / "generator.onnx")
    with opened(browser, bare) as page:
        expect_one_message(page, "generator.onnx is not a ganport generator: it has no 'ganport'")
    (bare / "generator.onnx").write_bytes(b"\xff" * 64)
    with opened(browser, bare) as page:
        expect_one_message(page, "generator.onnx is not a ganport generator: not an ONNX model")


def test_a_site_opened_from_a_file_says_to_serve_it(browser: Any, conditional_site: Path):
    with loaded(browser, (conditional_site / "index.html").as_uri()) as page:
        expect_one_message(page, "opened from a file")
        assert "python -m http.server" in page.inner_text("#error")


def test_the_page_class_rule_follows_a_run_on_modes(browser: Any, tmp_path: Path):
    """A run on modes draws each as often as its cluster holds images: the page reads the
    shares from the model's metadata and cuts z[:, 0] where Python does."""
    from ganport.export import export_checkpoint

    checkpoint = train_run(tmp_path / "run", "dcgan", 28, steps=2, modes=4)
    export_checkpoint(checkpoint, tmp_path / "export")
    generator = Generator(tmp_path / "export" / "generator.onnx", provider="cpu")
    shares = generator.metadata.class_shares
    assert shares is not None and max(shares) - min(shares) > 0.01
    z = edge_latent(latent(5 * 3, generator.nz, seed=0), 4, shares)
    n = len(z)
    with opened(browser, build(tmp_path / "export", tmp_path / "site")) as page:
        edges = call(page, "() => window.ganport.classEdges()")
        assert np.array_equal(edges.astype(np.float32), class_edges(4, shares))
        assert not np.array_equal(edges.astype(np.float32), class_edges(4))
        labels = call(page, f"z => window.ganport.classOfLatent(z, {n})", z)
        assert np.array_equal(labels, class_of_latent(z, 4, shares))
        for k in range(4):
            moved = call(page, f"z => window.ganport.latentOfClass(z, {n}, {k})", z)
            want = latent_of_class(z, 4, k, shares)
            assert np.abs(moved.reshape(want.shape) - want).max() <= 1e-6
        assert "each as often as its cluster" in page.inner_text("#facts")
        assert page.errors == []


# Models written elsewhere (tests/own_models), exported with `ganport export --model`.
OWN_MODELS = ROOT / "tests" / "own_models"


def export_own(
    out: Path, module: str, args: dict[str, Any] | None = None, running_var: float | None = None
) -> Path:
    """Seeded G and D of tests/own_models/``module``.py, saved as one weights file and
    exported by the CLI (in-process) to ``out``/export. ``running_var``: every BatchNorm's,
    as a trained model's statistics might be, so that images and scores are not the flat
    ones of a fresh init (std 1e-3, P(real) 0.5 ± 3e-6 for the DCGAN)."""
    import importlib
    import json

    import torch

    from ganport.cli import main

    source = importlib.import_module(f"tests.own_models.{module}")
    torch.manual_seed(0)
    weights = {}
    for role, name in (("generator", "Generator"), ("discriminator", "Discriminator")):
        module_ = getattr(source, name)(**(args or {}))
        for layer in module_.modules():
            if running_var is not None and isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
                layer.running_var.fill_(running_var)
        weights[role] = module_.state_dict()
    torch.save(weights, out / "weights.pt")
    model = OWN_MODELS / f"{module}.py"
    options = ["--model-args", json.dumps(args), "--discriminator-args", json.dumps(args)]
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "export",
                str(out / "weights.pt"),
                "--model",
                f"{model}:Generator",
                "--discriminator-model",
                f"{model}:Discriminator",
                *(options if args else []),
                "--out",
                str(out / "export"),
            ]
        )
    assert exit_.value.code == 0
    return out / "export"


@pytest.fixture(scope="module")
def labels_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PyTorch-GAN's cgan: G(noise, labels) and D(img, labels) → a logit, 10 classes."""
    return export_own(tmp_path_factory.mktemp("cgan"), "pytorch_gan_cgan")


@pytest.fixture(scope="module")
def labels_site(tmp_path_factory: pytest.TempPathFactory, labels_export: Path) -> Path:
    return build(labels_export, tmp_path_factory.mktemp("sites") / "cgan")


def strip_pixels(page: Any) -> np.ndarray:
    """The strip's canvases read back as uint8 (steps, C, H, W)."""
    pixels = page.evaluate(
        """() => [...document.querySelectorAll('#strip canvas')].map((canvas) => {
            const context = canvas.getContext('2d');
            return Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data);
        })"""
    )
    rgba = np.array(pixels, np.uint8).reshape(len(pixels), 28, 28, 4)
    return rgba[..., :1].transpose(0, 3, 1, 2)


def labels_of(page: Any, expression: str) -> list[int]:
    return page.evaluate(f"Array.from({expression})")


def test_a_generator_and_d_that_take_labels_run_on_the_page_as_in_python(
    browser: Any, labels_site: Path, labels_export: Path
):
    """The page feeds G and D a labels input by Python's rule: the class z[:, 0] selects,
    or the class picked for every row with z unchanged; the strip keeps seed A's class."""
    generator = Generator(labels_export / "generator.onnx", provider="cpu")
    discriminator = Discriminator(labels_export / "discriminator.onnx", provider="cpu")
    assert generator.metadata.takes_labels and discriminator.metadata.takes_labels
    seed, n, nz, label = 7, 16, generator.nz, 3
    drawn = latent(n, nz, seed)
    with opened(browser, labels_site) as page:
        assert page.evaluate("document.body.dataset.state") == "ready", page.inner_text("#error")
        facts = page.inner_text("#facts")
        assert "10, class as an input" in facts and "fed each image's class" in facts
        # The grid of seed 7: z as drawn, each row's class from z[:, 0].
        show(page, seed=str(seed))
        assert np.array_equal(shown(page, "z").reshape(n, nz), drawn)
        classes = class_of_latent(drawn, 10)
        assert len(set(classes)) > 3
        assert labels_of(page, "window.ganport.shown.labels") == classes.tolist()
        figures = page.query_selector_all("#grid figure")
        assert [int(f.get_attribute("data-class")) for f in figures] == classes.tolist()
        want = generator.sample(n, seed=seed)
        assert np.abs(shown(page, "images").reshape(want.shape) - want).max() <= 1e-5
        p = discriminator.probability(want, labels=classes)
        assert np.abs(shown(page, "scores") - p).max() <= 1e-5
        assert p.std() > 1e-3  # the scores differ: a wrong label or image would show
        # Class 3 picked: z unchanged, labels all 3.
        show(page, label=str(label))
        assert np.array_equal(shown(page, "z").reshape(n, nz), drawn)
        assert labels_of(page, "window.ganport.shown.labels") == [label] * n
        want = generator.sample(n, seed=seed, label=label)
        assert np.abs(shown(page, "images").reshape(want.shape) - want).max() <= 1e-5
        p = discriminator.probability(want, labels=label)
        assert np.abs(shown(page, "scores") - p).max() <= 1e-5
        # The strip with class 3: slerp's z, labels 3; with none: seed A's class throughout.
        page.fill("#seed-a", "4")
        page.fill("#seed-b", "9")
        page.fill("#steps", "5")
        for picked in (str(label), ""):
            show(page, label=picked)
            page.click("#interpolate")
            page.wait_for_function("document.querySelectorAll('#strip canvas').length === 5")
            if picked:
                a, b = latent(1, nz, 4)[0], latent(1, nz, 9)[0]
                want = generator.generate(slerp(a, b, 5), label)
            else:
                want = generator.interpolate(4, 9, 5)
            got = strip_pixels(page).astype(int)
            assert np.abs(got - Generator.to_uint8(want).astype(int)).max() <= 1
        # The API: labels derived, one class, or one per row; D needs them.
        z = drawn[:6]
        got = call(page, "z => window.ganport.generate(z, 6)", z)
        assert np.abs(got.reshape(6, -1) - generator.generate(z).reshape(6, -1)).max() <= 1e-5
        got = call(page, "z => window.ganport.generate(z, 6, 9)", z)
        assert np.abs(got.reshape(6, -1) - generator.generate(z, 9).reshape(6, -1)).max() <= 1e-5
        rows = [0, 1, 2, 7, 8, 9]
        images = generator.generate(z, np.array(rows))
        got = call(page, f"z => window.ganport.generate(z, 6, {rows})", z)
        assert np.abs(got.reshape(images.shape) - images).max() <= 1e-5
        got = call(page, f"x => window.ganport.score(x, 6, {rows})", images)
        assert np.abs(got - discriminator.probability(images, labels=np.array(rows))).max() <= 1e-5
        with pytest.raises(Exception, match="takes the images' class as an input"):
            call(page, "x => window.ganport.score(x, 6)", images)
        with pytest.raises(Exception, match=r"labels must be a class or 6 classes"):
            call(page, "z => window.ganport.generate(z, 6, 10)", z)
        assert page.errors == []


@pytest.fixture(scope="module")
def sigmoid_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pytorch/examples' DCGAN: z as (N, nz, 1, 1), a D that ends in a Sigmoid."""
    out = tmp_path_factory.mktemp("dcgan")
    return export_own(out, "pytorch_examples_dcgan", {"ngpu": 1}, running_var=0.03)


def test_a_discriminator_that_ends_in_a_sigmoid_gives_its_probability_on_the_page(
    browser: Any, sigmoid_export: Path, tmp_path: Path
):
    generator = Generator(sigmoid_export / "generator.onnx", provider="cpu")
    discriminator = Discriminator(sigmoid_export / "discriminator.onnx", provider="cpu")
    assert discriminator.metadata.d_output == "probability"
    site = build(sigmoid_export, tmp_path / "site")
    n = 8
    with opened(browser, site) as page:
        assert page.evaluate("document.body.dataset.state") == "ready", page.inner_text("#error")
        assert "ends in a sigmoid" in page.inner_text("#facts")
        assert page.is_hidden("#class-label")
        page.select_option("#count", str(n))
        show(page, seed="5")
        page.wait_for_function(f"window.ganport.shown.n === {n}")
        want = generator.sample(n, seed=5)
        assert np.abs(shown(page, "images").reshape(want.shape) - want).max() <= 1e-5
        p = discriminator.probability(want)
        assert ((p > 0.01) & (p < 0.99)).all() and p.std() > 0.05
        assert np.abs(shown(page, "scores") - p).max() <= 1e-5  # not sigmoid(p)
        captions = [f.inner_text() for f in page.query_selector_all("#grid figcaption")]
        assert captions == [f"D {v:.3f}" for v in p]
        assert page.query_selector("#grid figure[data-logit]") is None
        got = call(page, f"x => window.ganport.score(x, {n})", want)
        assert np.abs(got - p).max() <= 1e-5
        with pytest.raises(Exception, match="takes no labels"):
            call(page, f"x => window.ganport.score(x, {n}, 0)", want)
        assert page.errors == []


# Calls the page's API the moment window.ganport exists, before the models have loaded.
EARLY_CALLS = """
Object.defineProperty(window, 'ganport', {
  configurable: true,
  set(api) {
    Object.defineProperty(window, 'ganport', { value: api, configurable: true });
    let latentError = null;
    try { api.latent(0, 1); } catch (e) { latentError = e.message; }
    window.early = {
      latentError,
      images: api.generate(new Float32Array(NZ).fill(0.5), 1).then(Array.from, e => e.message),
    };
  },
});
"""


def test_api_calls_before_the_models_load_wait_or_say_so(
    browser: Any, dcgan28_export: Path, tmp_path: Path
):
    site = build(dcgan28_export, tmp_path / "site", discriminator=False)
    generator = Generator(dcgan28_export / "generator.onnx", provider="cpu")
    init = EARLY_CALLS.replace("NZ", str(generator.nz))
    with opened(browser, site, init=init) as page:
        assert "await window.ganport.ready first" in page.evaluate("window.early.latentError")
        images = np.array(page.evaluate("window.early.images"), np.float64)
        want = generator.generate(np.full((1, generator.nz), 0.5, np.float32))
        assert np.abs(images.reshape(want.shape) - want).max() <= 1e-5
        assert page.errors == []


# One generated call of window.ganport.generate: z's container, length and values, n, label.
GENERATED_CALL = """
async (cases) => {
  const nz = window.ganport.info.generator.nz;
  const results = [];
  for (const c of cases) {
    const length = Math.max(0, c.n_rows * nz + c.extra);
    const values = Array.from({ length }, (_, i) => Math.sin(i));
    if (c.nan && values.length) values[values.length >> 1] = c.nan === 'inf' ? Infinity : NaN;
    const z = { f32: Float32Array, f64: Float64Array, i32: Int32Array }[c.kind]?.from(values)
      ?? (c.kind === 'array' ? values : null);
    try {
      const out = await window.ganport.generate(z, c.n, c.label);
      results.push({ ok: true, length: out.length, finite: out.every(Number.isFinite) });
    } catch (e) {
      results.push({ ok: false, name: e.name, message: String(e.message) });
    }
  }
  return results;
}
"""


def _generated_calls(seed: int, count: int, classes: int) -> list[dict[str, Any]]:
    """Seeded calls: a valid one with none, one or two of its fields broken (z's container,
    length or values, n, the label)."""
    rng = np.random.default_rng(seed)
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    faults = {
        "kind": lambda rows: pick(["f64", "i32", "array", "null"]),
        "extra": lambda rows: pick([1, -1]),
        "n": lambda rows: pick([0, -1, rows + 0.5, None, rows + 1]),
        "nan": lambda rows: pick(["nan", "inf"]),
        "label": lambda rows: pick([classes, -1, 2.5, [1], [classes] * rows, "3"]),
    }
    calls = []
    for _ in range(count):
        rows = int(rng.integers(1, 4))
        label = pick([None, 0, classes - 1, [int(k) for k in rng.integers(0, classes, rows)]])
        call = {"kind": "f32", "n_rows": rows, "extra": 0, "n": rows, "nan": False, "label": label}
        for field in rng.choice(list(faults), size=pick([0, 0, 1, 1, 2]), replace=False):
            call[str(field)] = faults[str(field)](rows)
        calls.append(call)
    return calls


def _valid(call: dict[str, Any], classes: int) -> bool:
    label = call["label"]
    good_label = (
        label is None
        or (isinstance(label, int) and 0 <= label < classes)
        or (
            isinstance(label, list)
            and len(label) == call["n_rows"]
            and all(isinstance(k, int) and 0 <= k < classes for k in label)
        )
    )
    return (
        call["kind"] == "f32"
        and call["extra"] == 0
        and call["n"] == call["n_rows"]
        and not call["nan"]
        and good_label
    )


def test_generated_api_calls_give_images_or_one_clear_error(browser: Any, labels_site: Path):
    """Every call either returns n finite images or rejects with an error of the API's own
    (never a TypeError from deep inside, never NaN images)."""
    calls = _generated_calls(seed=34, count=60, classes=10)
    with opened(browser, labels_site) as page:
        pixels = int(np.prod(page.evaluate("window.ganport.info.generator.channels")) * 28 * 28)
        results = page.evaluate(GENERATED_CALL, calls)
        assert page.errors == []
    assert sum(_valid(c, 10) for c in calls) >= 5  # the generator makes good calls too
    for call, result in zip(calls, results, strict=True):
        if _valid(call, 10):
            assert result == {"ok": True, "length": call["n"] * pixels, "finite": True}, call
        else:
            assert not result["ok"], call
            assert result["name"] == "RangeError" and len(result["message"]) > 10, (call, result)
