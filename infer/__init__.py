"""Inference: the torch-free runtime, and the comparisons against torch.

- ``ganport.infer.runtime``: what an embedded user ships: ONNX Runtime sessions that say
  which provider ran, sampling by seed, scoring. onnxruntime, numpy and Pillow only.
- ``ganport.infer.compare``: parity, benchmarks and quality evaluation; these need the
  ``train`` extra (torch) and import it inside their functions.

The runtime's public names are re-exported here, so ``from ganport.infer import
Generator`` works in a runtime-only install.
"""

from ganport.core.metadata import ModelMetadata
from ganport.infer.runtime import Discriminator, Generator, create_session, sigmoid

__all__ = ["Discriminator", "Generator", "ModelMetadata", "create_session", "sigmoid"]
