"""Exact graph forms of one generator and ONNX Runtime session settings, timed side by side.

    python -m benchmarks.graph_forms CHECKPOINT [--batch-sizes 1,64] [--threads 2]
                                     [--seconds 2] [--rounds 10]

Each form computes the checkpoint's generator (checked here against it on the export
check's 64 latents; the export check's bound is 1e-5) with other ops:

- ``default``: the export default, BatchNorm folded and the Gemm stem;
- ``no gemm stem``: the first layer left a ConvTranspose;
- ``sub-pixel``: the hidden ConvTransposes as a 3×3 Conv (2.25× the multiply-adds) and
  the channels-last phase interleave (``rewrite.sub_pixel``, what int8 export uses);
- ``mobile``: every ConvTranspose, the image layer too, as a Conv and a DepthToSpace
  (``rewrite.mobile_form``);
- ``phase convs``: the hidden ConvTransposes as four 2×2 Convs, one per output phase,
  each on its own zero-padded input (exactly the ConvTranspose's multiply-adds), stacked
  and interleaved;
- ``one 2x2 conv``: the four phases' 2×2 kernels in one Conv on the input padded by one
  ((H+1)²/H² the multiply-adds), its ReLU fused, each phase sliced out and interleaved.

The default form also runs under the non-spinning session settings of ``ORT_CPU_CONFIGS``
and at one thread. Everything is timed interleaved (ganport.infer.compare.timing) with
torch eager on the checkpoint's module, so each ratio to the default holds on a busy
machine; medians and best-of are printed.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganport.core.classes import labels_for
from ganport.core.latent import latent
from ganport.export import ExportOptions, export_generator
from ganport.export.fold import fold_batchnorm
from ganport.export.rewrite import _PHASE_TAPS, _is_stride2_k4, gemm_stem, mobile_form, sub_pixel
from ganport.infer.compare.bench_engines import ORT_CPU_CONFIGS
from ganport.infer.compare.timing import Plan, time_interleaved
from ganport.infer.runtime.session import create_session
from ganport.train.checkpoint import load_checkpoint
from ganport.train.own import contract_form


def phase_kernels(layer: nn.ConvTranspose2d) -> torch.Tensor:
    """(2, 2, C_out, C_in, 2, 2): the 2×2 kernel of each output phase (a, b) of a k4 s2 p1
    ConvTranspose, its taps in input-offset order."""
    weight = layer.weight.detach()
    c_in, c_out = weight.shape[:2]
    kernels = torch.zeros(2, 2, c_out, c_in, 2, 2, dtype=weight.dtype)
    for a in (0, 1):
        for b in (0, 1):
            for i, kh in enumerate(dict(sorted(_PHASE_TAPS[a].items())).values()):
                for j, kw in enumerate(dict(sorted(_PHASE_TAPS[b].items())).values()):
                    kernels[a, b, :, :, i, j] = weight[:, :, kh, kw].t()
    return kernels


def interleave(phases: list[torch.Tensor]) -> torch.Tensor:
    """Four (N, C, H, W) phases in (a, b) order → (N, C, 2H, 2W)."""
    n, c, h, w = phases[0].shape
    stacked = torch.stack(phases, 1).reshape(n, 2, 2, c, h, w)
    return stacked.permute(0, 3, 4, 1, 5, 2).reshape(n, c, 2 * h, 2 * w)


class PhaseConvs(nn.Module):
    """A k4 s2 p1 ConvTranspose as four 2×2 Convs, one per output phase."""

    def __init__(self, layer: nn.ConvTranspose2d) -> None:
        super().__init__()
        kernels = phase_kernels(layer).flatten(0, 1)  # (4, C_out, C_in, 2, 2), (a, b) order
        self.convs = nn.ModuleList()
        for kernel in kernels:
            conv = nn.Conv2d(kernel.shape[1], kernel.shape[0], 2, bias=layer.bias is not None)
            with torch.no_grad():
                conv.weight.copy_(kernel)
                if layer.bias is not None:
                    conv.bias.copy_(layer.bias)
            self.convs.append(conv)
        # F.pad's (left, right, top, bottom) of phase (a, b): rows i-1, i for a = 0, i, i+1 for 1
        self.pads = [(1 - b, b, 1 - a, a) for a in (0, 1) for b in (0, 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pairs = zip(self.convs, self.pads, strict=True)
        return interleave([conv(nn.functional.pad(x, pad)) for conv, pad in pairs])


class OnePhaseConv(nn.Module):
    """A k4 s2 p1 ConvTranspose (and the ReLU after it) as one 2×2 Conv with 4·C_out
    outputs on the input padded by one; phase (a, b) is its block 2a + b at offset (a, b)."""

    def __init__(self, layer: nn.ConvTranspose2d, relu: bool) -> None:
        super().__init__()
        kernels = phase_kernels(layer)
        c_out, c_in = kernels.shape[2:4]
        self.conv = nn.Conv2d(c_in, 4 * c_out, 2, padding=1, bias=layer.bias is not None)
        with torch.no_grad():
            self.conv.weight.copy_(kernels.reshape(4 * c_out, c_in, 2, 2))
            if layer.bias is not None:
                self.conv.bias.copy_(layer.bias.repeat(4))
        self.relu = relu
        self.c_out = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2:]
        y = self.conv(x)
        y = torch.relu(y) if self.relu else y
        c = self.c_out
        blocks = [(a, b, (2 * a + b) * c) for a in (0, 1) for b in (0, 1)]
        return interleave([y[:, k : k + c, a : a + height, b : b + width] for a, b, k in blocks])


def hidden_layers(module: nn.Module, form: Callable[[nn.Module, bool], nn.Module]) -> nn.Module:
    """A copy of a DCGAN generator with each hidden k4 s2 p1 ConvTranspose of its ``net``
    (and a ReLU right after it, told to ``form``) replaced by ``form(layer, relu)``."""
    rewritten = copy.deepcopy(module)
    layers, out = list(rewritten.net), []
    while layers:
        layer = layers.pop(0)
        if _is_stride2_k4(layer) and layer.out_channels > 4:
            relu = bool(layers) and isinstance(layers[0], nn.ReLU)
            out.append(form(layer, relu))
            del layers[: int(relu)]
        else:
            out.append(layer)
    rewritten.net = nn.Sequential(*out)
    return rewritten


def _phase_convs(layer: nn.Module, relu: bool) -> nn.Module:
    return nn.Sequential(PhaseConvs(layer), nn.ReLU()) if relu else PhaseConvs(layer)


FORMS: dict[str, Callable[[nn.Module], nn.Module]] = {
    "default": gemm_stem,
    "no gemm stem": lambda m: m,
    "sub-pixel": lambda m: sub_pixel(gemm_stem(m)),
    "mobile (Conv + DepthToSpace)": lambda m: mobile_form(m)[0],
    "phase convs": lambda m: hidden_layers(gemm_stem(m), _phase_convs),
    "one 2x2 conv": lambda m: hidden_layers(gemm_stem(m), OnePhaseConv),
}


def export_forms(module: nn.Module, folder: Path) -> dict[str, Path]:
    """Each form of ``module`` (folded first) exported to ``folder``, unchecked: the check
    against the untouched module is ``max_difference``."""
    folded = fold_batchnorm(module)
    files = {}
    for index, (name, form) in enumerate(FORMS.items()):
        path = folder / f"form{index}.onnx"
        options = ExportOptions(fold_batchnorm=False, gemm_stem=False, check=False)
        export_generator(form(folded), path, nz=module.nz, options=options)
        files[name] = path
    return files


def max_difference(path: Path, module: nn.Module, z: np.ndarray) -> float:
    """Largest |ONNX Runtime − torch| over ``z``'s images."""
    session, _ = create_session(path, "cpu")
    with torch.inference_mode():
        want = module(torch.from_numpy(z)).numpy()
    got = session.run(None, _feeds(session, z))[0]
    return float(np.abs(got - want).max())


