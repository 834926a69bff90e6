"""Small shared utilities: devices, seeds, meters, flag parsing, the learning-rate schedule."""
import bisect
import random

import numpy as np
import torch

from helper.errors import UsageError


def select_device(name="auto"):
    """'auto' picks CUDA when present, else the CPU; any torch device string forces one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name} was asked for, but CUDA is not available here; "
                         "use --device cpu or --device auto")
    return device


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def learning_rate(epoch, base_lr, decay_epochs, decay_rate):
    """CRD's step schedule: the lr of 1-based `epoch` is base_lr * rate^(#decay epochs < epoch)."""
    return base_lr * decay_rate ** bisect.bisect_left(sorted(decay_epochs), epoch)


def set_learning_rate(optimizer, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr


class AverageMeter:
    """Running sum and count; values are accumulated as tensors so updating never syncs a device."""

    def __init__(self):
        self.total = 0.0
        self.count = 0

    def update(self, value, n=1):
        self.total = self.total + value.detach() * n if torch.is_tensor(value) else self.total + value * n
        self.count += n

    @property
    def avg(self):
        total = self.total.item() if torch.is_tensor(self.total) else self.total
        return total / max(self.count, 1)


def correct_count(logits, target):
    """Number of top-1 hits, as a tensor on the logits' device."""
    return (logits.argmax(dim=1) == target).sum()


def parse_int_list(text):
    """'150,180,210' or '[150, 180, 210]' -> [150, 180, 210]."""
    return [int(v) for v in _split_list(text)]


def parse_float_list(text):
    """'[1,0,1]' or '1,0,1' -> [1.0, 0.0, 1.0], without eval()."""
    return [float(v) for v in _split_list(text)]


def _split_list(text):
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    items = [v.strip() for v in body.split(",")]
    if not all(items):
        raise ValueError(f"'{text}' is not a comma-separated list of numbers")
    return items
