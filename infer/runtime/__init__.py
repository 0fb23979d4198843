"""The runtime an embedded user installs: ONNX Runtime, numpy and Pillow; never torch.

Sessions refuse to run on a provider other than the one asked for, generators sample by
the latent convention (row i of a seed is sample i at any batch size), discriminators
score images. An import contract test keeps torch and the training side out.
"""

from ganport.infer.runtime.discriminator import Discriminator, sigmoid
from ganport.infer.runtime.generator import Generator
from ganport.infer.runtime.session import create_session

__all__ = ["Discriminator", "Generator", "create_session", "sigmoid"]
