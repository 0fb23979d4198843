"""ganport: train small GANs in PyTorch, export them to ONNX, run them on ONNX Runtime.

The stages install under this one name, each importing only downwards:

- ``ganport.core``: what every stage shares, in numpy and the standard library alone
  (errors, atomic writes, image files, the latent convention and its class rule, the
  metadata and manifest formats, the tolerance rule).
- ``ganport.infer.runtime``: ONNX Runtime sessions, sampling, scoring; never torch.
- ``ganport.train``: models, losses, data sets, the training loop, checkpoints (torch).
- ``ganport.export``: checkpoint or nn.Module → checked ONNX files (torch, onnx).
- ``ganport.infer.compare``: parity, benchmarks and quality evaluation against torch.
- ``ganport.cli``: the ``ganport`` command, wiring the stages together lazily.
"""

from pathlib import Path

__version__ = "0.1.0"

# In a source checkout the stages sit beside this folder (train/, export/, infer/) and an
# install maps them under ganport. Run from the checkout's root against a plain (not
# editable) install, as a test suite checking a built wheel is, this folder shadows the
# installed package: then the stages are found beside it.
_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and all(
    (_checkout / stage / "__init__.py").is_file() for stage in ("train", "export", "infer")
):
    __path__.append(str(_checkout))
