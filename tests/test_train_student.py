import json
import math
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train_student
from distiller_zoo import DistillContext, Distiller, build_distiller
import train_teacher
from conftest import ROOT
from dataset import load_dataset
from helper.augment import AugmentedBatch, DAConfig, build_augmentation, mixed_cross_entropy
from helper.core.errors import UsageError
from helper.core.seeds import make_generators
from helper.data.splits import DeviceSplit, Normalize
from helper.engine.loop import run_epoch
from helper.engine.objective import Objective
from helper.engine.runtime import Runtime
from helper.engine.steps import DistillStep, Networks
from helper.storage.checkpoint import load_checkpoint
from models import model_dict

NINE_DAS = [("identity", "teacher_entropy"), ("flip", "teacher_entropy"), ("crop+flip", "teacher_entropy"),
            ("cutout", "teacher_entropy"), ("autoaugment", "teacher_entropy"), ("mixup", "teacher_entropy"),
            ("cutmix", "teacher_entropy"), ("cutmix_pick", "teacher_entropy"), ("cutmix_pick", "student_entropy")]


@pytest.fixture(scope="module")
def digits_teacher(tmp_path_factory):
    root = tmp_path_factory.mktemp("teachers")
    train_teacher.main(["--dataset", "digits", "--model", "resnet8", "--epochs", "2", "--train_subset", "300",
                        "--model_path", str(root)])
    return str(root / "resnet8_digits_lr_0.05_decay_0.0005_trial_0" / "ckpt_epoch_2.pth")


@pytest.mark.parametrize("mix_mode, criterion", NINE_DAS)
def test_one_epoch_per_da_with_the_original_command(digits_teacher, tmp_path, mix_mode, criterion):
    project = f"kd__resnet8resnet8__digits__{mix_mode}_{criterion}"
    summary = train_student.main([
        "--path_t", digits_teacher, "--distill", "kd", "--model_s", "resnet8", "-r", "0.1", "-a", "0.9",
        "-b", "0", "--t_output_as_target_for_input_mix", "--lw_mix", "[1,0,1]", "--mix_mode", mix_mode,
        "--mix_n_run", "2", "--cutmix_pick_criterion", criterion, "--project", project,
        "--dataset", "digits", "--epochs", "1", "--train_subset", "192", "--test_subset", "100",
        "--model_path", str(tmp_path)])
    folder = tmp_path / f"{project}_trial_1"
    with open(folder / "summary.json") as f:
        assert json.load(f) == summary
    assert summary["da"] == train_student.da_name(mix_mode, criterion)
    assert (summary["arch"], summary["teacher_arch"], summary["distill"]) == ("resnet8", "resnet8", "kd")
    assert summary["objective"] == {"ce": 0.1, "kl_x": 0.9, "ce_mix_view": 0, "kl_view": 0.9, "other": 0, "kd_T": 4}
    with open(folder / "args.json") as f:
        assert json.load(f)["lw_mix"] == [1.0, 0.0, 1.0]
    # the recorded test loss and accuracy are those of the saved student on the test subset
    data = load_dataset("digits").subset(None, 100, seed=0)
    student = model_dict["resnet8"](num_classes=10)
    student.load_state_dict(load_checkpoint(str(folder / "last.pth"))["model"])
    with torch.no_grad():
        logits = student.eval()(Normalize(data.mean, data.std, "cpu")(data.test_x))
    assert summary["last_test_loss"] == pytest.approx(F.cross_entropy(logits, data.test_y).item(), rel=1e-4)
    assert summary["last_test_acc"] == pytest.approx(100 * (logits.argmax(1) == data.test_y).float().mean().item())


class CountingModel(torch.nn.Module):
    """A tiny classifier that counts its forwards and the images it saw."""

    def __init__(self, num_classes=3):
        super().__init__()
        self.fc = torch.nn.Linear(3, num_classes)
        self.calls, self.images = 0, 0

    def forward(self, x, is_feat=False, preact=False):
        self.calls += 1
        self.images += len(x)
        logits = self.fc(x.mean(dim=(2, 3)))
        return ([x, logits], logits) if is_feat else logits


def count_forwards(mix_mode, pick_by_student=False, lw_mix=(1, 0, 1), n=16, batch=8):
    torch.manual_seed(0)
    student, teacher = CountingModel(), CountingModel()
    split = DeviceSplit(torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8), torch.arange(n) % 3, "cpu", pad=1)
    augmentation = build_augmentation(mix_mode, DAConfig(8))
    distiller = build_distiller("kd", DistillContext([], [], split.y.cpu(), SimpleNamespace(kd_T=4, logit_stand=False)))
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
    generators = make_generators(0)
    step = DistillStep(Networks(student, teacher, distiller), Objective(0.1, 0.9, 0, lw_mix, 4), augmentation,
                       optimizer, Runtime(Normalize((0.5,) * 3, (0.25,) * 3, "cpu")), generators["augment"],
                       pick_by_student)
    run_epoch(step, split, batch, generators, 1, 1)
    return teacher.calls, teacher.images, student.calls, student.images


