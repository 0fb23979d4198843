"""What a generator and a discriminator share: a checked session that runs float32 batches.

The model's own metadata decides how it is fed: float16 I/O is cast at the boundary
so callers always see float32, and a static-batch graph gets its last batch padded
and trimmed so any number of rows can run through it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ganport.core.errors import InputError, JobFailed
from ganport.core.metadata import ModelMetadata, session_metadata
from ganport.infer.runtime.contract import check_contract
from ganport.infer.runtime.session import create_session, run

DEFAULT_BATCH = 256


class OnnxModel:
    """A ganport ONNX model on ONNX Runtime; subclasses name their ``role``."""

    role: ClassVar[str]

    def __init__(
        self, path: str | os.PathLike[str], provider: str = "auto", **session_options: Any
    ) -> None:
        self.path = Path(path)
        self.session, self.provider = create_session(path, provider, **session_options)
        self._device_id = int(session_options.get("device_id", 0))
        source = str(self.path)
        self.metadata: ModelMetadata = session_metadata(self.session, source)
        check_contract(self.session, self.metadata, self.role, source)

    @property
    def default_batch(self) -> int:
        """Rows per run when the caller does not say: the static batch, else DEFAULT_BATCH."""
        return self.metadata.static_batch or DEFAULT_BATCH

    def _run(self, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
        """Run float32 rows ``x``; return float32 (len(x), *out_shape), all finite."""
        static = self.metadata.static_batch
        if static is None:
            y = self._run_once(x, out_shape)
        else:
            pieces = []
            for start in range(0, len(x), static):
                piece = x[start : start + static]
                pad = np.zeros((static - len(piece), *x.shape[1:]), x.dtype)
                pieces.append(self._run_once(np.concatenate([piece, pad]), out_shape)[: len(piece)])
            y = np.concatenate(pieces)
        if not np.isfinite(y).all():
            bad = int((~np.isfinite(y)).reshape(len(y), -1).any(axis=1).sum())
            raise JobFailed(
                f"{self.path}: the {self.role} produced NaN or Inf for {bad} of {len(y)} rows "
                f"on {self.provider}"
            )
        return y

    def _run_once(self, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
        feed = np.ascontiguousarray(x, dtype=self.metadata.io_dtype)
        meta = self.metadata
        (y,) = run(
            self.session,
            self.provider,
            {meta.input_name: feed},
            [meta.output_name],
            self._device_id,
        )
        if y.shape != (len(x), *out_shape):
            raise InputError(
                f"{self.path}: output {meta.output_name!r} has shape {y.shape} for a batch of "
                f"{len(x)}; the metadata promises {(len(x), *out_shape)}"
            )
        return y.astype(np.float32, copy=False)
