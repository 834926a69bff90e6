"""AB (Heo et al., 2019): transfer the activation boundaries of the teacher's pre-ReLU features.

As in CRD, AB is a two-stage method: the initialisation phase trains the student's feature layers
and a connector to put the student's pre-activations on the right side of the teacher's ReLU
boundaries (margin 1); the main phase then adds no loss of its own (CE and, with -a, KD only).
"""

from torch import Tensor

from models.util import Connector

from .base import DistillContext, Distiller, set_trainable


def alternative_l2(source: Tensor, target: Tensor, margin: float) -> Tensor:
    """Hinge-squared penalty for student pre-activations on the wrong side of the teacher's boundary."""
    on = target > 0
    loss = ((source + margin).pow(2) * ((source > -margin) & ~on)
            + (source - margin).pow(2) * ((source <= margin) & on))
    return loss.sum()


class ABDistiller(Distiller):
    preact = True
    default_beta = 1.0

    def __init__(self, s_shapes, t_shapes, init_epochs: int, margin: float = 1.0):
        super().__init__()
        self.init_epochs = init_epochs
        self.margin = margin
        n = len(s_shapes)
        # deeper blocks weigh more: 2^(i-n+1), so the last one has weight 1
        self.weights = [2.0 ** (i - n + 1) for i in range(n)]
        self.connector = Connector(s_shapes, t_shapes)
        set_trainable(self.connector, False)  # trained only in the initialisation phase

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        set_trainable(self.connector, False)
        return logit_s.new_zeros(())

    def init_modules(self, student):
        set_trainable(self.connector, True)
        return [self.connector, student.get_feat_modules()]

    def init_loss(self, feat_s, feat_t):
        g_s = self.connector(feat_s[1:-1])
        bsz = feat_s[0].shape[0]
        # CRD's scale: per sample, then / 1000 * 3
        return sum(w * alternative_l2(s, t, self.margin) / bsz / 1000 * 3
                   for w, s, t in zip(self.weights, g_s, feat_t[1:-1]))


def build(ctx: DistillContext) -> ABDistiller:
    return ABDistiller([f.shape for f in ctx.feat_s[1:-1]], [f.shape for f in ctx.feat_t[1:-1]], ctx.opt.init_epochs)