def test_kd_with_a_view_runs_teacher_and_student_once_per_input():
    # Two batches of 8: teacher on x and x', student on x and x'.
    assert count_forwards("cutmix") == (4, 32, 4, 32)


def test_cutmix_pick_reuses_the_teachers_scores_of_the_pool():
    # Teacher on x (8) and on the pool of 2 x 8; the picked views reuse the pool's logits.
    assert count_forwards("cutmix_pick") == (4, 16 + 32, 4, 32)


def test_cutmix_pick_by_student_entropy_scores_the_pool_with_the_student():
    assert count_forwards("cutmix_pick", pick_by_student=True) == (4, 32, 6, 32 + 32)


def test_no_view_is_made_when_its_weights_are_zero():
    assert count_forwards("cutmix", lw_mix=(1, 0, 0)) == (2, 16, 2, 16)


def test_mixed_cross_entropy_by_hand():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    target = torch.tensor([0, 1])
    view = AugmentedBatch(None, torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([0.75, 1.0]))
    ce = lambda row, label: -F.log_softmax(logits[row], dim=0)[label]  # noqa: E731
    expected = (0.75 * ce(0, 0) + 0.25 * ce(0, 1) + 1.0 * ce(1, 1)) / 2
    assert mixed_cross_entropy(logits, target, view).item() == pytest.approx(expected.item())


def test_objective_weights_by_hand():
    """gamma*CE + alpha*(lw1*KL(x) + lw3*KL(x')) on fixed logits, with the KL written out."""
    s, t = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    T = 4.0
    p_t = torch.softmax(t / T, dim=1)
    kl = (p_t * (p_t.log() - torch.log_softmax(s / T, dim=1))).sum() * T * T
    objective = Objective(0.1, 0.9, 0.0, [1, 0, 1], T)
    assert objective.kl(s, t).item() == pytest.approx(kl.item(), rel=1e-6)
    assert objective.needs_view and not Objective(0.1, 0.9, 0, [1, 0, 0], T).needs_view


@pytest.mark.parametrize("flags, message", [
    (["--lw_mix", "[1,0]"], "three weights"),
    (["--lw_mix", "__import__('os')"], "must be three numbers"),
    (["--mix_mode", "rotate"], "choose one of: identity, flip, crop\\+flip"),
    (["--n_pick", "1"], "--n_pick"),
])
def test_bad_student_flags_are_refused(flags, message):
    with pytest.raises(UsageError, match=message):
        train_student.parse_args(["--path_t", "x.pth"] + flags)


def test_unknown_distiller_is_a_clean_error():
    out = subprocess.run([sys.executable, "train_student.py", "--path_t", "x.pth", "--distill", "magic"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "invalid choice: 'magic'" in out.stderr and "crd" in out.stderr
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1, "one line, not argparse's usage text"


class TinyNet(torch.nn.Module):
    """Logits linear in the per-channel means, so the test can redo the forward in float64."""

    def __init__(self, seed, num_classes=4):
        super().__init__()
        self.fc = torch.nn.Linear(3, num_classes)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(num_classes, 3, generator=torch.Generator().manual_seed(seed)) * 3)
            self.fc.bias.copy_(torch.randn(num_classes, generator=torch.Generator().manual_seed(seed + 1)))

    def forward(self, x, is_feat=False, preact=False):
        logits = self.fc(x.mean(dim=(2, 3)))
        return ([logits], logits) if is_feat else logits

    def float64(self, x):
        return x.double().mean(dim=(2, 3)) @ self.fc.weight.double().T + self.fc.bias.double()


class SquaredGap(Distiller):
    """A stub 'other' loss: the mean squared gap between student and teacher logits on x."""

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        return (logit_s - logit_t).pow(2).mean()


def test_distill_step_loss_against_a_hand_computation():
    gamma, alpha, beta, lw, T = 0.3, 0.7, 0.05, (0.2, 0.5, 1.3), 2.0
    images = torch.randint(0, 256, (6, 3, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 1, 2, 3, 1, 2])
    student, teacher = TinyNet(10), TinyNet(20)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    augmentation = build_augmentation("cutmix", DAConfig(4))
    step = DistillStep(Networks(student, teacher, SquaredGap()), Objective(gamma, alpha, beta, lw, T), augmentation,
                       None, Runtime(Normalize(mean, std, "cpu")), torch.Generator().manual_seed(5))
    loss, _, _, terms = step.loss(images, target, torch.arange(6), epoch=1)

    # the same view, drawn from a generator in the same state
    x = images.double() / 255
    view = augmentation(images.float() / 255, torch.Generator().manual_seed(5))
    m, s = torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1), torch.tensor(std, dtype=torch.float64).view(1, 3, 1, 1)
    s_x, t_x = student.float64((x - m) / s), teacher.float64((x - m) / s)
    s_v, t_v = student.float64((view.x.double() - m) / s), teacher.float64((view.x.double() - m) / s)

    def ce(logits, y):
        return (torch.logsumexp(logits, 1) - logits[torch.arange(len(y)), y])

    def kl(ls, lt):
        log_ps, log_pt = torch.log_softmax(ls / T, 1), torch.log_softmax(lt / T, 1)
        return (log_pt.exp() * (log_pt - log_ps)).sum(1).mean() * T * T

    lam = view.lam.double()
    ce_mix = (lam * ce(s_v, target[view.source]) + (1 - lam) * ce(s_v, target[view.partner])).mean()
    expected = (gamma * ce(s_x, target).mean()
                + alpha * (lw[0] * kl(s_x, t_x) + lw[1] * ce_mix + lw[2] * kl(s_v, t_v))
                + beta * (s_x - t_x).pow(2).mean())
    assert not torch.equal(view.x, images.float() / 255)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    by_hand = {"ce": ce(s_x, target).mean(), "kl_x": kl(s_x, t_x), "mixed_ce": ce_mix, "kl_view": kl(s_v, t_v),
               "method": (s_x - t_x).pow(2).mean()}
    assert {name: value.item() for name, value in terms.items()} == pytest.approx(
        {name: value.item() for name, value in by_hand.items()}, rel=1e-5)


