"""One epoch of training, and evaluation, on batches formed on the device."""
import torch
import torch.nn.functional as F
from tqdm import tqdm

from helper.batches import EVAL_BATCH_SIZE, epoch_batches
from helper.cli import NonFiniteLossError
from helper.distributed import Processes
from helper.image_ops import standard_augment
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
        self.sums += torch.stack([loss.detach().double() * n,
                                  (logits.detach().argmax(dim=1) == target).sum().double(),
                                  torch.tensor(float(n), dtype=torch.float64, device=self.sums.device)])

    def result(self, prefix, processes=Processes()):
        loss, correct, seen = processes.sum(self.sums.clone()).tolist()
        return {f"{prefix}_loss": loss / seen, f"{prefix}_acc": 100.0 * correct / seen}


def progress(iterable, desc, show=True):
    # disable=None: bars on a terminal, silent in logs and CI; only the main process shows them.
    return tqdm(iterable, desc=desc, leave=False, disable=None if show else True, dynamic_ncols=True)


def train_epoch(model, split, optimizer, normalize, opt, generators, epoch, pad, processes=Processes()):
    """Cross-entropy training of one model on standard-augmented batches (train_teacher.py). With
    several processes each trains on its shard of the same global batch."""
    model.train()
    device = split.y.device
    stats, guard = EpochStats(device), NonFiniteGuard(device)
    batches = epoch_batches(len(split), opt.batch_size, generators["data"])
    for step, index in enumerate(progress(batches, f"epoch {epoch}/{opt.epochs}", processes.is_main)):
        images, target, _ = split.batch(index)
        images = standard_augment(images, pad, generators["augment"])
        target = processes.shard(target)
        with autocast(device, opt.amp):
            logits = model(normalize(processes.shard(images)))
            loss = F.cross_entropy(logits, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        guard.observe(loss, step)
        stats.update(loss, logits, target)
    guard.check(epoch, processes)
    return stats.result("train", processes)


@torch.inference_mode()
def evaluate(model, split, normalize, amp=False, processes=Processes(), batch_size=EVAL_BATCH_SIZE):
    """Mean cross-entropy and top-1 accuracy (%) on a whole split, in eval mode; several processes
    each evaluate their shard of the split."""
    was_training = model.training
    model.eval()
    device = split.y.device
    stats = EpochStats(device)
    for index in processes.shard(torch.arange(len(split))).split(batch_size):
        images, target, _ = split.batch(index)
        with autocast(device, amp):
            logits = model(normalize(images)).float()
        stats.update(F.cross_entropy(logits, target), logits, target)
    model.train(was_training)
    result = stats.result("test", processes)
    return result["test_loss"], result["test_acc"]
