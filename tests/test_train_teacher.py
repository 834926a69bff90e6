import json
import os

import pytest
import torch

import train_teacher
from conftest import SHARED_DATA
from dataset import load_dataset
from helper.cli.options import default_decay_epochs, parse_float_list, parse_int_list
from helper.core.errors import RunExistsError, UsageError
from helper.core.seeds import STANDARD_STREAMS, make_generators
from helper.data.splits import Normalize
from helper.engine.run import learning_rate
from helper.storage.checkpoint import load_checkpoint
from helper.storage.run_folder import read_metrics


def test_crd_step_schedule():
    decay = [150, 180, 210]
    assert learning_rate(1, 0.05, decay, 0.1) == 0.05
    assert learning_rate(150, 0.05, decay, 0.1) == 0.05
    assert learning_rate(151, 0.05, decay, 0.1) == pytest.approx(0.005)
    assert learning_rate(181, 0.05, decay, 0.1) == pytest.approx(0.0005)
    assert learning_rate(240, 0.05, decay, 0.1) == pytest.approx(0.00005)
    assert default_decay_epochs(240) == [150, 180, 210]
    assert default_decay_epochs(960) == [600, 720, 840]


COLLISION_NOTE = ("note: --epochs 2 scales CRD's lr decay epochs 150,180,210 (of 240) onto the same epochs, so the "
                  "decay epochs are 1,2 (2 of CRD's 3); --lr_decay_epochs chooses another schedule")


@pytest.mark.parametrize("epochs, decay, note", [(2, [1, 2], COLLISION_NOTE), (8, [5, 6, 7], ""),
                                                 (240, [150, 180, 210], "")])
def test_scaled_decay_epochs_that_collide_are_kept_and_noted_once(capsys, epochs, decay, note):
    opt = train_teacher.parse_args(["--model", "resnet8", "--epochs", str(epochs)])
    assert opt.lr_decay_epochs == decay  # the schedule of existing runs, unchanged
    assert capsys.readouterr().err.strip() == note


def test_the_random_streams_keep_their_seeds():
    """Seeds of the streams before the stronger DA had its own (commit 7a3a636): a teacher's
    numbers and a student's without a view stay bitwise as they were."""
    seeds = {name: g.initial_seed() for name, g in make_generators(0).items()}
    assert seeds == {"data": 2968811710, "augment": 3964924996, "stronger_da": 3141116543}
    assert {name: g.initial_seed() for name, g in make_generators(0, STANDARD_STREAMS).items()} == \
        {"data": 2968811710, "augment": 3964924996}


def test_list_flags_parse_without_eval():
    assert parse_int_list("150,180,210") == [150, 180, 210]
    assert parse_float_list("[1,0,1]") == [1.0, 0.0, 1.0]
    assert parse_float_list(" [0.5, 0.25 ,1] ") == [0.5, 0.25, 1.0]
    for bad in ("[1,,1]", "__import__('os')", "[1,0,"):
        with pytest.raises(ValueError):
            parse_float_list(bad)


def test_epoch_factor_scales_epochs_and_decay():
    opt = train_teacher.parse_args(["--model", "resnet8", "--epoch_factor", "4"])
    assert opt.epochs == 960 and opt.lr_decay_epochs == [600, 720, 840]
    assert train_teacher.parse_args(["--model", "ShuffleV1"]).learning_rate == 0.01


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "0"], "--epochs must be positive"),
    (["--batch_size", "-1"], "--batch_size must be positive"),
    (["--lr_decay_epochs", "180,150"], "increasing"),
    (["--learning_rate", "0"], "--learning_rate must be positive"),
])
def test_bad_schedules_are_refused(flags, message):
    with pytest.raises(UsageError, match=message):
        train_teacher.parse_args(["--model", "resnet8"] + flags)


