"""The rule that picks a conditional generator's class from z[:, 0] (numpy only)."""

import numpy as np
import pytest

from ganport.core.classes import class_edges, class_of_latent, latent_of_class
from ganport.core.errors import InputError


@pytest.mark.parametrize("classes", [2, 3, 10])
def test_classes_come_out_equally_often(classes):
    z = np.random.default_rng(0).standard_normal((200_000, 4), dtype=np.float32)
    shares = np.bincount(class_of_latent(z, classes), minlength=classes) / len(z)
    assert len(class_edges(classes)) == classes - 1
    np.testing.assert_allclose(shares, 1 / classes, atol=0.004)


def test_the_class_is_read_in_float32_on_both_sides_of_every_edge():
    edges = class_edges(10)
    assert edges.dtype == np.float32
    up = np.nextafter(edges, np.float32(np.inf))
    z = np.zeros((2 * len(edges), 3), np.float32)
    z[:, 0] = np.concatenate([edges, up])
    np.testing.assert_array_equal(
        class_of_latent(z, 10), np.concatenate([np.arange(9), np.arange(1, 10)])
    )


@pytest.mark.parametrize("label", [0, 4, 9])
def test_latent_of_class_moves_only_the_first_entry_into_the_bin(label):
    z = np.random.default_rng(2).standard_normal((5_000, 6), dtype=np.float32)
    moved = latent_of_class(z, 10, label)
    assert (class_of_latent(moved, 10) == label).all()
    np.testing.assert_array_equal(moved[:, 1:], z[:, 1:])
    # Same quantile within the bin: z[:, 0] → moved[:, 0] is monotone.
    order = np.argsort(z[:, 0])
    assert (np.diff(moved[order, 0]) >= 0).all()
    np.testing.assert_array_equal(latent_of_class(z, 10, label), moved)


def test_bad_class_counts_and_labels_are_refused():
    with pytest.raises(InputError, match="at least 2 classes"):
        class_edges(1)
    z = np.zeros((2, 3), np.float32)
    with pytest.raises(InputError, match="between 0 and 9"):
        latent_of_class(z, 10, 10)
    with pytest.raises(InputError, match="between 0 and 9"):
        latent_of_class(z, 10, -1)
