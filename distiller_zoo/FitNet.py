"""FitNet (Romero et al., 2015): regress the teacher's hint layer from the student's."""

import torch.nn.functional as F

from models.util import ConvReg

from .base import DistillContext, Distiller


class FitNetDistiller(Distiller):
    default_beta = 100.0

    def __init__(self, s_shape, t_shape, hint_layer: int):
        super().__init__()
        self.hint_layer = hint_layer
        self.regressor = ConvReg(s_shape, t_shape)

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        h = self.hint_layer
        return F.mse_loss(self.regressor(feat_s[h]), feat_t[h])


def build(ctx: DistillContext) -> FitNetDistiller:
    h = ctx.opt.hint_layer
    return FitNetDistiller(ctx.feat_s[h].shape, ctx.feat_t[h].shape, h)
