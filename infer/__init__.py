"""Inference on ONNX Runtime.

The runtime half (sessions, sampling, scoring, metadata) needs only onnxruntime,
numpy and Pillow: never torch. Parity and benchmark modules compare against torch and
import it inside their functions.
"""

from infer.discriminator import Discriminator, sigmoid
from infer.generator import Generator
from infer.metadata import ModelMetadata
from infer.session import create_session

__all__ = ["Discriminator", "Generator", "ModelMetadata", "create_session", "sigmoid"]
