"""VID (Ahn et al., 2019): maximise a variational lower bound on the mutual information between
student and teacher feature maps, with a Gaussian whose mean a 1x1-conv regressor predicts."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import DistillContext, Distiller, pool_to_common_size


class VIDLoss(nn.Module):
    """Negative log-likelihood of the teacher map under N(regressor(student map), softplus(log_scale))."""

    def __init__(self, s_channels: int, mid_channels: int, t_channels: int,
                 init_pred_var: float = 5.0, eps: float = 1e-5):
        super().__init__()
        self.regressor = nn.Sequential(
            nn.Conv2d(s_channels, mid_channels, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(mid_channels, mid_channels, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(mid_channels, t_channels, 1, bias=False),
        )
        # inverse softplus, so that the initial per-channel variance is init_pred_var
        self.log_scale = nn.Parameter(torch.full((t_channels,), math.log(math.expm1(init_pred_var - eps))))
        self.eps = eps

    def forward(self, f_s: Tensor, f_t: Tensor) -> Tensor:
        f_s, f_t = pool_to_common_size(f_s, f_t)
        mean = self.regressor(f_s)
        var = (F.softplus(self.log_scale) + self.eps).view(1, -1, 1, 1)
        return (0.5 * ((mean - f_t).pow(2) / var + var.log())).mean()


class VIDDistiller(Distiller):
    """One VIDLoss per inner block, feat[1:-1], summed."""

    default_beta = 1.0

    def __init__(self, s_channels: list[int], t_channels: list[int]):
        super().__init__()
        # CRD uses the teacher's channel count for the regressor's hidden width
        self.losses = nn.ModuleList(VIDLoss(s, t, t) for s, t in zip(s_channels, t_channels))

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        return sum(loss(s, t) for loss, s, t in zip(self.losses, feat_s[1:-1], feat_t[1:-1]))


def build(ctx: DistillContext) -> VIDDistiller:
    return VIDDistiller([f.shape[1] for f in ctx.feat_s[1:-1]], [f.shape[1] for f in ctx.feat_t[1:-1]])