def _feeds(session, z: np.ndarray) -> dict[str, np.ndarray]:
    names = [i.name for i in session.get_inputs()]
    feeds = {names[0]: z}
    if len(names) > 1:  # a labels input: the class z[:, 0] selects
        feeds[names[1]] = labels_for(z, 10)
    return feeds


def session_call(path: Path, z: np.ndarray, threads: int, config: dict[str, str]) -> Callable:
    session, _ = create_session(path, "cpu", intra_op_threads=threads, config_entries=config)
    feeds = _feeds(session, z)
    return lambda: session.run(None, feeds)


def time_forms(files: dict[str, Path], module: nn.Module, batch: int, threads: int, plan: Plan):
    """Every form, the default's other session settings and torch eager, interleaved."""
    z = latent(batch, module.nz, seed=0)
    zt = torch.from_numpy(z)
    calls = {f"ort {name}": session_call(path, z, threads, {}) for name, path in files.items()}
    calls["ort default, nospin"] = session_call(
        files["default"], z, threads, ORT_CPU_CONFIGS["ort-cpu-nospin"]
    )
    calls["ort default, 1 thread"] = session_call(files["default"], z, 1, {})
    with torch.inference_mode():
        calls["torch eager"] = lambda: module(zt)
        return time_interleaved(calls, plan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--batch-sizes", default="1,64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    module = contract_form(load_checkpoint(args.checkpoint).generator())
    plan = Plan(seconds=args.seconds, rounds=args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        files = export_forms(module, Path(tmp))
        check = latent(64, module.nz, seed=0)
        for name, path in files.items():
            print(f"{name:30s} max |ORT - torch| {max_difference(path, module, check):.2e}")
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            timed = time_forms(files, module, batch, args.threads, plan)
            base = timed["ort default"]
            print(f"\nbatch {batch} ({args.threads} threads): median ms [best-of], default / it")
            for name, stats in timed.items():
                print(
                    f"  {name:36s} {stats.median_ms:8.3f} [{stats.min_ms:8.3f}]  "
                    f"{base.median_ms / stats.median_ms:5.2f} [{base.min_ms / stats.min_ms:5.2f}]"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
