"""The names of the runtimes ganport runs exports on, and of the targets it prepares them
for: known to the CLI without importing any runtime (``ganport.infer.engines`` and
``ganport.export.targets`` hold what each one does).
"""

from __future__ import annotations

# engine name → the file it runs, beside the .onnx it came from
ENGINE_SUFFIXES: dict[str, str] = {
    "onnxruntime": ".onnx",
    "onnx-reference": ".onnx",
    "openvino": ".xml",
    "openvino-f32": ".xml",
    "tract": ".onnx",
    "litert": ".tflite",
    "ort-format": ".ort",
}

# target name → the engine that runs and checks what it writes
TARGET_ENGINES: dict[str, str] = {
    "openvino": "openvino",
    "tract": "tract",
    "litert": "litert",
    "ort-mobile": "ort-format",
}
