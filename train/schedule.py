"""The learning rate over a run: constant, or constant and then falling linearly to zero.

An unconditional DCGAN with modes keeps moving at lr 2e-3 to its last step; letting both
rates fall to zero over the second half settles G and D together, more than the EMA of G
alone does (mnist5k, 70 epochs: FID 0.77 → 0.66, recall 0.73 → 0.75 at the same precision,
0.63; README, `ganport pipeline`). A labelled model's recall fell with it, so only the
modes recipe decays.

The rate is a function of the step and the run's length, not a torch scheduler object:
there is no scheduler state to checkpoint, and a run resumed towards the same last step
is at the same rate by construction.
"""

from __future__ import annotations


def lr_factor(step: int, total: int, decay_from: float) -> float:
    """The share of the base learning rate at ``step`` (0-based) of a ``total``-step run:
    1 before ``decay_from`` of the run, then linear towards 0 at ``total``, so the last
    step taken still moves (1 / the decay's length). ``decay_from`` 1: constant."""
    start = decay_from * total
    if step < start or total <= start:
        return 1.0
    return max(0.0, (total - step) / (total - start))
