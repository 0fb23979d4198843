"""``infer.Generator``: images from seeds on ONNX Runtime, without torch.

Every latent is a function of (seed, row index) alone: z follows the latent convention
and is streamed in batches, so 100,000 samples never need 100,000 rows in memory.

What that makes of the images depends on the provider. On the CPU, ``sample(10)`` equals
the first ten rows of ``sample(64, batch_size=7)`` bit for bit. On CUDA, cuDNN picks its
convolution algorithm per input shape, and its transposed convolutions need not repeat to
the last bit even at the same batch size (an H200 with onnxruntime-gpu 1.31 differed by a
few 1e-8 between two identical calls): every call agrees within the fp32-cuda tolerance
(1e-4).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ganport.core import images as image_files
from ganport.core.classes import labels_for, latent_of_class
from ganport.core.errors import InputError
from ganport.core.latent import latent, latent_batches, slerp
from ganport.infer.runtime.model import OnnxModel


class Generator(OnnxModel):
    """An exported ganport generator: z (batch, nz) → image (batch, C, H, W) in [-1, 1].

    ``Generator(path, provider="auto", **session_options)``; session options are those
    of ``create_session``. ``provider`` after loading is the one that runs.
    """

    role = "generator"

    @property
    def nz(self) -> int:
        return self.metadata.nz

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.metadata.image_shape

    @property
    def classes(self) -> int:
        """Classes of a conditional generator (read from z[:, 0], or from its ``labels``
        input); 0 when unconditional."""
        return self.metadata.classes

    def sample(
        self,
        n: int,
        seed: int = 0,
        batch_size: int | None = None,
        truncation: float | None = None,
        label: int | None = None,
    ) -> np.ndarray:
        """``n`` images of ``seed`` as float32 (n, C, H, W) in [-1, 1].

        ``truncation``: redraw latent entries beyond ±T (see ``ganport.core.latent.truncate``);
        lower T trades variety for typical-looking samples. ``label``: every image of that
        class (a conditional generator only); row i keeps the rest of its latent.
        """
        batches = self.iter_batches(n, seed, batch_size, truncation, label)
        out = np.empty((n, *self.image_shape), np.float32)
        start = 0
        for images in batches:
            out[start : start + len(images)] = images
            start += len(images)
        return out

    def iter_batches(
        self,
        n: int,
        seed: int = 0,
        batch_size: int | None = None,
        truncation: float | None = None,
        label: int | None = None,
    ) -> Iterator[np.ndarray]:
        """The rows of ``sample(n, seed)`` as consecutive float32 batches, drawn lazily."""
        self._check_label(label)
        chunks = latent_batches(n, self.nz, seed, batch_size or self.default_batch, truncation)
        if self.metadata.takes_labels:
            return (
                self.generate(z, labels_for(z, self.classes, label, self.metadata.class_shares))
                for z in chunks
            )
        if label is not None:
            shares = self.metadata.class_shares
            chunks = (latent_of_class(z, self.classes, label, shares) for z in chunks)
        return (self.generate(z) for z in chunks)

    def _check_label(self, label: int | None) -> None:
        """Checked at the call, not at the first batch."""
        if label is None:
            return
        if not self.classes:
            raise InputError(
                f"{self.path}: an unconditional generator has no classes to choose from"
            )
        if not 0 <= label < self.classes:
            raise InputError(f"{self.path}: class must be 0..{self.classes - 1}, not {label}")

    def generate(self, z: np.ndarray, labels: np.ndarray | int | None = None) -> np.ndarray:
        """Images for explicit latents ``z`` (m, nz): for callers that build their own z.

        A generator with a ``labels`` input takes ``labels`` (m integers, or one class for
        every row); without them each row gets the class its z[:, 0] selects.
        """
        z = np.asarray(z)
        if z.ndim != 2 or z.shape[1] != self.nz or len(z) == 0:
            raise InputError(f"{self.path}: z must be shaped (m, {self.nz}), got {z.shape}")
        labels = self._labels(len(z), labels)
        if labels is None and self.metadata.takes_labels:
            labels = labels_for(z, self.classes, shares=self.metadata.class_shares)
        return self._run(z.astype(np.float32, copy=False), self.image_shape, labels)

    def interpolate(
        self, seed_a: int, seed_b: int, steps: int, truncation: float | None = None
    ) -> np.ndarray:
        """``steps`` images along the slerp from seed_a's first z row to seed_b's.

        The ends are exactly ``sample(1, seed_a)`` and ``sample(1, seed_b)`` (with the same
        truncation).
        """
        a = latent(1, self.nz, seed_a, truncation)[0]
        b = latent(1, self.nz, seed_b, truncation)[0]
        z = slerp(a, b, steps)
        if self.metadata.takes_labels:  # one class along the strip: seed_a's
            return self.generate(
                z, labels_for(z[:1], self.classes, shares=self.metadata.class_shares)[0]
            )
        return self.generate(z)

    @staticmethod
    def to_uint8(images: np.ndarray) -> np.ndarray:
        """float images in [-1, 1] → uint8 pixels, by the project-wide rule."""
        return image_files.to_uint8(images)
