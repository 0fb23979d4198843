"""Inference on ONNX Runtime.

The runtime half (sessions, sampling, scoring, metadata) needs only onnxruntime,
numpy and Pillow: never torch. Parity and benchmark modules compare against torch and
import it inside their functions.
"""

from infer.metadata import ModelMetadata

__all__ = ["ModelMetadata"]
