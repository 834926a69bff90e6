"""train_student.py's flags for the logit methods, and the choice of the objective's KL_T term."""
from helper.core.errors import UsageError

from . import DIST, DKD
from .base import Distiller
from .KD import DistillKL
from .logit import temperature

DEFAULT_BASE_TEMP = 2.0  # the authors' --base-temp for logit standardisation


def add_logit_args(parser):
    group = parser.add_argument_group("logit methods (dkd, dist, mlkd) and logit standardisation")
    group.add_argument("--method_as_kl", action="store_true",
                       help="the --distill method's logit loss (kd, dkd, dist) replaces KL_T in the -a terms, on x "
                            "and on x', instead of being the -b term")
    group.add_argument("--logit_stand", action="store_true",
                       help="z-score each sample's logits before the temperature softmax of the KL losses "
                            "(KL_T, dkd, mlkd's instance terms), whose temperature becomes --base_temp")
    group.add_argument("--base_temp", type=float, default=None,
                       help=f"temperature of the standardised logits (default {DEFAULT_BASE_TEMP}; needs --logit_stand)")
    for method in (DKD, DIST):
        method.add_args(group)


def check_logit_args(opt):
    if opt.base_temp is not None and not opt.logit_stand:
        raise UsageError("--base_temp is the temperature of standardised logits: add --logit_stand")
    if opt.logit_stand and opt.base_temp is None:
        opt.base_temp = DEFAULT_BASE_TEMP
    if opt.base_temp is not None and opt.base_temp <= 0:
        raise UsageError(f"--base_temp must be positive, got {opt.base_temp}")


def kl_term(opt, distiller: Distiller = None):
    """The objective's KL_T on x and x': the method's logit loss with --method_as_kl (which then has
    no -b term, so that it is not counted twice), else Hinton's KL at --kd_T (standardised with
    --logit_stand)."""
    if not opt.method_as_kl:
        return DistillKL(temperature(opt, opt.kd_T), opt.logit_stand)
    kl = distiller.kl_loss()
    if kl is None:
        raise UsageError(f"--method_as_kl needs a logit method (kd, dkd, dist); --distill {opt.distill} has none")
    if opt.beta:
        raise UsageError("--method_as_kl moves the method's loss into the -a terms: drop -b (weigh it with -a)")
    return kl
