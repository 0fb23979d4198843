"""Comparisons against torch: parity, benchmarks and sample-quality evaluation.

Each needs the ``train`` extra (torch, onnx) and imports torch inside its functions, so
importing this package stays cheap.
"""