def test_a_kd_cutmix_student_logs_each_loss_term_per_epoch(digits_teacher, tmp_path):
    """KL on x and KL on x' apart, in metrics.jsonl and TensorBoard; the logged loss is their weighted sum."""
    summary = train_student.main([
        "--path_t", digits_teacher, "--distill", "kd", "--model_s", "resnet8", "-r", "0.1", "-a", "0.9", "-b", "0",
        "--lw_mix", "[1,0,1]", "--mix_mode", "cutmix", "--dataset", "digits", "--epochs", "2",
        "--train_subset", "128", "--test_subset", "100", "--device", "cpu", "--model_path", str(tmp_path)])
    folder = next(tmp_path.iterdir())
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2] and summary["last_test_loss"] == rows[-1]["test_loss"]
    for row in rows:
        assert {"train_ce", "train_kl_x", "train_kl_view"} <= set(row) and "train_mixed_ce" not in row
        assert row["train_kl_x"] != row["train_kl_view"]
        weighted = 0.1 * row["train_ce"] + 0.9 * 1 * row["train_kl_x"] + 0.9 * 1 * row["train_kl_view"]
        assert row["train_loss"] == pytest.approx(weighted, rel=1e-6)
    events = EventAccumulator(str(folder / "tensorboard")).Reload()
    for name in ("train_ce", "train_kl_x", "train_kl_view"):
        logged = [(e.step, e.value) for e in events.Scalars(name)]
        assert logged == [(row["epoch"], pytest.approx(row[name], rel=1e-6)) for row in rows]


def test_students_with_different_das_see_the_same_standard_batches(digits_teacher, tmp_path, monkeypatch):
    """The stronger DA draws from a stream of its own: for one seed, a cutmix and a mixup student
    get the same batches with the same crops and flips, batch after batch (common random numbers)."""
    seen = {}

    class RecordingStep(train_student.DistillStep):
        def __call__(self, images, target, index, epoch):
            seen.setdefault(self.augmentation.name, []).append((images.clone(), index.clone()))
            return super().__call__(images, target, index, epoch)

    monkeypatch.setattr(train_student, "DistillStep", RecordingStep)
    for mix_mode in ("cutmix", "mixup"):
        train_student.main(["--path_t", digits_teacher, "--model_s", "resnet8", "-r", "0.1", "-a", "0.9", "-b", "0",
                            "--lw_mix", "[1,0,1]", "--mix_mode", mix_mode, "--dataset", "digits", "--epochs", "1",
                            "--batch_size", "16", "--train_subset", "96", "--test_subset", "60",
                            "--model_path", str(tmp_path)])
    assert len(seen["cutmix"]) == len(seen["mixup"]) == 6
    for number, ((images_a, index_a), (images_b, index_b)) in enumerate(zip(seen["cutmix"], seen["mixup"])):
        assert torch.equal(index_a, index_b) and torch.equal(images_a, images_b), f"batch {number} differs"
