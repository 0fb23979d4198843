"""`ganport evaluate` on a real briefly trained run, its ONNX export and real mnist5k."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ganport.core.errors import InputError
from ganport.infer.quality.evaluate import evaluate
from tests.conftest import run_inprocess as ganport

N = 500


@pytest.fixture(scope="module")
def checkpoint_eval(dcgan28_checkpoint: Path, mnist5k_feature_net):
    return evaluate(dcgan28_checkpoint, n=N, provider="cpu", feature_net=mnist5k_feature_net)


def test_a_barely_trained_generator_lies_between_floor_and_ceiling(checkpoint_eval):
    result = checkpoint_eval
    assert (result.source, result.provider, result.data) == ("checkpoint", "torch-cpu", "mnist5k")
    assert result.image_shape == (1, 28, 28) and result.reference_size == 4000
    model, floor, ceiling = result.model, result.floor, result.ceiling
    assert (model.n, result.model_matched.n, floor.n, ceiling.n) == (N, N, 1000, N)
    assert floor.fid < model.fid < ceiling.fid
    assert floor.kid_mean < model.kid_mean < ceiling.kid_mean
    assert 0 < result.fid_position < 1
    # Real held-out images: what a perfect generator scores.
    assert floor.classifier_score > 9.0 and floor.classes_covered == 10
    assert floor.precision > 0.7 and floor.recall > 0.7
    # Uniform noise: nothing real about it.
    assert ceiling.classifier_score < 1.5 and ceiling.classes_covered <= 2
    assert (ceiling.precision, ceiling.recall) == (0.0, 0.0)
    # Six training steps: far from real digits.
    assert model.classifier_score < floor.classifier_score
    assert model.precision < floor.precision
    assert sum(model.class_histogram) == pytest.approx(1.0)
    assert result.feature_net["test_accuracy"] >= 0.97


def test_the_report_is_plain_json_with_versions(checkpoint_eval):
    report = json.loads(json.dumps(checkpoint_eval.to_dict()))
    assert report["fid_position"] == pytest.approx(checkpoint_eval.fid_position)
    assert report["floor"]["fid"] == checkpoint_eval.floor.fid
    assert {"torch", "numpy", "scipy", "ganport"} <= set(report["versions"])
    assert report["seconds"]["total"] > 0


def test_onnx_and_checkpoint_give_the_same_figures(
    dcgan28_export, checkpoint_eval, mnist5k_feature_net
):
    result = evaluate(
        dcgan28_export / "generator.onnx", n=N, provider="cpu", feature_net=mnist5k_feature_net
    )
    assert (result.source, result.provider, result.data) == (
        "onnx",
        "CPUExecutionProvider",
        "mnist5k",
    )
    assert "onnxruntime" in result.versions
    onnx_fig, torch_fig = result.model, checkpoint_eval.model
    assert onnx_fig.fid == pytest.approx(torch_fig.fid, rel=1e-3)
    assert onnx_fig.kid_mean == pytest.approx(torch_fig.kid_mean, rel=1e-3)
    assert onnx_fig.classifier_score == pytest.approx(torch_fig.classifier_score, rel=1e-3)
    assert onnx_fig.precision == pytest.approx(torch_fig.precision, abs=0.01)
    assert onnx_fig.recall == pytest.approx(torch_fig.recall, abs=0.01)
    # Same real data, same noise seed: the reference points are the same numbers.
    assert result.floor == checkpoint_eval.floor
    assert result.ceiling == checkpoint_eval.ceiling


def test_a_feature_network_of_other_data_is_refused(dcgan28_checkpoint, mnist5k_feature_net):
    with pytest.raises(InputError, match="was trained on 'mnist5k'"):
        evaluate(dcgan28_checkpoint, data="digits", n=N, feature_net=mnist5k_feature_net)


def test_cli_prints_every_figure_beside_floor_and_ceiling(
    dcgan28_checkpoint, mnist5k_feature_net, tmp_path, capsys
):
    report = tmp_path / "eval.json"
    cache = mnist5k_feature_net.path.parent
    code, out, err = ganport(
        capsys, "evaluate", dcgan28_checkpoint, "-n", 200, "--cache-dir", cache, "--json", report
    )
    assert code == 0, err
    assert "floor: real" in out and "ceiling: noise" in out
    assert "trained now" not in out  # the cached network was used
    data = json.loads(report.read_text())
    rows = {line.split("  ")[0]: line for line in out.splitlines()}
    assert f"{data['model']['fid']:.4g}" in rows["FID"]
    assert f"{data['floor']['fid']:.4g}" in rows["FID"]
    assert f"{data['ceiling']['fid']:.4g}" in rows["FID"]
    for name in ("KID", "classifier score", "classes covered", "precision (k=3)", "recall (k=3)"):
        assert len(rows[name].split()) > 4, name
    assert data["n"] == 200 and data["feature_net"]["path"] == str(mnist5k_feature_net.path)


def test_cli_input_errors_are_one_line_with_exit_code_2(
    dcgan28_checkpoint, dcgan28_export, mnist5k_feature_net, tmp_path, capsys
):
    cache = mnist5k_feature_net.path.parent
    unlabelled = tmp_path / "faces.npy"
    np.save(unlabelled, np.zeros((100, 28, 28), np.uint8))
    cases = [
        (["--data", tmp_path / "missing"], "neither a built-in data set"),
        (["--data", unlabelled], "has no labels"),
        (["-n", 10], "-n"),
    ]
    for extra, message in cases:
        code, _, err = ganport(capsys, "evaluate", dcgan28_checkpoint, *extra, "--cache-dir", cache)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    net = mnist5k_feature_net.path
    code, _, err = ganport(
        capsys, "evaluate", dcgan28_checkpoint, "--data", "digits", "--feature-net", net
    )
    assert code == 2 and "was trained on 'mnist5k'" in err and len(err.strip().splitlines()) == 1
    discriminator = dcgan28_export / "discriminator.onnx"
    code, _, err = ganport(capsys, "evaluate", discriminator, "--cache-dir", cache)
    assert code == 2 and "discriminator" in err and len(err.strip().splitlines()) == 1, err


def test_a_conditional_generator_is_scored_on_drawing_the_class_it_was_asked_for(
    conditional_checkpoints, checkpoint_eval, mnist5k_feature_net, tmp_path, capsys
):
    from ganport.export import export_generator

    checkpoint = conditional_checkpoints["dcgan"]
    result = evaluate(checkpoint, n=N, provider="cpu", feature_net=mnist5k_feature_net)
    onnx_path = export_generator(checkpoint, tmp_path / "generator.onnx").path
    through_onnx = evaluate(onnx_path, n=N, provider="cpu", feature_net=mnist5k_feature_net)
    assert 0.0 <= result.model.class_agreement <= 1.0
    assert through_onnx.model.class_agreement == pytest.approx(result.model.class_agreement)
    # On real held-out images the labels are the truth: the agreement is the net's accuracy.
    assert result.floor.class_agreement == pytest.approx(result.feature_net["test_accuracy"])
    assert result.ceiling.class_agreement is None
    assert checkpoint_eval.model.class_agreement is None  # unconditional: nothing was asked

    code, out, err = ganport(
        capsys, "evaluate", onnx_path, "-n", 100, "--cache-dir", mnist5k_feature_net.path.parent
    )
    assert code == 0, err
    assert "class as asked" in out
