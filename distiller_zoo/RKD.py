"""RKD (Park et al., 2019): match the batch's normalised pairwise distances and triplet angles."""

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import DistillContext, Distiller


def pairwise_distance(e: Tensor, eps: float = 1e-12) -> Tensor:
    sq = e.pow(2).sum(1)
    d = (sq[:, None] + sq[None, :] - 2 * e @ e.t()).clamp(min=eps).sqrt()
    return d.masked_fill(torch.eye(len(e), dtype=torch.bool, device=e.device), 0)


def normalised_distance(e: Tensor) -> Tensor:
    d = pairwise_distance(e)
    return d / d[d > 0].mean()


def triplet_angles(e: Tensor) -> Tensor:
    """Cosine of the angle at every sample j between the directions to samples i and k, flattened."""
    diff = F.normalize(e[None, :, :] - e[:, None, :], p=2, dim=2)
    return torch.bmm(diff, diff.transpose(1, 2)).flatten()


def rkd_loss(f_s: Tensor, f_t: Tensor, w_d: float = 25.0, w_a: float = 50.0) -> Tensor:
    s, t = f_s.flatten(1), f_t.flatten(1)
    with torch.no_grad():
        t_dist, t_angle = normalised_distance(t), triplet_angles(t)
    loss_d = F.smooth_l1_loss(normalised_distance(s), t_dist)
    loss_a = F.smooth_l1_loss(triplet_angles(s), t_angle)
    return w_d * loss_d + w_a * loss_a


class RKDDistiller(Distiller):
    """RKD on feat[-1], the pooled penultimate embedding (distance weight 25, angle weight 50)."""

    default_beta = 1.0

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        return rkd_loss(feat_s[-1], feat_t[-1])


def build(ctx: DistillContext) -> RKDDistiller:
    return RKDDistiller()
