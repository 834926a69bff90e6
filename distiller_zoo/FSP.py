"""FSP (Yim et al., 2017): match the 'flow of solution procedure' matrices (channel-by-channel inner
products between consecutive feature maps).

As in CRD, FSP is a two-stage method: the initialisation phase trains the student's feature layers
on the FSP loss; the main phase then adds no loss of its own.
"""

from torch import Tensor

from helper.core.errors import UsageError

from .base import DistillContext, Distiller, pool_to_common_size


def fsp_matrices(feats: list[Tensor]) -> list[Tensor]:
    """(B, C_{i+1}, C_i) inner products over space between map i+1 and map i."""
    out = []
    for bottom, top in zip(feats[:-1], feats[1:]):
        bottom, top = pool_to_common_size(bottom, top)
        bottom, top = bottom.flatten(2), top.flatten(2)
        out.append(top @ bottom.transpose(1, 2) / bottom.shape[2])
    return out


class FSPDistiller(Distiller):
    """FSP on feat[:-1], every map from the stem to the last block."""

    default_beta = 50.0

    def __init__(self, init_epochs: int):
        super().__init__()
        self.init_epochs = init_epochs

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        return logit_s.new_zeros(())

    def init_modules(self, student):
        return [student.get_feat_modules()]

    def init_loss(self, feat_s, feat_t):
        return sum((s - t).pow(2).mean() for s, t in zip(fsp_matrices(feat_s[:-1]), fsp_matrices(feat_t[:-1])))


def build(ctx: DistillContext) -> FSPDistiller:
    s_c = [f.shape[1] for f in ctx.feat_s[:-1]]
    t_c = [f.shape[1] for f in ctx.feat_t[:-1]]
    if s_c != t_c:
        raise UsageError(f"--distill fsp needs equal channel counts in feat[:-1]: student {s_c}, teacher {t_c}; "
                         "choose a pair of equal widths (resnet32x4 -> resnet8x4, resnet56 -> resnet20) "
                         "or another method")
    return FSPDistiller(ctx.opt.init_epochs)
