"""Export: checkpoint or nn.Module → ONNX with a symbolic batch axis, metadata and checks."""

from ganport.export.api import ExportOptions, ExportResult, export_discriminator, export_generator
from ganport.export.bundle import export_checkpoint, variant_name

__all__ = [
    "ExportOptions",
    "ExportResult",
    "export_checkpoint",
    "export_discriminator",
    "export_generator",
    "variant_name",
]
