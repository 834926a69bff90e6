"""KD (Hinton et al., 2015): the KL term itself is computed by the training loop with DistillKL."""

import torch.nn.functional as F
from torch import Tensor

from .base import DistillContext, Distiller
from .logit import LogitLoss, standardize, temperature


class DistillKL(LogitLoss):
    """KL(softmax(t/T) || softmax(s/T)), summed over classes, averaged over the batch, times T^2.
    With ``standardized`` both logits are z-scored per sample first (logit standardisation; T is
    then the authors' 'base temperature')."""

    def __init__(self, T: float, standardized: bool = False):
        super().__init__()
        self.T = T
        self.standardized = standardized

    def forward(self, logit_s: Tensor, logit_t: Tensor, target: Tensor = None, epoch: int = None) -> Tensor:
        if self.standardized:
            logit_s, logit_t = standardize(logit_s), standardize(logit_t)
        log_p_s = F.log_softmax(logit_s / self.T, dim=1)
        p_t = F.softmax(logit_t / self.T, dim=1)
        # T^2 keeps the gradient scale independent of the temperature (Hinton et al., Sec. 2)
        return F.kl_div(log_p_s, p_t, reduction="batchmean") * self.T ** 2


class KDDistiller(Distiller):
    """Plain KD has no loss beyond the KL term: the 'other' loss is zero and there is nothing to train.
    Its logit loss is the objective's KL_T, standardised with --logit_stand."""

    def __init__(self, logit_loss: DistillKL):
        super().__init__()
        self.logit_loss = logit_loss

    def kl_loss(self):
        return self.logit_loss

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        return logit_s.new_zeros(())


def build(ctx: DistillContext) -> KDDistiller:
    opt = ctx.opt
    return KDDistiller(DistillKL(temperature(opt, opt.kd_T), opt.logit_stand))
