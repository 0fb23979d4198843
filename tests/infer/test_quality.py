"""The metric math against answers known in closed form or by hand."""

import numpy as np
import pytest

from ganport.infer.quality import metrics as quality


def gaussian(n, mean, cov, seed):
    return np.random.default_rng(seed).multivariate_normal(mean, cov, size=n)


def test_fid_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).standard_normal((2000, 16))
    assert quality.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_fid_matches_the_closed_form_for_exact_gaussians():
    # Σa = I, Σb = Q diag(λ) Qᵀ: FID = ‖Δμ‖² + Σ (1 + λ − 2√λ).
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    lam = np.array([0.25, 0.5, 1.0, 2.0, 4.0, 9.0])
    shift = np.array([1.0, -2.0, 0.0, 0.5, 0.0, 3.0])
    a = quality.GaussianStats(np.zeros(6), np.eye(6), n=0)
    b = quality.GaussianStats(shift, q @ np.diag(lam) @ q.T, n=0)
    expected = shift @ shift + np.sum(1 + lam - 2 * np.sqrt(lam))
    assert quality.frechet_distance_from_stats(a, b) == pytest.approx(expected, rel=1e-9)
    assert quality.frechet_distance_from_stats(b, a) == pytest.approx(expected, rel=1e-9)


def test_fid_of_shifted_gaussian_samples_is_close_to_the_shift_squared():
    a = gaussian(20000, np.zeros(4), np.eye(4), seed=2)
    b = gaussian(20000, np.full(4, 1.5), np.eye(4), seed=3)
    assert quality.frechet_distance(a, b) == pytest.approx(4 * 1.5**2, rel=0.02)


def test_fid_survives_dead_features_and_fewer_samples_than_dimensions():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((20000, 8)), rng.standard_normal((20000, 8)) + 1.0
    a[:, 0] = b[:, 0] = 0.0  # a ReLU unit that never fires: singular covariances
    assert quality.frechet_distance(a, b) == pytest.approx(7.0, rel=0.02)
    few = np.maximum(rng.standard_normal((50, 128)), 0)
    assert np.isfinite(
        quality.frechet_distance(few, np.maximum(rng.standard_normal((500, 128)), 0))
    )


def test_kid_by_hand_on_two_points():
    # d = 1, k(a, b) = (ab + 1)³: within x = k(0,1) = 1, within y = k(2,3) = 343,
    # across = (1 + 1 + 27 + 64) / 4 = 23.25 → 1 + 343 − 46.5.
    kid = quality.kernel_inception_distance([[0.0], [1.0]], [[2.0], [3.0]], subsets=3)
    assert kid.mean == pytest.approx(297.5)
    assert kid.std == pytest.approx(0.0)
    assert kid.subset_size == 2


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    a = gaussian(3000, np.zeros(8), np.eye(8), seed=5)
    b = gaussian(3000, np.zeros(8), np.eye(8), seed=6)
    c = gaussian(3000, np.full(8, 0.5), np.eye(8), seed=7)
    same = quality.kernel_inception_distance(a, b, subsets=50, subset_size=500)
    different = quality.kernel_inception_distance(a, c, subsets=50, subset_size=500)
    assert abs(same.mean) < 3 * same.std / np.sqrt(50) + 1e-3
    assert different.mean > 100 * abs(same.mean)
    assert different.mean > 5 * different.std


def test_kid_is_seeded():
    a, b = gaussian(800, np.zeros(3), np.eye(3), 8), gaussian(800, np.ones(3), np.eye(3), 9)
    first = quality.kernel_inception_distance(a, b, subsets=5, subset_size=100, seed=3)
    again = quality.kernel_inception_distance(a, b, subsets=5, subset_size=100, seed=3)
    other = quality.kernel_inception_distance(a, b, subsets=5, subset_size=100, seed=4)
    assert first == again
    assert first.mean != other.mean


def one_hot(labels, classes):
    return np.eye(classes)[labels]


def test_classifier_score_is_the_number_of_classes_for_confident_balanced_samples():
    assert quality.classifier_score(one_hot(np.arange(1000) % 10, 10)) == pytest.approx(10.0)
    assert quality.classifier_score(one_hot(np.arange(30) % 3, 10)) == pytest.approx(3.0)


def test_classifier_score_is_one_for_a_single_class_or_no_confidence():
    assert quality.classifier_score(one_hot(np.full(100, 4), 10)) == pytest.approx(1.0)
    assert quality.classifier_score(np.full((100, 10), 0.1)) == pytest.approx(1.0)


def test_classifier_score_of_imbalanced_confident_samples_is_exp_entropy():
    labels = np.array([0] * 75 + [1] * 25)
    entropy = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    assert quality.classifier_score(one_hot(labels, 2)) == pytest.approx(np.exp(entropy))


def test_classifier_score_refuses_what_is_not_probabilities():
    with pytest.raises(ValueError, match="sum to 1"):
        quality.classifier_score(np.random.default_rng(0).random((5, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        quality.classifier_score(np.random.default_rng(0).standard_normal((5, 3)))


def test_class_histogram_and_coverage_threshold():
    # 10 classes: the default threshold is 1 % (a tenth of a fair share).
    labels = np.array([0] * 500 + [1] * 300 + [2] * 195 + [3] * 5)
    histogram = quality.class_histogram(one_hot(labels, 10))
    np.testing.assert_allclose(histogram, [0.5, 0.3, 0.195, 0.005, 0, 0, 0, 0, 0, 0])
    assert quality.classes_covered(histogram) == 3  # 0.5 % of class 3 is a stray, not a mode
    assert quality.classes_covered(histogram, min_share=0.001) == 4
    assert quality.classes_covered(np.full(10, 0.1)) == 10


def test_precision_recall_of_identical_sets_is_one():
    x = np.random.default_rng(10).standard_normal((300, 5))
    pr = quality.precision_recall(x, x, k=3)
    assert (pr.precision, pr.recall) == (1.0, 1.0)


def test_precision_recall_of_far_apart_sets_is_zero():
    rng = np.random.default_rng(11)
    pr = quality.precision_recall(rng.standard_normal((300, 5)), rng.standard_normal((200, 5)) + 50)
    assert (pr.precision, pr.recall) == (0.0, 0.0)


def test_a_dropped_mode_costs_recall_not_precision():
    rng = np.random.default_rng(12)
    mode_a = rng.standard_normal((200, 5))
    mode_b = rng.standard_normal((200, 5)) + 50
    pr = quality.precision_recall(np.concatenate([mode_a, mode_b]), mode_a.copy(), k=3)
    assert (pr.precision, pr.recall) == (1.0, 0.5)


def test_precision_recall_does_not_depend_on_the_chunk_size():
    rng = np.random.default_rng(13)
    real, fake = rng.standard_normal((257, 6)), rng.standard_normal((301, 6)) * 1.3 + 0.4
    whole = quality.precision_recall(real, fake, chunk=4096)
    assert 0.0 < whole.precision < 1.0 and 0.0 < whole.recall < 1.0
    assert quality.precision_recall(real, fake, chunk=7) == whole


def test_mismatched_or_bad_features_are_value_errors():
    rng = np.random.default_rng(14)
    with pytest.raises(ValueError, match="feature sizes differ"):
        quality.frechet_distance(rng.standard_normal((10, 3)), rng.standard_normal((10, 4)))
    with pytest.raises(ValueError, match="non-finite"):
        quality.precision_recall(np.full((10, 2), np.nan), rng.standard_normal((10, 2)))
    with pytest.raises(ValueError, match="2-D"):
        quality.kernel_inception_distance(np.zeros(10), np.zeros(10))
