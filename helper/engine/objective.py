"""The paper's objective: its loss weights (flags -r, -a, -b, --lw_mix, --kd_T), and the paper's own
setting of them, which the scripts and the shell scripts read from here.

    loss = gamma * CE(s(x), y)
         + alpha * (lw1 * KL_T(s(x) || t(x)) + lw2 * CE_mix(s(x'), y_mix) + lw3 * KL_T(s(x') || t(x')))
         + beta * other(features)

x is the standard-augmented batch, x' its stronger-DA view; the target of x' is the teacher's
output on x' (never the mixed labels, except in the lw2 term). KL_T is the objective's logit loss:
Hinton's KL by default, a logit method's loss (DKD, DIST) with --method_as_kl."""
from distiller_zoo.KD import DistillKL

# Without --lw_mix the original code's KD term is KL on x alone: no view x' is made.
PLAIN_KD = (1.0, 0.0, 0.0)
# The paper's objective, the one home of its weights (its commands: -r 0.1 -a 0.9 -b 0 --kd_T 4
# --lw_mix [1,0,1]); CRD+KD keeps them and adds CRD's loss with -b 0.8. The scripts, and the shell
# scripts through helper/cli/paper.py (which reads these two literals from this file), take them from here.
PAPER_KD = {"gamma": 0.1, "alpha": 0.9, "beta": 0.0, "lw_mix": (1.0, 0.0, 1.0), "kd_T": 4.0}
PAPER_CRD_BETA = 0.8


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


