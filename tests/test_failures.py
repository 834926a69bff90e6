"""Bad input and numerical faults end in one clear line and a non-zero exit; nothing on disk is lost."""
import os

import pytest
import torch

import train_student
import train_teacher
from conftest import one_line_error
from helper.storage.checkpoint import load_checkpoint
from helper.storage.run_folder import read_metrics
from models import model_dict


@pytest.fixture(scope="module")
def teacher_for_100_classes(tmp_path_factory):
    path = tmp_path_factory.mktemp("t") / "resnet8_vanilla" / "ckpt_epoch_240.pth"
    path.parent.mkdir()
    torch.save({"model": model_dict["resnet8"](num_classes=100).state_dict()}, path)
    return str(path)


def test_unknown_model_lists_the_valid_ones(capsys, tmp_path):
    line = one_line_error(capsys, train_teacher.main, ["--dataset", "digits", "--model", "resnet9",
                                                       "--model_path", str(tmp_path)])
    assert "unknown model 'resnet9'" in line and "resnet8x4" in line and "ShuffleV2" in line


def test_unknown_da_lists_the_valid_ones(capsys):
    line = one_line_error(capsys, train_student.main, ["--path_t", "x.pth", "--mix_mode", "cutmux"])
    assert "unknown --mix_mode 'cutmux'" in line and "cutmix_pick" in line and "autoaugment" in line


def test_malformed_lw_mix(capsys):
    line = one_line_error(capsys, train_student.main, ["--path_t", "x.pth", "--lw_mix", "[1,0"])
    assert "--lw_mix" in line


def test_teacher_with_another_class_count(capsys, tmp_path, teacher_for_100_classes):
    line = one_line_error(capsys, train_student.main, ["--path_t", teacher_for_100_classes, "--dataset", "digits",
                                                       "--model_path", str(tmp_path)])
    assert teacher_for_100_classes in line and "10 classes" in line


def test_missing_teacher_checkpoint(capsys, tmp_path):
    line = one_line_error(capsys, train_student.main, ["--path_t", str(tmp_path / "nope.pth"), "--dataset", "digits",
                                                       "--model_path", str(tmp_path)])
    assert "checkpoint not found" in line and "nope.pth" in line


def test_nan_loss_stops_naming_epoch_and_step_and_keeps_the_last_good_checkpoint(capsys, tmp_path, monkeypatch):
    real_run_epoch = train_teacher.run_epoch

    def poisoned(step, split, batch_size, generators, epoch, *rest):
        if epoch == 2:  # make the weights NaN before its first step
            with torch.no_grad():
                next(step.model.parameters()).fill_(float("nan"))
        return real_run_epoch(step, split, batch_size, generators, epoch, *rest)

    monkeypatch.setattr(train_teacher, "run_epoch", poisoned)
    # --lr_decay_epochs: the scaled default of 3 epochs (2,3) would add a note to the one line of stderr
    argv = ["--dataset", "digits", "--model", "resnet8", "--epochs", "3", "--lr_decay_epochs", "2,3",
            "--train_subset", "200", "--model_path", str(tmp_path)]
    line = one_line_error(capsys, train_teacher.main, argv)
    assert "NaN or infinite at epoch 2, step 0" in line
    folder = tmp_path / "resnet8_digits_lr_0.05_decay_0.0005_trial_0"
    last = load_checkpoint(str(folder / "last.pth"))
    assert last["epoch"] == 1 and all(torch.isfinite(t).all() for t in last["model"].values())
    assert not os.path.exists(folder / "ckpt_epoch_2.pth")
    assert [m["epoch"] for m in read_metrics(str(folder))] == [1]


@pytest.mark.parametrize("distill", ["fsp", "kdsvd"])
def test_method_that_does_not_suit_the_pair(capsys, tmp_path, distill):
    path = tmp_path / "resnet8_vanilla" / "ckpt_epoch_240.pth"
    path.parent.mkdir()
    torch.save({"model": model_dict["resnet8"](num_classes=10).state_dict()}, path)
    line = one_line_error(capsys, train_student.main, ["--path_t", str(path), "--dataset", "digits",
                                                       "--model_s", "resnet8x4", "--distill", distill,
                                                       "--model_path", str(tmp_path / "runs")])
    assert f"--distill {distill} needs equal channel counts" in line and "resnet32x4 -> resnet8x4" in line
    assert not (tmp_path / "runs").exists()
