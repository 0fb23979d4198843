"""Every arch × image size × exporter × opset exports, loads and matches torch."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from ganport.train import latent, load_checkpoint
from tests.conftest import ARCH_SIZES, EXPORTERS, OPSETS

IR_OF_OPSET = {13: 7, 17: 8, 18: 8}
CASES = [(a, s, e, o) for a, s in ARCH_SIZES for e in EXPORTERS for o in OPSETS]


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_export_runs_at_every_batch_size_and_matches_torch(case, export_matrix, checkpoints):
    arch, size, _exporter, opset = case
    folder = export_matrix[case]
    ckpt = load_checkpoint(checkpoints[(arch, size)])
    g, d = ckpt.generator(), ckpt.discriminator()
    nz = ckpt.config.model.nz
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in ("generator.onnx", "discriminator.onnx", "generator_fp16.onnx"):
        model = onnx.load(str(folder / name))
        assert any(o.version == opset for o in model.opset_import if o.domain in ("", "ai.onnx"))
        assert not any(n.op_type == "BatchNormalization" for n in model.graph.node)
        # The lowest IR version the opset needs, whichever exporter made it: 7 for opset
        # 13, 8 for 17 (onnxruntime 1.15 reads up to IR 9).
        assert model.ir_version == IR_OF_OPSET[opset]
        meta = json.loads({p.key: p.value for p in model.metadata_props}["ganport"])
        assert meta["ir_version"] == model.ir_version
        (entry,) = [m for m in manifest["models"] if m["file"] == name]
        assert entry["ir_version"] == model.ir_version
    for batch in (1, 2, 7, 64):
        z = latent(batch, nz, seed=batch)
        image = _run(folder / "generator.onnx", z)
        with torch.no_grad():
            want = g(torch.from_numpy(z)).numpy()
        assert image.shape == (batch, 1, size, size)
        assert np.abs(image - want).max() <= 1e-5
        logit = _run(folder / "discriminator.onnx", want)
        with torch.no_grad():
            want_logit = d(torch.from_numpy(want)).numpy()
        assert logit.shape == (batch,)
        assert np.abs(logit - want_logit).max() <= 1e-5
