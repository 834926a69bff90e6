"""DKD, DIST, MLKD and logit-standardised KD in train_student.py: the objective on both views by hand
(what --method_as_kl means, and the target class of x'), a few epochs with CutMixPick on digits and on
a CIFAR-100 subset that lower the training loss, exact resumption, and the flags' errors."""
import json
import os
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

import train_student
import train_teacher
from conftest import SHARED_DATA
from distiller_zoo import DistillContext, build_distiller
from distiller_zoo.DKD import DKDLoss
from distiller_zoo.logit import LogitLoss
from helper.augment import DAConfig, build_augmentation
from helper.core.errors import UsageError
from helper.core.seeds import make_generators
from helper.data.splits import Normalize
from helper.engine.objective import Objective
from helper.engine.runtime import Runtime
from helper.engine.steps import DistillStep, Networks
from helper.storage.checkpoint import load_checkpoint
from helper.storage.run_folder import read_metrics
from test_resume import assert_bitwise_equal
from test_train_student import CountingModel

TEACHER_RUN = "resnet8_digits_lr_0.05_decay_0.0005_trial_0"

# the new methods as their authors weigh them (docs/distillers.md), each with CutMixPick as x'
METHODS = {
    "dkd": ["--distill", "dkd", "-r", "1", "-a", "0", "--dkd_warmup", "2"],
    "dkd_views": ["--distill", "dkd", "--method_as_kl", "-r", "1", "-a", "1", "--lw_mix", "[1,0,1]",
                  "--dkd_warmup", "2"],
    "dist_views": ["--distill", "dist", "--method_as_kl", "-r", "1", "-a", "2", "--lw_mix", "[1,0,1]"],
    "mlkd": ["--distill", "mlkd", "-r", "0.1", "-a", "0.1", "--lw_mix", "[0,1,0]"],
    "kd_ls": ["--distill", "kd", "--logit_stand", "-r", "0.1", "-a", "9", "--lw_mix", "[1,0,1]"],
}


