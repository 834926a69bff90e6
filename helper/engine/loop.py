"""The one epoch loop of every training phase, with the optimisation step as the object that
varies (helper/engine/steps.py: cross-entropy, distillation, CRD's init phase), and evaluation.
An epoch's result is the mean loss, accuracy and loss terms of its samples (train_loss, train_acc,
train_<term>)."""
import torch
import torch.nn.functional as F

from helper.core.errors import NonFiniteLossError
from helper.core.modes import eval_mode
from helper.core.processes import Processes
from helper.core.progress import progress
from helper.core.speed import autocast, prepare_model
from helper.data.splits import EVAL_BATCH_SIZE
from helper.engine.runtime import Runtime
from helper.storage.pretrained import load_model


class NonFiniteGuard:
    """Remembers the first step whose loss was NaN or infinite, without a host sync per step."""

    def __init__(self, device):
        self.first_bad_step = torch.full((), -1, dtype=torch.long, device=device)

    def observe(self, loss, step):
        bad = ~torch.isfinite(loss.detach()) & (self.first_bad_step < 0)
        self.first_bad_step = torch.where(bad, torch.full_like(self.first_bad_step, step), self.first_bad_step)

    def check(self, epoch, processes=Processes()):
        # Every process learns of a fault on any of them, so all stop together.
        step = int(processes.max(self.first_bad_step.clone()))
        if step >= 0:
            raise NonFiniteLossError(
                f"the loss became NaN or infinite at epoch {epoch}, step {step}; the run stops and "
                "keeps the last good checkpoint (lower --learning_rate, or check the data)")


class EpochStats:
    """Sums kept on the device; read once per epoch."""

    def __init__(self, device):
        # loss sum, correct count, samples seen: one tensor, so processes reduce it in one call
        self.sums = torch.zeros(3, dtype=torch.float64, device=device)
        self.term_sums = {}  # name -> sample-weighted sum of a loss term, as the loss's

    def update(self, loss, logits, target, terms=None):
        n = len(target)
        correct = (logits.detach().argmax(dim=1) == target).sum().double() if logits is not None \
            else self.sums.new_zeros(())
        self.sums += torch.stack([loss.detach().double() * n, correct,
                                  torch.tensor(float(n), dtype=torch.float64, device=self.sums.device)])
        for name, value in (terms or {}).items():
            self.term_sums[name] = self.term_sums.get(name, 0) + value.detach().double() * n

    def result(self, prefix, processes=Processes()):
        loss, correct, seen = processes.sum(self.sums.clone()).tolist()
        result = {f"{prefix}_loss": loss / seen, f"{prefix}_acc": 100.0 * correct / seen}
        if self.term_sums:
            names = sorted(self.term_sums)
            sums = processes.sum(torch.stack([self.term_sums[name] for name in names])).tolist()
            result.update({f"{prefix}_{name}": total / seen for name, total in zip(names, sums)})
        return result


def run_epoch(step, split, batch_size, generators, epoch, epochs, phase=""):
    """One shuffled pass of `step` over `split` (epoch `epoch` of `epochs`); returns the mean train
    loss, accuracy and loss terms. `phase` names a phase other than the main one ("init") in bars
    and errors."""
    step.train_modes()
    processes, device = step.runtime.processes, split.device
    stats, guard = EpochStats(device), NonFiniteGuard(device)
    name = f"{phase} {epoch}" if phase else epoch
    for number, batch in enumerate(progress(split.epoch(batch_size, generators), f"{phase or 'epoch'} "
                                            f"{epoch}/{epochs}", processes.is_main)):
        result = step(*batch, epoch)
        guard.observe(result.loss, number)
        stats.update(*result)
    guard.check(name, processes)
    return stats.result("train", processes)


@torch.inference_mode()
def evaluate_metrics(model, split, runtime: Runtime, batch_size=EVAL_BATCH_SIZE):
    """Mean cross-entropy, top-1 and top-5 accuracy (%) on a whole split, in eval mode; several
    processes each evaluate their shard of the split."""
    normalize, amp, processes = runtime.normalize, runtime.amp, runtime.processes
    stats, top5 = EpochStats(split.device), torch.zeros((), dtype=torch.float64, device=split.device)
    indices = processes.shard(torch.arange(len(split))).split(batch_size)
    with eval_mode(model):
        for images, target, _ in split.batches(indices):
            with autocast(split.device, amp):
                logits = model(normalize(images)).float()
            stats.update(F.cross_entropy(logits, target), logits, target)
            best = logits.topk(min(5, logits.shape[1]), dim=1).indices
            top5 += (best == target[:, None]).any(dim=1).sum()
    result = stats.result("test", processes)
    result["test_acc5"] = 100.0 * float(processes.sum(top5)) / len(split)
    return result


def evaluate_checkpoint(path, data, channels_last=True, amp=False, fallback_arch=None):
    """evaluate_metrics of a checkpoint on ``data.test`` (a DeviceData), and its architecture (from the
    checkpoint or its folder; ``fallback_arch`` if neither tells)."""
    model, arch, _ = load_model(path, data.num_classes, data.test.device, fallback_arch=fallback_arch,
                                image_size=data.image_size)
    return evaluate_metrics(prepare_model(model, channels_last), data.test, Runtime(data.normalize, amp)), arch


def evaluate(model, split, runtime: Runtime, batch_size=EVAL_BATCH_SIZE):
    """Mean cross-entropy and top-1 accuracy (%) on a whole split (see evaluate_metrics)."""
    result = evaluate_metrics(model, split, runtime, batch_size)
    return result["test_loss"], result["test_acc"]
