"""``infer.Discriminator``: one logit per image on ONNX Runtime, without torch.

The graph outputs logits (the losses train on logits); the sigmoid lives here, outside
the model, in a form that does not overflow for large |logit|.
"""

from __future__ import annotations

import numpy as np

from ganport.core import images as image_files
from ganport.core.errors import InputError
from ganport.infer.runtime.model import OnnxModel


class Discriminator(OnnxModel):
    """An exported ganport discriminator: image (batch, C, H, W) in [-1, 1] → logit (batch,)."""

    role = "discriminator"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.metadata.image_shape

    def score(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Logits float32 (n,) for images (n, C, H, W): float in [-1, 1] or uint8 pixels."""
        x = np.asarray(images)
        if x.ndim != 4 or x.shape[1:] != self.image_shape or len(x) == 0:
            raise InputError(
                f"{self.path}: images must be shaped (n, {', '.join(map(str, self.image_shape))})"
                f", got {x.shape}"
            )
        x = image_files.to_float(x) if x.dtype == np.uint8 else x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise InputError(f"{self.path}: the images to score hold NaN or Inf")
        step = batch_size or self.default_batch
        if step < 1:
            raise InputError(f"batch size must be at least 1, not {step}")
        logits = np.empty(len(x), np.float32)
        for start in range(0, len(x), step):
            logits[start : start + step] = self._run(x[start : start + step], ())
        return logits

    def probability(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """P(real) float32 (n,): the sigmoid of ``score``."""
        return sigmoid(self.score(images, batch_size))


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) computed as exp(-log(1 + exp(-x))), finite for every float x."""
    x = np.asarray(logits, dtype=np.float32)
    return np.exp(-np.logaddexp(np.float32(0), -x)).astype(np.float32)
