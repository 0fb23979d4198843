"""What every stage shares, with numpy, Pillow and the standard library alone.

Nothing here imports torch, onnx or onnxruntime, so the runtime an embedded user installs
and the training side agree on one definition of each format and rule.
"""
