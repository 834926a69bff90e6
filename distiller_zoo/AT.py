"""AT (Zagoruyko & Komodakis, 2017): match normalised spatial attention maps of the inner blocks."""

import torch.nn.functional as F
from torch import Tensor

from .base import DistillContext, Distiller, pool_to_common_size


def attention_map(f: Tensor, p: int = 2) -> Tensor:
    """Channel mean of |f|^p, flattened and L2-normalised per sample."""
    return F.normalize(f.pow(p).mean(1).flatten(1))


def at_loss(f_s: Tensor, f_t: Tensor, p: int = 2) -> Tensor:
    f_s, f_t = pool_to_common_size(f_s, f_t)
    return (attention_map(f_s, p) - attention_map(f_t, p)).pow(2).mean()


class AttentionDistiller(Distiller):
    """Sum of the AT losses over feat[1:-1] (the block outputs between stem and embedding)."""

    default_beta = 1000.0

    def __init__(self, p: int = 2):
        super().__init__()
        self.p = p

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        return sum(at_loss(s, t, self.p) for s, t in zip(feat_s[1:-1], feat_t[1:-1]))


def build(ctx: DistillContext) -> AttentionDistiller:
    return AttentionDistiller()
