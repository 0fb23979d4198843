"""ganport: train small GANs in PyTorch, export them to ONNX, run them on ONNX Runtime.

This package holds what every stage shares and that needs neither torch nor onnxruntime:
the error types the CLI maps to exit codes, numpy-only image and array file formats,
and the command-line interface.
"""

__version__ = "0.1.0"
