"""FitNet (Romero et al., 2015): regress the teacher's hint layer from the student's."""

import torch.nn.functional as F

from models.util import ConvReg

from .base import Distiller


class FitNetDistiller(Distiller):
    default_beta = 100.0

    def __init__(self, s_shape, t_shape, hint_layer: int):
        super().__init__()
        self.hint_layer = hint_layer
        self.regressor = ConvReg(s_shape, t_shape)

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        h = self.hint_layer
        return F.mse_loss(self.regressor(feat_s[h]), feat_t[h])


def build(student, teacher, feat_s, feat_t, opt) -> FitNetDistiller:
    h = opt.hint_layer
    return FitNetDistiller(feat_s[h].shape, feat_t[h].shape, h)
