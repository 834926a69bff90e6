"""SP (Tung & Mori, 2019): match the batch's row-normalised pairwise-similarity (Gram) matrices."""

import torch.nn.functional as F
from torch import Tensor

from .base import DistillContext, Distiller


def similarity_loss(f_s: Tensor, f_t: Tensor) -> Tensor:
    bsz = f_s.shape[0]
    f_s, f_t = f_s.flatten(1), f_t.flatten(1)
    g_s = F.normalize(f_s @ f_s.t())
    g_t = F.normalize(f_t @ f_t.t())
    return (g_t - g_s).pow(2).sum() / bsz ** 2


class SimilarityDistiller(Distiller):
    """SP on feat[-2], the last feature map before pooling."""

    default_beta = 3000.0

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        return similarity_loss(feat_s[-2], feat_t[-2])


def build(ctx: DistillContext) -> SimilarityDistiller:
    return SimilarityDistiller()
