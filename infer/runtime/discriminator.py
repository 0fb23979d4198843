"""``infer.Discriminator``: one score per image on ONNX Runtime, without torch.

ganport's own graphs output logits (the losses train on logits); the sigmoid lives here,
outside the model, in a form that does not overflow for large |logit|. A discriminator
written elsewhere may end in its own sigmoid: its graph outputs the probability, and the
logit is computed from that (infinite where the probability saturates at 0 or 1).
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

    @property
    def classes(self) -> int:
        """Classes a discriminator with a ``labels`` input takes; 0 otherwise."""
        return self.metadata.classes if self.metadata.takes_labels else 0

    def score(
        self,
        images: np.ndarray,
        batch_size: int | None = None,
        labels: np.ndarray | int | None = None,
    ) -> np.ndarray:
        """Logits float32 (n,) for images (n, C, H, W): float in [-1, 1] or uint8 pixels.

        A discriminator with a ``labels`` input needs the images' ``labels`` (n integers, or
        one class for all)."""
        if self.metadata.d_output == "probability":
            p = self.probability(images, batch_size, labels).astype(np.float64)
            with np.errstate(divide="ignore"):
                return (np.log(p) - np.log1p(-p)).astype(np.float32)
        return self._outputs(images, batch_size, labels)

    def probability(
        self,
        images: np.ndarray,
        batch_size: int | None = None,
        labels: np.ndarray | int | None = None,
    ) -> np.ndarray:
        """P(real) float32 (n,): the sigmoid of ``score``, or the model's own output when it
        ends in a sigmoid."""
        if self.metadata.d_output == "probability":
            return self._outputs(images, batch_size, labels)
        return sigmoid(self.score(images, batch_size, labels))

    def _outputs(
        self, images: np.ndarray, batch_size: int | None, labels: np.ndarray | int | None
    ) -> np.ndarray:
        """The graph's output (n,) for checked images."""
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
        if labels is None and self.metadata.takes_labels:
            raise InputError(
                f"{self.path}: this discriminator takes the images' class as an input; "
                f"give it (0..{self.classes - 1})"
            )
        labels = self._labels(len(x), labels)
        out = np.empty(len(x), np.float32)
        for start in range(0, len(x), step):
            rows = slice(start, start + step)
            out[rows] = self._run(x[rows], (), None if labels is None else labels[rows])
        return out


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) computed as exp(-log(1 + exp(-x))), finite for every float x."""
    x = np.asarray(logits, dtype=np.float32)
    return np.exp(-np.logaddexp(np.float32(0), -x)).astype(np.float32)
