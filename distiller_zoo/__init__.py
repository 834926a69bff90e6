"""Distillation methods of CRD (RepDistiller), one file each, selected by ``--distill``.

Adding a method: write ``distiller_zoo/<Method>.py`` with a ``Distiller`` subclass and a
``build(student, teacher, feat_s, feat_t, opt)`` function, and add one line to ``DISTILLERS``.
"""

from torch import nn

from . import AB, AT, CC, CRD, FSP, FT, KD, KDSVD, NST, PKT, RKD, SP, VID, FitNet
from .base import Distiller
from .KD import DistillKL

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
}


def build_distiller(name: str, student: nn.Module, teacher: nn.Module, feat_s, feat_t, opt) -> Distiller:
    """The distiller ``name`` for this teacher/student pair; ``feat_s``/``feat_t`` are the feature lists of
    a sample batch (``model(x, is_feat=True)``), used for shapes; ``opt`` holds the CRD options."""
    if name not in DISTILLERS:
        raise ValueError(f"unknown distiller {name!r}; choose one of: {', '.join(DISTILLERS)}")
    return DISTILLERS[name](student, teacher, feat_s, feat_t, opt)


__all__ = ["DISTILLERS", "Distiller", "DistillKL", "build_distiller"]
