"""KD (Hinton et al., 2015): the KL term itself is computed by the training loop with DistillKL."""

import torch.nn.functional as F
from torch import Tensor, nn

from .base import DistillContext, Distiller


class DistillKL(nn.Module):
    """KL(softmax(t/T) || softmax(s/T)), summed over classes, averaged over the batch, times T^2."""

    def __init__(self, T: float):
        super().__init__()
        self.T = T

    def forward(self, logit_s: Tensor, logit_t: Tensor) -> Tensor:
        log_p_s = F.log_softmax(logit_s / self.T, dim=1)
        p_t = F.softmax(logit_t / self.T, dim=1)
        # T^2 keeps the gradient scale independent of the temperature (Hinton et al., Sec. 2)
        return F.kl_div(log_p_s, p_t, reduction="batchmean") * self.T ** 2


class KDDistiller(Distiller):
    """Plain KD has no loss beyond the KL term: the 'other' loss is zero and there is nothing to train."""

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        return logit_s.new_zeros(())


def build(ctx: DistillContext) -> KDDistiller:
    return KDDistiller()
