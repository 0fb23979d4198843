"""The feature network, trained for real: accuracy, determinism, caching, quick FID."""

import numpy as np
import pytest
import torch

from ganport.core.errors import InputError
from ganport.infer.quality import metrics as quality
from ganport.infer.quality.feature_net import (
    TRAIN_STEPS,
    feature_net_for,
    load_feature_net,
    quick_fid,
    save_feature_net,
    train_feature_net,
)
from ganport.infer.quality.fingerprint import cache_path, check_same_data, split_indices
from ganport.train.checkpoint import load_checkpoint
from ganport.train.data import Dataset, load_dataset

QUICK_STEPS = 40  # enough for a usable digits network in a couple of seconds


@pytest.fixture(scope="module")
def digits16():
    return load_dataset("digits", 16)


@pytest.fixture(scope="module")
def digits_net(digits16):
    return train_feature_net(digits16, seed=0, steps=QUICK_STEPS)


def test_mnist5k_network_is_accurate_and_confident(mnist5k_feature_net, mnist5k_28):
    net = mnist5k_feature_net
    assert net.test_accuracy >= 0.97
    assert (net.n_classes, net.train_steps, net.seed) == (10, TRAIN_STEPS, 0)
    assert net.path.name == "mnist5k_28px_1ch_seed0_v1.pt"
    _, held_out = net.split()
    out = net.embed(mnist5k_28.images[held_out])
    assert out.features.shape == (1000, 128) and out.features.dtype == np.float32
    assert (out.features >= 0).all()  # pooled ReLU activations
    np.testing.assert_allclose(out.probs.sum(axis=1), 1.0, rtol=1e-6)
    # The classifier score's scale needs a classifier that is confident on real images.
    assert quality.classifier_score(out.probs) > 9.0


def test_cached_network_is_reloaded_with_the_same_outputs(
    mnist5k_feature_net, mnist5k_28, tmp_path_factory
):
    again = feature_net_for(mnist5k_28, cache_dir=tmp_path_factory.getbasetemp() / "feature_nets")
    assert not again.trained_now
    assert again.test_accuracy == mnist5k_feature_net.test_accuracy
    images = mnist5k_28.images[:64]
    np.testing.assert_array_equal(
        again.embed(images).features, mnist5k_feature_net.embed(images).features
    )
    # Plain data only: the safe loader reads the cache file.
    payload = torch.load(again.path, weights_only=True)
    assert payload["format"] == "ganport-feature-net"


def test_training_is_deterministic_by_seed_and_leaves_the_global_rng_alone(digits16, digits_net):
    state = torch.get_rng_state()
    again = train_feature_net(digits16, seed=0, steps=QUICK_STEPS)
    assert torch.equal(torch.get_rng_state(), state)
    for key, value in digits_net.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key]), key
    assert again.test_accuracy == digits_net.test_accuracy >= 0.9
    other = train_feature_net(digits16, seed=1, steps=QUICK_STEPS)
    assert not torch.equal(other.model.head.weight, digits_net.model.head.weight)


def test_split_is_seeded_disjoint_and_holds_out_a_thousand_or_a_fifth():
    train_idx, test_idx = split_indices(5000, seed=0)
    assert (len(train_idx), len(test_idx)) == (4000, 1000)
    assert np.union1d(train_idx, test_idx).tolist() == list(range(5000))
    assert np.array_equal(split_indices(5000, seed=0)[1], test_idx)
    assert not np.array_equal(split_indices(5000, seed=1)[1], test_idx)
    assert len(split_indices(1797, seed=0)[1]) == 359


def test_a_saved_network_is_what_the_cache_returns(digits16, digits_net, tmp_path):
    path = cache_path(digits16, seed=0, cache_dir=tmp_path)
    assert path.name == "digits_16px_1ch_seed0_v1.pt"
    save_feature_net(digits_net, path)
    cached = feature_net_for(digits16, seed=0, cache_dir=tmp_path)
    assert not cached.trained_now
    assert cached.train_steps == QUICK_STEPS
    assert cached.test_accuracy == digits_net.test_accuracy


def test_path_named_data_sets_get_a_stable_distinct_cache_name(tmp_path):
    images = torch.zeros(1, 1, 8, 8)
    a = cache_path(Dataset(images, None, str(tmp_path / "data")), 0, "cache")
    same = cache_path(Dataset(images, None, str(tmp_path / "data") + "/"), 0, "cache")
    other = cache_path(Dataset(images, None, str(tmp_path / "x" / "data")), 0, "cache")
    assert a == same != other
    assert a.name.startswith("data-") and a.name.endswith("_8px_1ch_seed0_v1.pt")


def test_data_without_labels_is_an_input_error():
    unlabelled = Dataset(torch.zeros(100, 1, 8, 8), None, "faces")
    with pytest.raises(InputError, match="no labels"):
        train_feature_net(unlabelled, steps=1)


def test_a_network_refuses_data_it_was_not_trained_on(digits_net, digits16):
    shuffled = Dataset(digits16.images.flip(0), digits16.labels.flip(0), "digits")
    with pytest.raises(InputError, match="was trained on 'digits'"):
        check_same_data(digits_net, shuffled)
    with pytest.raises(InputError, match="was trained on"):
        digits_net.reference_stats(load_dataset("digits", 8))


def test_files_that_are_not_feature_networks_are_refused(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(InputError, match="not a readable feature network"):
        load_feature_net(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(InputError, match="not a ganport feature network"):
        load_feature_net(foreign)
    code = tmp_path / "code.pt"
    torch.save({"format": "ganport-feature-net", "hook": np.random.default_rng}, code)
    with pytest.raises(InputError, match=r"refused: .* could run code"):
        load_feature_net(code)


def test_quick_fid_is_deterministic_and_leaves_the_training_run_alone(
    dcgan28_checkpoint, mnist5k_28, mnist5k_feature_net
):
    ckpt = load_checkpoint(dcgan28_checkpoint)
    generator = ckpt.generator(ema=False).train()  # as the training loop holds it
    rng_state = torch.get_rng_state()
    nz = ckpt.config.model.nz
    fid = quick_fid(generator, mnist5k_28, 200, mnist5k_feature_net, nz=nz)
    assert generator.training
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert quick_fid(generator, mnist5k_28, 200, mnist5k_feature_net, nz=nz) == fid
    # Six training steps are far from real data: compare with 200 real held-out images.
    _, held_out = mnist5k_feature_net.split()
    real = mnist5k_feature_net.embed(mnist5k_28.images[held_out[:200]]).features
    floor = quality.frechet_distance_from_stats(
        quality.gaussian_stats(real), mnist5k_feature_net.reference_stats(mnist5k_28)
    )
    assert fid > 10 * floor
