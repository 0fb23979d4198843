"""Exact rewrites of a generator's ConvTranspose layers into ops ONNX Runtime runs faster.

Both compute the same function with the same weights (to float32 rounding: the export
check compares the result with the untouched torch model at 1e-5):

- **Gemm stem.** A DCGAN generator starts with ``ConvTranspose2d(nz, C, k, 1, 0)`` on a 1×1
  input: a matrix product z (batch, nz) @ W (nz, C·k·k) and a reshape. ONNX Runtime's CPU
  ConvTranspose loops over the batch, re-reading the whole weight per image; as a Linear
  layer the exporter emits one Gemm for the whole batch.
- **Sub-pixel form.** A ``ConvTranspose2d(k=4, stride=2, padding=1)`` is four 2×2
  convolutions, one per output pixel phase, interleaved. Written as one 3×3 ``Conv2d``
  (padding 1) with 4·C_out output channels, each phase's taps in its own channel block and
  zeros elsewhere, followed by the interleave of the phases (``PhaseInterleave``). ONNX
  Runtime's CPU QDQ path has an int8 kernel for Conv (QLinearConv) but runs a quantized
  ConvTranspose in float32 on dequantized weights, so only this form gets a generator into
  int8. It does 2.25× the multiply-adds (the zero taps) and stores 2.25× the weights: worth
  it in int8, not in float32 (measured: README, int8 export). An image layer (at most
  ``MAX_IMAGE_CHANNELS`` outputs) keeps its ConvTranspose: its interleave would move single
  values (1.3 ms of the DCGAN 28 G's 3.8 at batch 64, against 0.5 ms for the whole float
  ConvTranspose).
- **Mobile form** (``mobile_form``, ``ganport export --target ort-mobile``): the sub-pixel
  form for every such layer, the image layer too, as a convolution and a DepthToSpace
  (``SubPixelShuffle``, ``depth_to_space_dcr``), and a conditional generator's class as
  an input (``ClassInput``): only ops NNAPI and CoreML run.
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
import onnx.numpy_helper
import torch
from torch import nn

from ganport.export.fold import set_layers
from ganport.train.models import DCGANGenerator, MLPGenerator

# Output phase (0 or 1) → {input offset d: kernel index} of a k=4, s=2, p=1 ConvTranspose:
# output row 2i + a reads input rows i + d with kernel row kh = 2(i - m) + a + 1.
_PHASE_TAPS = {0: {0: 1, -1: 3}, 1: {1: 0, 0: 2}}
MAX_IMAGE_CHANNELS = 4  # grey, RGB, RGBA: the output layer, left a ConvTranspose


class GemmStem(nn.Module):
    """``ConvTranspose2d(nz, C, k, 1, 0)`` on a 1×1 input, computed as Linear + reshape."""

    def __init__(self, layer: nn.ConvTranspose2d) -> None:
        super().__init__()
        nz, channels, kh, kw = layer.weight.shape
        self.shape = (channels, kh, kw)
        self.linear = nn.Linear(nz, channels * kh * kw)
        with torch.no_grad():
            self.linear.weight.copy_(layer.weight.reshape(nz, -1).t())
            bias = layer.bias if layer.bias is not None else torch.zeros(channels)
            self.linear.bias.copy_(bias.repeat_interleave(kh * kw))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1)).reshape(-1, *self.shape)


class PhaseInterleave(nn.Module):
    """(N, 4·C, H, W), channel (2a + b)·C + c holding output channel c at phase (a, b) →
    (N, C, 2H, 2W), written channels-last: Transpose to NHWC, Reshape, Transpose, Reshape,
    Transpose back.

    ``PixelShuffle`` (ONNX DepthToSpace) computes the same, but ONNX Runtime runs its int8
    convolutions channels-last and DepthToSpace only channels-first, so each shuffle sat
    between two layout Transposes and moved single bytes: 9.7 ms of a 64-image DCGAN 64
    G's 64 ms. Here ORT cancels the outer Transposes against its own and the middle one
    moves runs of C contiguous bytes: 1.5 ms (README, int8 export).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, channels4, height, width = x.shape
        channels = channels4 // 4
        phases = x.permute(0, 2, 3, 1).reshape(-1, height, width, 2, 2, channels)
        rows = phases.permute(0, 1, 3, 2, 4, 5).reshape(-1, 2 * height, 2 * width, channels)
        return rows.permute(0, 3, 1, 2)


