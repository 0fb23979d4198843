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

__version__ = "0.1.0"
