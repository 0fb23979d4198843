"""The page of ``ganport web`` in a real headless Chromium, on onnxruntime-web's wasm backend.

Needs Chromium (GANPORT_CHROMIUM, default /usr/bin/chromium), the playwright Python
package (its browser driver only: the system Chromium runs, nothing is downloaded) and
the npm onnxruntime-web package (GANPORT_ONNXRUNTIME_WEB, default
.web/node_modules/onnxruntime-web); each test is skipped, with the reason, without them.
"""

from __future__ import annotations

import contextlib
import functools
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
from ganport.core.latent import latent, slerp
from ganport.infer import Discriminator, Generator

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
    """The site's page once it has loaded or failed; ``page.errors`` collects the console
    errors and uncaught exceptions."""
    with served(folder) as url:
        page = browser.new_page()
        page.errors = []
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        if init:
            page.add_init_script(init)
        try:
            page.goto(url + query)
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
        logits = call(page, f"x => window.ganport.score(x, {len(z)})", want)
        assert np.abs(logits - discriminator.score(want)).max() <= 1e-5
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
        # Row i of a page seed is sample i whatever n is.
        first = call(page, "() => window.ganport.latent(5, 3)")
        assert np.array_equal(first, call(page, "() => window.ganport.latent(5, 8)")[: 3 * nz])
        page.select_option("#class", "4")
        page.wait_for_function(
            "[...document.querySelectorAll('#grid figure')].every(f => f.dataset.class === '4')"
        )
        assert page.errors == []


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
