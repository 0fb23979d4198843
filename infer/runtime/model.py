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
from ganport.core.metadata import LABELS_INPUT, ModelMetadata, session_metadata
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

    def _run(
        self, x: np.ndarray, out_shape: tuple[int, ...], labels: np.ndarray | None = None
    ) -> np.ndarray:
        """Run float32 rows ``x`` (with their int64 ``labels`` when the model takes them);
        return float32 (len(x), *out_shape), all finite."""
        static = self.metadata.static_batch
        if static is None:
            y = self._run_once(x, out_shape, labels)
        else:
            pieces = []
            for start in range(0, len(x), static):
                rows = slice(start, start + static)
                piece = _padded(x[rows], static)
                part = None if labels is None else _padded(labels[rows], static)
                pieces.append(self._run_once(piece, out_shape, part)[: len(x[rows])])
            y = np.concatenate(pieces)
        if not np.isfinite(y).all():
            bad = int((~np.isfinite(y)).reshape(len(y), -1).any(axis=1).sum())
            raise JobFailed(
                f"{self.path}: the {self.role} produced NaN or Inf for {bad} of {len(y)} rows "
                f"on {self.provider}"
            )
        return y

    def _run_once(
        self, x: np.ndarray, out_shape: tuple[int, ...], labels: np.ndarray | None
    ) -> np.ndarray:
        meta = self.metadata
        feeds = {meta.input_name: np.ascontiguousarray(x, dtype=meta.io_dtype)}
        if meta.takes_labels:
            if labels is None:
                raise InputError(f"{self.path}: this {self.role} takes labels; none were given")
            feeds[LABELS_INPUT] = np.ascontiguousarray(labels, dtype=np.int64)
        try:
            (y,) = run(self.session, self.provider, feeds, [meta.output_name], self._device_id)
        except JobFailed as exc:  # name the model: the user may have given several
            raise JobFailed(f"{self.path}: {exc}") from exc
        if y.shape != (len(x), *out_shape):
            raise InputError(
                f"{self.path}: output {meta.output_name!r} has shape {y.shape} for a batch of "
                f"{len(x)}; the metadata promises {(len(x), *out_shape)}"
            )
        return y.astype(np.float32, copy=False)

    def _labels(self, rows: int, labels: np.ndarray | int | None) -> np.ndarray | None:
        """Checked int64 labels for ``rows`` rows: one per row, or one class for all."""
        if labels is None or not self.metadata.takes_labels:
            if labels is not None:
                raise InputError(f"{self.path}: this {self.role} takes no labels")
            return None
        values = np.asarray(labels)
        if values.ndim == 0:
            values = np.full(rows, values)
        classes = self.metadata.classes
        if values.shape != (rows,) or not np.issubdtype(values.dtype, np.integer):
            raise InputError(
                f"{self.path}: labels must be {rows} integers, got {values.dtype} {values.shape}"
            )
        if values.min() < 0 or values.max() >= classes:
            raise InputError(f"{self.path}: labels must lie in 0..{classes - 1}")
        return values.astype(np.int64)


def _padded(rows: np.ndarray, size: int) -> np.ndarray:
    """``rows`` with zero rows appended up to ``size`` (a static-batch graph's last run)."""
    pad = np.zeros((size - len(rows), *rows.shape[1:]), rows.dtype)
    return np.concatenate([rows, pad])