def run_digits(tmp_path, *extra):
    args = ["--dataset", "digits", "--model", "resnet8", "--epochs", "2", "--train_subset", "400",
            "--model_path", str(tmp_path), "--save_freq", "1", *extra]
    return train_teacher.main(args)


def test_two_epoch_digits_run_writes_the_run_folder(tmp_path):
    summary = run_digits(tmp_path)
    folder = tmp_path / "resnet8_digits_lr_0.05_decay_0.0005_trial_0"
    metrics = read_metrics(str(folder))
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert metrics[0]["lr"] == 0.05 and metrics[1]["lr"] == pytest.approx(0.005)  # decays after epoch 1 of 2
    assert {"train_loss", "train_acc", "test_loss", "test_acc", "seconds"} <= set(metrics[0])
    with open(folder / "summary.json") as f:
        assert json.load(f) == summary
    assert summary["last_test_acc"] == metrics[-1]["test_acc"]
    assert summary["best_test_acc"] == max(m["test_acc"] for m in metrics)
    with open(folder / "args.json") as f:
        args = json.load(f)
    assert args["model"] == "resnet8" and "torch" in args["versions"]
    assert os.listdir(folder / "tensorboard")
    ckpt = load_checkpoint(str(folder / "ckpt_epoch_2.pth"))
    assert (ckpt["arch"], ckpt["num_classes"], ckpt["dataset"], ckpt["epoch"]) == ("resnet8", 10, "digits", 2)
    assert ckpt["accuracy"] == metrics[-1]["test_acc"]
    # The saved checkpoint re-evaluates to the accuracy the run recorded.
    acc, loss = train_teacher.main(["--dataset", "digits", "--evaluate", str(folder / "ckpt_epoch_2.pth")])
    assert acc == pytest.approx(metrics[-1]["test_acc"]) and loss == pytest.approx(metrics[-1]["test_loss"], rel=1e-5)
    with pytest.raises(RunExistsError, match="--overwrite"):
        run_digits(tmp_path)


def test_repdistiller_checkpoint_evaluates_from_its_folder_name(tmp_path, capsys):
    from models import model_dict
    model = model_dict["resnet8"](num_classes=10)
    path = tmp_path / "resnet8_vanilla" / "ckpt_epoch_240.pth"
    path.parent.mkdir()
    torch.save({"model": model.state_dict(), "epoch": 240}, path)  # RepDistiller's format, no 'arch'
    acc, loss = train_teacher.main(["--dataset", "digits", "--evaluate", str(path)])
    data = load_dataset("digits")
    with torch.no_grad():
        logits = model.eval()(Normalize(data.mean, data.std, "cpu")(data.test_x))
    assert acc == pytest.approx(100 * (logits.argmax(1) == data.test_y).float().mean().item())
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, data.test_y).item(), rel=1e-5)
    assert "resnet8 on digits" in capsys.readouterr().out


def test_teacher_for_another_class_count_is_refused(tmp_path):
    from models import model_dict
    path = tmp_path / "resnet8_vanilla" / "ckpt_epoch_240.pth"
    path.parent.mkdir()
    torch.save({"model": model_dict["resnet8"](num_classes=100).state_dict()}, path)
    with pytest.raises(Exception, match="classifier does not fit 10 classes"):
        train_teacher.main(["--dataset", "digits", "--evaluate", str(path)])


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, "cifar-100-python")),
                    reason="the shared CIFAR-100 copy is absent")
def test_one_epoch_on_real_cifar100_subset(tmp_path):
    summary = train_teacher.main(["--dataset", "cifar100", "--data_folder", SHARED_DATA, "--model", "resnet8",
                                  "--epochs", "1", "--train_subset", "2000", "--test_subset", "1000",
                                  "--model_path", str(tmp_path)])
    assert summary["num_classes"] == 100 and summary["dataset"] == "cifar100"
    # One epoch on 2,000 images: above chance (1%), far from trained.
    assert 1.5 < summary["last_test_acc"] < 30
    assert summary["last_test_loss"] < 4.7