class Recording(LogitLoss):
    """Wraps a logit loss and keeps what each call was given."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, []

    def forward(self, logit_s, logit_t, target, epoch):
        self.calls.append((logit_s.detach().clone(), logit_t.clone(), target.clone(), epoch))
        return self.inner(logit_s, logit_t, target, epoch)


def test_method_as_kl_puts_dkd_on_both_views_with_the_teachers_class_on_x_prime():
    """gamma CE + alpha (lw1 DKD(x, y) + lw3 DKD(x', top-1 of t(x'))), at the step's epoch (5 of a
    20-epoch warm-up, so that a wrong epoch changes the value)."""
    torch.manual_seed(0)
    student, teacher = CountingModel(4).double(), CountingModel(4).double()
    images = torch.randint(0, 256, (8, 3, 8, 8), dtype=torch.uint8)
    target = torch.arange(8) % 4
    kl = Recording(DKDLoss(1.0, 8.0, 4.0, warmup=20))
    objective = Objective(0.5, 0.9, 0, [1, 0, 0.7], 4, logit_loss=kl)
    normalize = Normalize((0.5,) * 3, (0.25,) * 3, "cpu")

    class Double(torch.nn.Module):  # the step casts images to float32; the models here are float64
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x, **kw):
            return self.model(x.double(), **kw)

    distiller = build_distiller("kd", DistillContext([], [], target, SimpleNamespace(kd_T=4, logit_stand=False)))
    step = DistillStep(Networks(Double(student), Double(teacher), distiller), objective,
                       build_augmentation("cutmix", DAConfig(8)), torch.optim.SGD(student.parameters(), lr=0.0),
                       Runtime(normalize), make_generators(0)["augment"], pick_by_student=True)
    loss, logit_s, _, _ = step.loss(images, target, torch.arange(8), epoch=5)
    (s_x, t_x, y_x, e_x), (s_v, t_v, y_v, e_v) = kl.calls
    assert torch.equal(y_x, target) and e_x == e_v == 5
    assert torch.equal(y_v, t_v.argmax(dim=1))  # the teacher's top-1 class on the mixed images
    assert not torch.equal(t_v, t_x)
    reference = DKDLoss(1.0, 8.0, 4.0, warmup=20)
    expected = (0.5 * F.cross_entropy(s_x, target) + 0.9 * (reference(s_x, t_x, target, 5)
                + 0.7 * reference(s_v, t_v, t_v.argmax(1), 5)))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-9)


@pytest.fixture(scope="module")
def digits_teacher(tmp_path_factory):
    root = tmp_path_factory.mktemp("teachers")
    train_teacher.main(["--dataset", "digits", "--model", "resnet8", "--epochs", "3", "--train_subset", "400",
                        "--model_path", str(root)])
    return str(root / TEACHER_RUN / "ckpt_epoch_3.pth")


def student_flags(path_t, folder, epochs, extra=()):
    return ["--path_t", path_t, "--model_s", "resnet8", "--mix_mode", "cutmix_pick", "--dataset", "digits",
            "--epochs", str(epochs), "--lr_decay_epochs", "10", "--batch_size", "16", "--train_subset", "96",
            "--test_subset", "60", "--project", "run", "--model_path", str(folder), *extra]


@pytest.mark.parametrize("method", list(METHODS))
def test_a_few_epochs_lower_the_loss_and_resume_bit_for_bit(method, digits_teacher, tmp_path, monkeypatch):
    flags = METHODS[method]
    straight = train_student.main(student_flags(digits_teacher, tmp_path / "straight", 3, flags))
    metrics = read_metrics(str(tmp_path / "straight" / "run_trial_1"))
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"], [m["train_loss"] for m in metrics]

    real_epoch = train_student.run_epoch

    def stop_at_epoch_3(step, split, batch_size, generators, epoch, *rest):
        if epoch == 3:
            raise KeyboardInterrupt
        return real_epoch(step, split, batch_size, generators, epoch, *rest)

    monkeypatch.setattr(train_student, "run_epoch", stop_at_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train_student.main(student_flags(digits_teacher, tmp_path / "killed", 3, flags))
    monkeypatch.setattr(train_student, "run_epoch", real_epoch)
    resumed = train_student.main(student_flags(digits_teacher, tmp_path / "killed", 3, [*flags, "--resume"]))
    a = load_checkpoint(str(tmp_path / "straight" / "run_trial_1" / "ckpt_epoch_3.pth"))
    b = load_checkpoint(str(tmp_path / "killed" / "run_trial_1" / "ckpt_epoch_3.pth"))
    for key in ("model", "distiller", "optimizer", "rng"):
        assert_bitwise_equal(a[key], b[key], key)
    assert resumed["last_test_loss"] == straight["last_test_loss"]


@pytest.fixture(scope="module")
def cifar_teacher(tmp_path_factory):
    if not os.path.isdir(os.path.join(SHARED_DATA, "cifar-100-python")):
        pytest.skip("no CIFAR-100 under the shared data folder")
    root = tmp_path_factory.mktemp("cifar_teacher")
    train_teacher.main(["--model", "resnet8", "--epochs", "2", *CIFAR_SUBSET, "--model_path", str(root)])
    return str(root / "resnet8_cifar100_lr_0.05_decay_0.0005_trial_0" / "ckpt_epoch_2.pth")


CIFAR_SUBSET = ["--dataset", "cifar100", "--data_folder", SHARED_DATA, "--train_subset", "400",
                "--test_subset", "100", "--batch_size", "32"]


@pytest.mark.parametrize("method", ["dkd_views", "dist_views", "mlkd", "kd_ls"])
def test_cifar100_subset_with_cutmix_pick(method, cifar_teacher, tmp_path):
    """3 epochs on 400 CIFAR-100 images from a briefly trained teacher lower the training loss."""
    train_student.main(["--path_t", cifar_teacher, "--model_s", "resnet8", "--mix_mode", "cutmix_pick", *CIFAR_SUBSET,
                        "--epochs", "3", "--lr_decay_epochs", "10", "--project", method,
                        "--model_path", str(tmp_path), *METHODS[method]])
    losses = [m["train_loss"] for m in read_metrics(str(tmp_path / f"{method}_trial_1"))]
    assert losses[-1] < losses[0], losses
    with open(tmp_path / f"{method}_trial_1" / "args.json") as f:
        assert json.load(f)["distill"] == METHODS[method][1]


@pytest.mark.parametrize("flags, message", [
    (["--distill", "crd", "--method_as_kl"], "--method_as_kl needs a logit method"),
    (["--distill", "mlkd", "--method_as_kl"], "--method_as_kl needs a logit method"),
    (["--distill", "dkd", "--method_as_kl", "-b", "1"], "drop -b"),
    (["--distill", "dist", "--logit_stand"], "not for dist's correlations"),
])
def test_flag_combinations_that_make_no_sense_are_refused(flags, message, digits_teacher, tmp_path):
    with pytest.raises(UsageError, match=message):
        train_student.main(student_flags(digits_teacher, tmp_path, 1, flags))


def test_base_temp_needs_logit_stand():
    with pytest.raises(UsageError, match="add --logit_stand"):
        train_student.parse_args(["--path_t", "x.pth", "--base_temp", "3"])
    assert train_student.parse_args(["--path_t", "x.pth", "--logit_stand"]).base_temp == 2.0


def test_notes_know_that_mlkd_uses_the_view_and_method_as_kl_uses_a():
    def notes(flags):
        opt = train_student.parse_args(["--path_t", "x.pth", "--mix_mode", "cutmix_pick", *flags])
        distiller = build_distiller(opt.distill, DistillContext([], [], torch.arange(4), opt))
        return " ".join(train_student.objective_warnings(opt, distiller))

    assert "no effect without --lw_mix" in notes(["--distill", "kd", "-a", "0.9"])
    assert "no effect" not in notes(["--distill", "mlkd", "-b", "0.9"])  # MLKD's strong view is x'
    assert "-b 0.9" in notes(["--distill", "mlkd"])  # its loss is off at the default -b 0
    assert "-a is 0" in notes(["--distill", "dkd", "--method_as_kl"])
