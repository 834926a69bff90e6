"""The objective: its loss weights (flags -r, -a, -b, --lw_mix, --kd_T); the paper's own setting of
them is helper.core.paper.PAPER_KD.

    loss = gamma * CE(s(x), y)
         + alpha * (lw1 * KL_T(s(x) || t(x)) + lw2 * CE_mix(s(x'), y_mix) + lw3 * KL_T(s(x') || t(x')))
         + beta * other(features)

x is the standard-augmented batch, x' its stronger-DA view; the target of x' is the teacher's
output on x' (never the mixed labels, except in the lw2 term). KL_T is the objective's logit loss:
Hinton's KL by default, a logit method's loss (DKD, DIST) with --method_as_kl."""
from distiller_zoo.KD import DistillKL

# Without --lw_mix the original code's KD term is KL on x alone: no view x' is made.
PLAIN_KD = (1.0, 0.0, 0.0)


class Objective:
    """The loss weights of a run (flags -r, -a, -b, --lw_mix, --kd_T) in one place; lw_mix None
    is the original code's plain KD. ``logit_loss`` (a distiller_zoo.logit.LogitLoss) stands for
    KL_T on x and x' (default: Hinton's KL at kd_T)."""

    def __init__(self, gamma, alpha, beta, lw_mix, kd_T, logit_loss=None):
        self.gamma, self.alpha, self.beta = gamma, alpha, beta
        self.lw_clean, self.lw_mix_ce, self.lw_view = PLAIN_KD if lw_mix is None else lw_mix
        self.kl = DistillKL(kd_T) if logit_loss is None else logit_loss

    def weights(self):
        """The weight each term of the loss gets, as the run records it."""
        return {"ce": self.gamma, "kl_x": self.alpha * self.lw_clean, "ce_mix_view": self.alpha * self.lw_mix_ce,
                "kl_view": self.alpha * self.lw_view, "other": self.beta, "kd_T": self.kl.T}

    @property
    def needs_view(self):
        """Whether the stronger-DA view x' enters the loss at all."""
        return self.alpha != 0 and (self.lw_mix_ce != 0 or self.lw_view != 0)