class SubPixelConv(nn.Module):
    """``ConvTranspose2d(C_in, C_out, 4, 2, 1)`` as ``Conv2d(C_in, 4·C_out, 3, 1, 1)`` +
    ``PhaseInterleave``: channel (2a + b)·C_out + c of the conv is output channel c at
    phase (a, b)."""

    def __init__(self, layer: nn.ConvTranspose2d) -> None:
        super().__init__()
        weight = layer.weight.detach()  # (C_in, C_out, 4, 4)
        c_in, c_out = weight.shape[:2]
        taps = torch.zeros(2, 2, c_out, c_in, 3, 3, dtype=weight.dtype)
        for a, rows in _PHASE_TAPS.items():
            for b, cols in _PHASE_TAPS.items():
                for dh, kh in rows.items():
                    for dw, kw in cols.items():
                        taps[a, b, :, :, dh + 1, dw + 1] = weight[:, :, kh, kw].t()
        self.conv = nn.Conv2d(c_in, 4 * c_out, 3, 1, 1, bias=layer.bias is not None)
        with torch.no_grad():
            self.conv.weight.copy_(taps.reshape(4 * c_out, c_in, 3, 3))
            if layer.bias is not None:
                self.conv.bias.copy_(layer.bias.repeat(4))
        self.shuffle = PhaseInterleave()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


def gemm_stem(module: nn.Module) -> nn.Module:
    """A copy of ganport's DCGAN generator with its first layer as a Gemm; any other module
    is returned as it is."""
    if not _is_dcgan_generator(module):
        return module
    first = module.net[0]
    if first.stride != (1, 1) or first.padding != (0, 0) or first.groups != 1:
        return module
    rewritten = copy.deepcopy(module)
    rewritten.net[0] = GemmStem(first)
    return rewritten


def sub_pixel(module: nn.Module) -> nn.Module:
    """A copy with every ``ConvTranspose2d(k=4, stride=2, padding=1)`` in sub-pixel form,
    the image layer (at most ``MAX_IMAGE_CHANNELS`` outputs) excepted.

    In an ``nn.Sequential``, an elementwise activation right after the layer moves before
    the phase interleave (it commutes with it), so the int8 convolution and its activation
    fuse into one kernel and the interleave moves uint8 values.
    """
    rewritten = copy.deepcopy(module)
    for parent in list(rewritten.modules()):
        if isinstance(parent, nn.Sequential):
            _sub_pixel_sequential(parent)
        else:
            for name, child in list(parent.named_children()):
                if _rewritten(child):
                    setattr(parent, name, SubPixelConv(child))
    return rewritten


def int8_form(module: nn.Module) -> tuple[nn.Module, list[str]]:
    """``module`` with the rewrites an int8 export applies, and their names: a DCGAN
    generator's ConvTransposes have no int8 kernel on ONNX Runtime's CPU provider."""
    names = []
    stem = gemm_stem(module)
    if stem is not module:
        module, names = stem, ["gemm stem"]
    if any(_rewritten(layer) for layer in module.modules()):
        module = sub_pixel(module)
        names.append("sub-pixel ConvTranspose (k4, s2, p1)")
    return module, names


def _sub_pixel_sequential(seq: nn.Sequential) -> None:
    layers = list(seq)
    out: list[nn.Module] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        if not _rewritten(layer):
            out.append(layer)
            i += 1
            continue
        sub = SubPixelConv(layer)
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(nxt, _COMMUTING):
            out += [sub.conv, nxt, sub.shuffle]
            i += 2
        else:
            out.append(sub)
            i += 1
    set_layers(seq, out)


# Elementwise activations, which commute with the phase interleave.
_COMMUTING = (nn.ReLU, nn.LeakyReLU)


def _is_dcgan_generator(module: nn.Module) -> bool:
    """ganport's DCGAN generator: it reshapes its latent to (batch, inputs, 1, 1) before
    ``net``, which is what makes its first ConvTranspose a matrix product."""
    return isinstance(module, DCGANGenerator) and isinstance(module.net[0], nn.ConvTranspose2d)


def _rewritten(layer: nn.Module) -> bool:
    """Whether the sub-pixel form replaces ``layer``."""
    return _is_stride2_k4(layer) and layer.out_channels > MAX_IMAGE_CHANNELS


def _is_stride2_k4(layer: nn.Module) -> bool:
    return (
        isinstance(layer, nn.ConvTranspose2d)
        and layer.kernel_size == (4, 4)
        and layer.stride == (2, 2)
        and layer.padding == (1, 1)
        and layer.output_padding == (0, 0)
        and layer.dilation == (1, 1)
        and layer.groups == 1
    )


def reads_class_from_latent(module: nn.Module) -> bool:
    """A conditional generator of ganport's own (DCGAN, MLP), whose class z[:, 0] selects
    inside it: what ``ClassInput`` wraps. A pair of your own that takes labels is not."""
    return (
        isinstance(module, (DCGANGenerator, MLPGenerator))
        and getattr(module, "latent_class", None) is not None
    )


