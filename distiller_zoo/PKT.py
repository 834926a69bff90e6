"""PKT (Passalis & Tefas, 2018): match the conditional probability distributions that the cosine
similarities of the batch's penultimate features define, by KL divergence."""

from torch import Tensor

from .base import DistillContext, Distiller


def cosine_probabilities(f: Tensor, eps: float) -> Tensor:
    f = f / (f.norm(dim=1, keepdim=True) + eps)
    sim = (f @ f.t() + 1.0) / 2.0  # cosine similarity scaled to [0, 1]
    return sim / sim.sum(1, keepdim=True)


def pkt_loss(f_s: Tensor, f_t: Tensor, eps: float = 1e-7) -> Tensor:
    p_s = cosine_probabilities(f_s, eps)
    p_t = cosine_probabilities(f_t, eps)
    return (p_t * ((p_t + eps) / (p_s + eps)).log()).mean()


class PKTDistiller(Distiller):
    """PKT on feat[-1], the pooled penultimate embedding."""

    default_beta = 30000.0

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        return pkt_loss(feat_s[-1], feat_t[-1])


def build(ctx: DistillContext) -> PKTDistiller:
    return PKTDistiller()
