"""Export: checkpoint or nn.Module → ONNX with a symbolic batch axis, metadata and checks."""

from ganport.export.api import ExportOptions, ExportResult, export_discriminator, export_generator
from ganport.export.bundle import export_checkpoint, export_user_models, variant_name
from ganport.export.tag import TagReport, tag_models

__all__ = [
    "ExportOptions",
    "ExportResult",
    "TagReport",
    "export_checkpoint",
    "export_discriminator",
    "export_generator",
    "export_user_models",
    "tag_models",
    "variant_name",
]
