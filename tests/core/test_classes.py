"""The rule that picks a conditional generator's class from z[:, 0] (numpy only)."""

from statistics import NormalDist

import numpy as np
import pytest

from ganport.core.classes import (
    check_shares,
    class_edges,
    class_of_latent,
    edge_latent,
    latent_of_class,
)
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


SHARES = (0.05, 0.5, 0.15, 0.3)


def test_classes_come_out_at_their_shares():
    """A model on modes draws each as often as its cluster holds images."""
    z = np.random.default_rng(1).standard_normal((200_000, 3), dtype=np.float32)
    drawn = np.bincount(class_of_latent(z, 4, SHARES), minlength=4) / len(z)
    np.testing.assert_allclose(drawn, SHARES, atol=0.004)
    # Equal shares are the equal bins, edge for edge.
    np.testing.assert_array_equal(class_edges(4, (0.25,) * 4), class_edges(4))


@pytest.mark.parametrize("label", [0, 1, 3])
def test_latent_of_class_with_shares_keeps_the_quantile_within_the_bin(label):
    z = np.random.default_rng(3).standard_normal((5_000, 4), dtype=np.float32)
    moved = latent_of_class(z, 4, label, SHARES)
    assert (class_of_latent(moved, 4, SHARES) == label).all()
    np.testing.assert_array_equal(moved[:, 1:], z[:, 1:])
    order = np.argsort(z[:, 0])
    assert (np.diff(moved[order, 0]) >= 0).all()
    # The bin's median z lands at the bin's middle probability.
    middle = NormalDist().inv_cdf(sum(SHARES[:label]) + SHARES[label] / 2)
    assert abs(float(np.median(moved[:, 0])) - middle) < 0.05


def test_the_edge_latent_sits_on_the_shares_edges():
    z = edge_latent(np.zeros((30, 3), np.float32), 4, SHARES)
    assert set(class_edges(4, SHARES)) <= set(z[:, 0])


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        ((0.5, 0.5), "2 class shares for 4 classes"),
        ((0.5, 0.5, 0.0, 0.0), "strictly between 0 and 1"),
        ((0.4, 0.4, 0.4, 0.4), "sum to 1.6"),
        (("a", 0.5, 0.25, 0.25), "strictly between 0 and 1"),
    ],
)
def test_bad_shares_are_refused(shares, message):
    with pytest.raises(InputError, match=message):
        check_shares(4, shares)
    with pytest.raises(InputError, match=message):
        class_edges(4, shares)
