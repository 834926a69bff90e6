"""DKD (Zhao et al., CVPR 2022): decoupled KD. The KL of the temperature softmax splits into a
target-class term (TCKD: the binary distribution [p_target, p_rest]) and a non-target-class term
(NCKD: the softmax over the other classes), weighted alpha and beta instead of being coupled by
(1 - p_target). Its weight rises linearly over the first ``warmup`` epochs: min(epoch / warmup, 1).

Authors' CIFAR-100 defaults (mdistiller): CE weight 1, alpha 1, beta 8 (2 for resnet56/resnet110
students' pairs, 6 for vgg13/wrn_40_2 pairs), T 4, warm-up 20 epochs."""
import torch
import torch.nn.functional as F
from torch import Tensor

from .base import DistillContext
from .logit import LogitDistiller, LogitLoss, standardize, temperature


def kl_sum(log_p_s: Tensor, p_t: Tensor) -> Tensor:
    """Sum of KL(p_t || p_s) over the classes, averaged over the batch."""
    return F.kl_div(log_p_s, p_t, reduction="sum") / len(p_t)


class DKDLoss(LogitLoss):
    def __init__(self, alpha: float, beta: float, T: float, warmup: int, standardized: bool = False):
        super().__init__()
        self.alpha, self.beta, self.T, self.warmup = alpha, beta, T, warmup
        self.standardized = standardized

    def forward(self, logit_s, logit_t, target, epoch):
        if self.standardized:
            logit_s, logit_t = standardize(logit_s), standardize(logit_t)
        is_target = F.one_hot(target, logit_s.shape[1]).bool()
        p_s, p_t = F.softmax(logit_s / self.T, dim=1), F.softmax(logit_t / self.T, dim=1)
        # the rest's mass as a sum, not 1 - p_target, which cancels when p_target is near 1
        binary_s = torch.stack([p_s[is_target], p_s.masked_fill(is_target, 0).sum(1)], dim=1)
        binary_t = torch.stack([p_t[is_target], p_t.masked_fill(is_target, 0).sum(1)], dim=1)
        tckd = kl_sum(binary_s.log(), binary_t)
        n, c = logit_s.shape
        others_s = logit_s[~is_target].view(n, c - 1) / self.T
        others_t = logit_t[~is_target].view(n, c - 1) / self.T
        nckd = kl_sum(F.log_softmax(others_s, dim=1), F.softmax(others_t, dim=1))
        warm = min(epoch / self.warmup, 1.0)
        return warm * self.T ** 2 * (self.alpha * tckd + self.beta * nckd)


def add_args(group):
    group.add_argument("--dkd_alpha", type=float, default=1.0, help="DKD: weight of the target-class term")
    group.add_argument("--dkd_beta", type=float, default=8.0, help="DKD: weight of the non-target-class term "
                       "(authors: 8 for resnet32x4 pairs, 6 for vgg13/wrn_40_2, 2 for resnet56/resnet110)")
    group.add_argument("--dkd_T", type=float, default=4.0, help="DKD temperature")
    group.add_argument("--dkd_warmup", type=int, default=20, help="DKD: epochs of linear warm-up of its weight")


def build(ctx: DistillContext) -> LogitDistiller:
    opt = ctx.opt
    loss = DKDLoss(opt.dkd_alpha, opt.dkd_beta, temperature(opt, opt.dkd_T), opt.dkd_warmup, opt.logit_stand)
    return LogitDistiller(loss, default_beta=1.0)
