"""Distillation methods of CRD (RepDistiller) and the logit methods since (DKD, DIST, MLKD), one file
each, selected by ``--distill``.

Adding a method: write ``distiller_zoo/<Method>.py`` with a ``Distiller`` subclass and a
``build(ctx: DistillContext)`` function, and add one line to ``DISTILLERS``.
"""

from helper.core.errors import NoFeaturesError, UsageError

from . import AB, AT, CC, CRD, DIST, DKD, FSP, FT, KD, KDSVD, MLKD, NST, PKT, RKD, SP, VID, FitNet
from .base import DistillContext, Distiller, probe_features
from .KD import DistillKL

LOGIT_METHODS = ("kd", "dkd", "dist", "mlkd")  # they read only logits, so they work with any pair of models
DISTILLERS = {
    "kd": KD.build,
    "hint": FitNet.build,
    "attention": AT.build,
    "similarity": SP.build,
    "correlation": CC.build,
    "vid": VID.build,
    "rkd": RKD.build,
    "pkt": PKT.build,
    "abound": AB.build,
    "factor": FT.build,
    "fsp": FSP.build,
    "nst": NST.build,
    "crd": CRD.build,
    "kdsvd": KDSVD.build,
    "dkd": DKD.build,
    "dist": DIST.build,
    "mlkd": MLKD.build,
}


def build_distiller(name: str, ctx: DistillContext) -> Distiller:
    """The distiller ``name``, sized and initialised from ``ctx``."""
    if name not in DISTILLERS:
        raise ValueError(f"unknown distiller {name!r}; choose one of: {', '.join(DISTILLERS)}")
    logit_methods = ", ".join(LOGIT_METHODS)
    try:
        if name not in LOGIT_METHODS:  # a model without features says so now, before any run folder exists
            ctx.feat_s[-1], ctx.feat_t[-1]
        return DISTILLERS[name](ctx)
    except NoFeaturesError as err:
        raise UsageError(f"--distill {name} reads intermediate features, but {err}; use a logit method: --distill "
                         f"{logit_methods} (with --logit_stand or --method_as_kl if wanted)") from None
    except UsageError:
        raise
    except ValueError as err:  # RepDistiller's connectors refuse feature shapes they cannot pair
        raise UsageError(f"--distill {name} cannot pair the student's features with the teacher's ({err}); "
                         f"{logit_methods} work with any pair of models") from None


__all__ = ["DISTILLERS", "DistillContext", "Distiller", "DistillKL", "build_distiller", "probe_features"]
