import pickle

import pytest
import torch

from ganport.core.errors import InputError
from ganport.train import load_checkpoint
from ganport.train.checkpoint import save_checkpoint


def test_round_trip(dcgan28_checkpoint):
    ckpt = load_checkpoint(dcgan28_checkpoint)
    assert ckpt.step == 6 and ckpt.config.model.arch == "dcgan"
    assert len(ckpt.sha256) == 64
    g, g_raw, d = ckpt.generator(), ckpt.generator(ema=False), ckpt.discriminator()
    assert not g.training and not d.training
    z = torch.randn(3, ckpt.config.model.nz)
    with torch.no_grad():
        assert g(z).shape == (3, 1, 28, 28)
        assert not torch.equal(g(z), g_raw(z))  # EMA and raw weights differ
        assert d(g(z)).shape == (3,)
    # Plain data only: the file loads with weights_only=True.
    state = torch.load(dcgan28_checkpoint, weights_only=True)
    assert set(state) >= {
        "config",
        "generator",
        "generator_ema",
        "discriminator",
        "optimizer_g",
        "optimizer_d",
        "step",
        "epoch",
        "rng",
        "versions",
    }
    # Trained: BatchNorm running statistics moved away from their initial values.
    assert not torch.equal(state["generator"]["net.1.running_mean"], torch.zeros(32))


def test_corrupt_checkpoint(tmp_path, dcgan28_checkpoint):
    cut = tmp_path / "cut.pt"
    cut.write_bytes(dcgan28_checkpoint.read_bytes()[:5000])
    with pytest.raises(InputError, match="not a readable checkpoint"):
        load_checkpoint(cut)


def test_checkpoint_of_another_format(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, other)
    with pytest.raises(InputError, match="not a ganport checkpoint"):
        load_checkpoint(other)


class _RunsCode:
    def __reduce__(self):
        return (print, ("pwned",))


def test_code_running_pickle_is_refused(tmp_path, capsys):
    evil = tmp_path / "evil.pt"
    torch.save({"format": "ganport-checkpoint", "payload": _RunsCode()}, evil)
    with pytest.raises(InputError, match="could run code"):
        load_checkpoint(evil)
    assert "pwned" not in capsys.readouterr().out
    plain = tmp_path / "evil.pkl"
    plain.write_bytes(pickle.dumps(_RunsCode()))
    with pytest.raises(InputError):
        load_checkpoint(plain)
    assert "pwned" not in capsys.readouterr().out


def test_save_is_atomic_when_serialisation_fails(tmp_path, dcgan28_checkpoint):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(dcgan28_checkpoint.read_bytes())
    before = target.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - any failure must leave the old file
        save_checkpoint(target, {"bad": lambda: None})
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_missing_and_folder_paths(tmp_path):
    with pytest.raises(InputError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(InputError, match="is a folder"):
        load_checkpoint(tmp_path)
