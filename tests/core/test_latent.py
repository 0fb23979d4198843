"""The latent convention in numpy: streaming, truncation and interpolation keep row i = sample i."""

from __future__ import annotations

import numpy as np
import pytest

from ganport.core.errors import InputError
from ganport.core.latent import latent, latent_batches, slerp, truncate


def test_chunked_draws_equal_one_big_draw():
    # What bounded-memory streaming rests on: default_rng fills rows sequentially.
    whole = np.random.default_rng(5).standard_normal((1000, 24), dtype=np.float32)
    for batch in (1, 7, 256, 999, 1000):
        chunks = list(latent_batches(1000, 24, 5, batch))
        assert [len(c) for c in chunks[:-1]] == [batch] * (len(chunks) - 1)
        assert np.array_equal(np.concatenate(chunks), whole)


def test_matches_the_training_side_convention():
    from ganport.core.latent import latent as train_latent

    assert np.array_equal(latent(37, 100, 3), train_latent(37, 100, 3))


def test_truncation_bounds_every_entry_and_ignores_batching():
    whole = latent(300, 32, 9, truncation=0.7)
    assert np.abs(whole).max() <= 0.7
    for batch in (1, 13, 300):
        assert np.array_equal(np.concatenate(list(latent_batches(300, 32, 9, batch, 0.7))), whole)
    plain = latent(300, 32, 9)
    inside = np.abs(plain) <= 0.7
    assert np.array_equal(whole[inside], plain[inside]), "entries within T must be kept"


def test_truncation_with_a_large_threshold_changes_nothing():
    z = latent(50, 16, 1)
    assert np.array_equal(truncate(z, 100.0, seed=1), z)


def test_slerp_ends_on_both_latents_and_keeps_their_scale():
    a, b = latent(1, 64, 1)[0], latent(1, 64, 2)[0]
    path = slerp(a, b, 9)
    assert path.shape == (9, 64) and path.dtype == np.float32
    assert np.array_equal(path[0], a) and np.allclose(path[-1], b, atol=1e-6)
    norms = np.linalg.norm(path, axis=1)
    # A straight line would dip to ~0.7 of the norm halfway between two random Gaussians.
    assert norms.min() > 0.9 * min(np.linalg.norm(a), np.linalg.norm(b))


def test_slerp_of_parallel_latents_is_a_straight_line():
    a = latent(1, 8, 1)[0]
    assert np.allclose(slerp(a, 2 * a, 3)[1], 1.5 * a)


@pytest.mark.parametrize(
    ("n", "seed", "batch", "truncation", "message"),
    [
        (0, 0, 8, None, "at least 1"),
        (4, -1, 8, None, "non-negative"),
        (4, 0, 0, None, "batch size"),
        (4, 0, 8, 0.0, "positive"),
    ],
)
def test_bad_arguments_are_input_errors_at_the_call(n, seed, batch, truncation, message):
    with pytest.raises(InputError, match=message):
        latent_batches(n, 8, seed, batch, truncation)


def test_slerp_needs_two_steps():
    with pytest.raises(InputError, match="at least 2 steps"):
        slerp(np.ones(4, np.float32), np.ones(4, np.float32), 1)
