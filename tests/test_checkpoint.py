import os
import pickle

import pytest
import torch

from helper.core.errors import CheckpointError
from helper.storage.checkpoint import infer_arch, load_checkpoint, save_checkpoint

NAMES = ["resnet8", "resnet8x4", "resnet32x4", "wrn_40_2", "wrn_16_2", "vgg13", "ResNet50"]


@pytest.mark.parametrize("folder, arch", [
    ("resnet8x4_vanilla", "resnet8x4"), ("resnet8_vanilla", "resnet8"),
    ("wrn_40_2_vanilla", "wrn_40_2"), ("resnet32x4_cifar100_lr_0.05_decay_0.0005_trial_0", "resnet32x4"),
    ("ResNet50_vanilla", "ResNet50"), ("vgg13_cifar100_lr_0.05_decay_0.0005_trial_1", "vgg13"),
])
def test_arch_from_crd_folder_names(tmp_path, folder, arch):
    assert infer_arch({}, str(tmp_path / folder / "ckpt_epoch_240.pth"), NAMES) == arch


def test_arch_entry_wins_and_fallback_is_last(tmp_path):
    path = str(tmp_path / "resnet8_vanilla" / "x.pth")
    assert infer_arch({"arch": "vgg13"}, path, NAMES) == "vgg13"
    assert infer_arch({}, str(tmp_path / "mine" / "x.pth"), NAMES, fallback="wrn_16_2") == "wrn_16_2"
    with pytest.raises(CheckpointError, match="--model_t"):
        infer_arch({}, str(tmp_path / "mine" / "x.pth"), NAMES)


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = str(tmp_path / "ckpt.pth")
    save_checkpoint({"epoch": 1, "w": torch.ones(3)}, path)

    def broken_save(obj, f):
        f.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"epoch": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    state = load_checkpoint(path)
    assert state["epoch"] == 1 and torch.equal(state["w"], torch.ones(3))
    assert os.listdir(tmp_path) == ["ckpt.pth"]  # no temporary file left behind


def test_truncated_checkpoint_is_one_line_naming_the_file(tmp_path):
    path = str(tmp_path / "ckpt.pth")
    save_checkpoint({"w": torch.randn(1000)}, path)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert path in str(err.value) and "\n" not in str(err.value)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = str(tmp_path / "evil.pth")
    torch.save({"model": {}, "payload": _RunsCode()}, path)
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_checkpoint(path)
    assert not os.path.exists(tmp_path / "PWNED_BY_PICKLE")


def test_plain_pickle_is_refused_without_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = str(tmp_path / "old_format.pth")
    with open(path, "wb") as f:
        pickle.dump(_RunsCode(), f)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not os.path.exists(tmp_path / "PWNED_BY_PICKLE")
