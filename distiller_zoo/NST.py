"""NST (Huang & Wang, 2017): match the distributions of neuron activations (each channel's spatial
pattern, L2-normalised) by the squared MMD with the polynomial kernel k(a, b) = (a.b)^2."""

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import DistillContext, Distiller, pool_to_common_size


def poly_kernel_mean(a: Tensor, b: Tensor) -> Tensor:
    return torch.bmm(a, b.transpose(1, 2)).pow(2).mean()


def nst_loss(f_s: Tensor, f_t: Tensor) -> Tensor:
    f_s, f_t = pool_to_common_size(f_s, f_t)
    s = F.normalize(f_s.flatten(2), dim=2)
    t = F.normalize(f_t.flatten(2), dim=2)
    # the teacher-teacher term is constant for the student; CRD keeps it (detached) for a true MMD value
    return poly_kernel_mean(t, t).detach() + poly_kernel_mean(s, s) - 2 * poly_kernel_mean(s, t)


class NSTDistiller(Distiller):
    """Sum of the NST losses over feat[1:-1]."""

    default_beta = 50.0

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        return sum(nst_loss(s, t) for s, t in zip(feat_s[1:-1], feat_t[1:-1]))


def build(ctx: DistillContext) -> NSTDistiller:
    return NSTDistiller()
