"""The one epoch loop of every training phase, with the optimisation step as the object that
varies (cross-entropy here; distillation and CRD's init phase in helper/distill.py), and evaluation.

A step is called as ``step(images, target, index)`` on a standard-augmented uint8 batch and
returns ``(loss, logits, target)`` of this process's shard (logits may be None where there are
none to score); ``step.prepare(epoch)`` sets the train/eval modes of its models for an epoch (and
tells the step the epoch, for losses with a warm-up)."""
import torch
import torch.nn.functional as F
from tqdm import tqdm

from helper.batches import EVAL_BATCH_SIZE
from helper.distributed import Processes
from helper.errors import NonFiniteLossError
from helper.performance import autocast


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

    def update(self, loss, logits, target):
        n = len(target)
        correct = (logits.detach().argmax(dim=1) == target).sum().double() if logits is not None \
            else self.sums.new_zeros(())
        self.sums += torch.stack([loss.detach().double() * n, correct,
                                  torch.tensor(float(n), dtype=torch.float64, device=self.sums.device)])

    def result(self, prefix, processes=Processes()):
        loss, correct, seen = processes.sum(self.sums.clone()).tolist()
        return {f"{prefix}_loss": loss / seen, f"{prefix}_acc": 100.0 * correct / seen}


def progress(iterable, desc, show=True):
    # disable=None: bars on a terminal, silent in logs and CI; only the main process shows them.
    return tqdm(iterable, desc=desc, leave=False, disable=None if show else True, dynamic_ncols=True)


def run_epoch(step, split, batch_size, generators, epoch, epochs, processes=Processes(), phase=""):
    """One shuffled pass of `step` over `split` (epoch `epoch` of `epochs`); returns the mean train
    loss and accuracy. `phase` names a phase other than the main one ("init") in bars and errors."""
    step.prepare(epoch)
    device = split.device
    stats, guard = EpochStats(device), NonFiniteGuard(device)
    name = f"{phase} {epoch}" if phase else epoch
    for number, batch in enumerate(progress(split.epoch(batch_size, generators), f"{phase or 'epoch'} "
                                            f"{epoch}/{epochs}", processes.is_main)):
        loss, logits, target = step(*batch)
        guard.observe(loss, number)
        stats.update(loss, logits, target)
    guard.check(name, processes)
    return stats.result("train", processes)


class CrossEntropyStep:
    """train_teacher.py's step: cross-entropy of one model; with several processes each trains on
    its shard of the same global batch."""

    def __init__(self, model, optimizer, normalize, amp=False, processes=Processes()):
        self.model, self.optimizer, self.normalize = model, optimizer, normalize
        self.amp, self.processes = amp, processes

    def prepare(self, epoch):
        self.model.train()

    def __call__(self, images, target, index):
        shard = self.processes.shard
        target = shard(target)
        with autocast(images.device, self.amp):
            logits = self.model(self.normalize(shard(images)))
            loss = F.cross_entropy(logits, target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), logits.detach(), target


@torch.inference_mode()
def evaluate_metrics(model, split, normalize, amp=False, processes=Processes(), batch_size=EVAL_BATCH_SIZE):
    """Mean cross-entropy, top-1 and top-5 accuracy (%) on a whole split, in eval mode; several
    processes each evaluate their shard of the split."""
    was_training = model.training
    model.eval()
    stats, top5 = EpochStats(split.device), torch.zeros((), dtype=torch.float64, device=split.device)
    indices = processes.shard(torch.arange(len(split))).split(batch_size)
    for images, target, _ in split.batches(indices):
        with autocast(split.device, amp):
            logits = model(normalize(images)).float()
        stats.update(F.cross_entropy(logits, target), logits, target)
        best = logits.topk(min(5, logits.shape[1]), dim=1).indices
        top5 += (best == target[:, None]).any(dim=1).sum()
    model.train(was_training)
    result = stats.result("test", processes)
    result["test_acc5"] = 100.0 * float(processes.sum(top5)) / len(split)
    return result


def evaluate(model, split, normalize, amp=False, processes=Processes(), batch_size=EVAL_BATCH_SIZE):
    """Mean cross-entropy and top-1 accuracy (%) on a whole split (see evaluate_metrics)."""
    result = evaluate_metrics(model, split, normalize, amp, processes, batch_size)
    return result["test_loss"], result["test_acc"]
