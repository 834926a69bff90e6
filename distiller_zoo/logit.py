"""Losses between the student's and the teacher's logits: the interface that lets a logit method
(KD, DKD, DIST) stand in for KL_T on x and on the stronger-DA view x' (--method_as_kl), and
logit standardisation (Sun et al., CVPR 2024), which any KL-type logit loss can apply first."""
from dataclasses import dataclass

from torch import Tensor, nn

from .base import Distiller

STANDARDIZE_EPS = 1e-7  # the authors' constant in (z - mean) / (eps + std)


def standardize(logits: Tensor) -> Tensor:
    """Z-score of each sample's logits over the classes (unbiased std, as torch.std and the authors)."""
    mean = logits.mean(dim=1, keepdim=True)
    return (logits - mean) / (STANDARDIZE_EPS + logits.std(dim=1, keepdim=True))


def temperature(opt, T: float) -> float:
    """A KL-type method's temperature: its own ``T``, or --base_temp when --logit_stand is on."""
    return opt.base_temp if opt.logit_stand else T


class LogitLoss(nn.Module):
    """A scalar loss of a batch's logits. ``target``: (B,) the class the method treats as the
    target (the label on x; on x', the teacher's top-1 class there); ``epoch``: 1-based, for
    warm-ups. A loss with ``couples_batch`` mixes the batch's samples (correlations over the batch,
    batch medians): with several processes it is given the global batch, so N processes compute
    what one does. ``T``: the temperature of its softmax (recorded with the run's objective)."""

    couples_batch: bool = False
    T: float = 1.0

    def forward(self, logit_s: Tensor, logit_t: Tensor, target: Tensor, epoch: int) -> Tensor:
        raise NotImplementedError


@dataclass
class ViewLogits:
    """The student's and the teacher's logits on x' and the target class there (the teacher's top-1)."""
    logit_s: Tensor
    logit_t: Tensor
    target: Tensor


class LogitDistiller(Distiller):
    """A method whose loss is a LogitLoss on x. By default it is the -b term; with --method_as_kl it
    replaces KL_T in the -a terms instead, on x and on x'."""

    def __init__(self, logit_loss: LogitLoss, default_beta: float):
        super().__init__()
        self.logit_loss = logit_loss
        self.default_beta = default_beta

    def kl_loss(self):
        return self.logit_loss

    @property
    def couples_batch(self):
        return self.logit_loss.couples_batch

    def loss(self, feat_s, feat_t, logit_s, logit_t, target, index, epoch, view):
        return self.logit_loss(logit_s, logit_t, target, epoch)
