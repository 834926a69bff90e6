"""One epoch of training, and evaluation, on batches formed on the device."""
import torch
import torch.nn.functional as F
from tqdm import tqdm

from helper.batches import EVAL_BATCH_SIZE, epoch_batches
from helper.cli import NonFiniteLossError
from helper.image_ops import standard_augment
from helper.performance import autocast


class NonFiniteGuard:
    """Remembers the first step whose loss was NaN or infinite, without a host sync per step."""

    def __init__(self, device):
        self.first_bad_step = torch.full((), -1, dtype=torch.long, device=device)

    def observe(self, loss, step):
        bad = ~torch.isfinite(loss.detach()) & (self.first_bad_step < 0)
        self.first_bad_step = torch.where(bad, torch.full_like(self.first_bad_step, step), self.first_bad_step)

    def check(self, epoch):
        step = int(self.first_bad_step)
        if step >= 0:
            raise NonFiniteLossError(
                f"the loss became NaN or infinite at epoch {epoch}, step {step}; the run stops and "
                "keeps the last good checkpoint (lower --learning_rate, or check the data)")


class EpochStats:
    """Sums kept on the device; read once per epoch."""

    def __init__(self, device):
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.seen = 0

    def update(self, loss, logits, target):
        self.loss += loss.detach() * len(target)
        self.correct += (logits.detach().argmax(dim=1) == target).sum()
        self.seen += len(target)

    def result(self, prefix):
        return {f"{prefix}_loss": self.loss.item() / self.seen,
                f"{prefix}_acc": 100.0 * self.correct.item() / self.seen}


def progress(iterable, desc):
    # disable=None: bars on a terminal, silent in logs and CI.
    return tqdm(iterable, desc=desc, leave=False, disable=None, dynamic_ncols=True)


def train_epoch(model, split, optimizer, normalize, opt, generators, epoch, pad):
    """Cross-entropy training of one model on standard-augmented batches (train_teacher.py)."""
    model.train()
    device = split.y.device
    stats, guard = EpochStats(device), NonFiniteGuard(device)
    batches = epoch_batches(len(split), opt.batch_size, generators["data"])
    for step, index in enumerate(progress(batches, f"epoch {epoch}/{opt.epochs}")):
        images, target, _ = split.batch(index)
        with autocast(device, opt.amp):
            logits = model(normalize(standard_augment(images, pad, generators["augment"])))
            loss = F.cross_entropy(logits, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        guard.observe(loss, step)
        stats.update(loss, logits, target)
    guard.check(epoch)
    return stats.result("train")


@torch.inference_mode()
def evaluate(model, split, normalize, amp=False, batch_size=EVAL_BATCH_SIZE):
    """Mean cross-entropy and top-1 accuracy (%) on a whole split, in eval mode."""
    was_training = model.training
    model.eval()
    device = split.y.device
    stats = EpochStats(device)
    for index in torch.arange(len(split)).split(batch_size):
        images, target, _ = split.batch(index)
        with autocast(device, amp):
            logits = model(normalize(images)).float()
        stats.update(F.cross_entropy(logits, target), logits, target)
    model.train(was_training)
    result = stats.result("test")
    return result["test_loss"], result["test_acc"]