class ClassInput(nn.Module):
    """A conditional generator of ganport's taking its class as a second input, ``labels``
    (int64, (batch,)), instead of reading it from z[:, 0]: NNAPI and CoreML have no
    comparison ops for the class rule (Greater, Xor). The one-hot is relu(1 - (label - k)²)
    in float32, 1 at k = label and 0 elsewhere exactly, in Cast, Sub, Mul and Relu. Fed the
    class z[:, 0] selects, it computes what the generator does: the one-hot is the same."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        classes = len(generator.latent_class.edges) + 1
        self.body = copy.deepcopy(generator)
        self.body.latent_class = None  # its input is then z followed by the one-hot
        ks = torch.arange(classes, dtype=torch.float32).reshape(1, -1)
        self.register_buffer("ks", ks, persistent=False)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        offset = labels.to(torch.float32).reshape(-1, 1) - self.ks
        return self.body(torch.cat([z, torch.relu(1 - offset * offset)], dim=1))


class SubPixelShuffle(nn.Module):
    """``ConvTranspose2d(C_in, C_out, 4, 2, 1)`` as ``SubPixelConv``'s convolution with its
    channels in ``PixelShuffle`` order (c·4 + 2a + b) and a ``PixelShuffle(2)``: one ONNX
    DepthToSpace, which NNAPI and CoreML run (``PhaseInterleave`` reshapes to rank 6, past
    CoreML's rank 5). ``depth_to_space_dcr`` then turns it into the mode they take."""

    def __init__(self, layer: nn.ConvTranspose2d) -> None:
        super().__init__()
        conv = SubPixelConv(layer).conv
        order = torch.arange(conv.out_channels).reshape(4, -1).t().reshape(-1)
        self.conv = copy.deepcopy(conv)
        with torch.no_grad():
            self.conv.weight.copy_(conv.weight[order])
            if conv.bias is not None:
                self.conv.bias.copy_(conv.bias[order])
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


def mobile_form(module: nn.Module) -> tuple[nn.Module, list[str]]:
    """``module`` in ops NNAPI and CoreML run, and the names of the rewrites applied: a DCGAN
    generator's stem as a Gemm, and every ``ConvTranspose2d(k=4, stride=2, padding=1)``,
    the image layer too, as ``SubPixelShuffle`` (an elementwise activation after it moves
    before the shuffle, as in ``sub_pixel``)."""
    names: list[str] = []
    rewritten = copy.deepcopy(module)
    if isinstance(rewritten, ClassInput) and gemm_stem(rewritten.body) is not rewritten.body:
        rewritten.body, names = gemm_stem(rewritten.body), ["gemm stem"]
    elif gemm_stem(rewritten) is not rewritten:
        rewritten, names = gemm_stem(rewritten), ["gemm stem"]
    if not any(_is_stride2_k4(layer) for layer in rewritten.modules()):
        return rewritten, names
    for parent in list(rewritten.modules()):
        if isinstance(parent, nn.Sequential):
            _shuffle_sequential(parent)
        else:
            for name, child in list(parent.named_children()):
                if _is_stride2_k4(child):
                    setattr(parent, name, SubPixelShuffle(child))
    return rewritten, [*names, "sub-pixel ConvTranspose as DepthToSpace (k4, s2, p1)"]


def _shuffle_sequential(seq: nn.Sequential) -> None:
    layers, out = list(seq), []
    for i, layer in enumerate(layers):
        if i and _is_stride2_k4(layers[i - 1]) and isinstance(layer, _ELEMENTWISE):
            out.insert(len(out) - 1, layer)  # before the shuffle, after the convolution
        elif _is_stride2_k4(layer):
            sub = SubPixelShuffle(layer)
            out += [sub.conv, sub.shuffle]
        else:
            out.append(layer)
    set_layers(seq, out)


# Elementwise ops that commute with a permutation of pixels, so with the shuffle.
_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh)


def depth_to_space_dcr(model: onnx.ModelProto) -> int:
    """Every DepthToSpace in CRD mode (what torch's PixelShuffle exports) that reads a Conv
    with constant weights, through elementwise activations only, turned to DCR mode with
    the Conv's output channels reordered to match: the same function, in the only mode
    NNAPI and CoreML's NeuralNetwork format run. Returns how many it turned."""
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    uses: dict[str, int] = {}
    for name in [i for node in graph.node for i in node.input] + [o.name for o in graph.output]:
        uses[name] = uses.get(name, 0) + 1
    turned = 0
    for node in graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type != "DepthToSpace" or attrs.get("mode", b"DCR") != b"CRD":
            continue
        conv = producer.get(node.input[0])
        while conv is not None and conv.op_type in ("Relu", "LeakyRelu", "Tanh"):
            conv = producer.get(conv.input[0]) if uses[conv.output[0]] == 1 else None
        params = list(conv.input[1:]) if conv is not None and conv.op_type == "Conv" else []
        if not params or uses[conv.output[0]] != 1:
            continue
        if not all(p in weights and uses[p] == 1 for p in params):
            continue
        blocks = attrs["blocksize"] ** 2
        for name in params:
            w = onnx.numpy_helper.to_array(weights[name])
            order = np.arange(len(w)).reshape(-1, blocks).T.reshape(-1)
            weights[name].CopyFrom(onnx.numpy_helper.from_array(w[order], name))
        node.attribute.remove(next(a for a in node.attribute if a.name == "mode"))
        node.attribute.append(onnx.helper.make_attribute("mode", "DCR"))
        turned += 1
    return turned
