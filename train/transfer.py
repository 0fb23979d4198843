"""Moving the trainer's tensors to its device without making the host wait for the GPU.

A copy from ordinary (pageable) host memory to a GPU synchronises the host with the device
before it starts, so each small copy a step makes (the batch's indices, its z, augmentation
parameters) would drain the GPU's queue and leave it idle while Python prepares the next
kernels. Pinned memory lets the copy be queued behind the work already launched. The data
set itself stays on the GPU when it fits, so a batch is an index into device memory.
"""

from __future__ import annotations

import torch

# Keep the data set on the GPU while it takes at most this share of the free memory.
RESIDENT_SHARE = 0.25


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``; a host tensor bound for a GPU goes through pinned memory,
    asynchronously (torch's pinned-memory cache keeps it alive until the copy is done)."""
    if device.type != "cuda" or tensor.device.type != "cpu":  # nothing to pin
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def resident(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The data set where batches are cut from it: on a GPU when it takes at most a quarter
    of the free memory, else in pinned host memory (each batch then copies asynchronously)."""
    if device.type != "cuda":
        return tensor
    free, _total = torch.cuda.mem_get_info(device)
    if tensor.numel() * tensor.element_size() <= RESIDENT_SHARE * free:
        return tensor.to(device)
    return tensor.pin_memory()
