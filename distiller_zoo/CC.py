"""CC (Peng et al., 2019): correlation congruence of linear embeddings of the penultimate features."""

from torch import Tensor

from models.util import LinearEmbed

from .base import DistillContext, Distiller


def correlation_loss(e_s: Tensor, e_t: Tensor) -> Tensor:
    """CRD's form: mean over consecutive sample pairs (i, i+1) of <|e_s-e_t|_i, |e_s-e_t|_{i+1}>."""
    delta = (e_s - e_t).abs()
    return (delta[:-1] * delta[1:]).sum(1).mean()


class CorrelationDistiller(Distiller):
    default_beta = 0.02

    def __init__(self, s_dim: int, t_dim: int, feat_dim: int):
        super().__init__()
        self.embed_s = LinearEmbed(s_dim, feat_dim)
        self.embed_t = LinearEmbed(t_dim, feat_dim)

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        return correlation_loss(self.embed_s(feat_s[-1]), self.embed_t(feat_t[-1]))


def build(ctx: DistillContext) -> CorrelationDistiller:
    return CorrelationDistiller(ctx.feat_s[-1].shape[1], ctx.feat_t[-1].shape[1], ctx.opt.feat_dim)
