"""KD-SVD (Lee et al., 2018): compress each inner feature map to its leading right-singular vectors
and match, between consecutive blocks, the RBF correlations of those vectors."""

import torch
import torch.nn.functional as F
from torch import Tensor

from helper.core.errors import UsageError

from .base import DistillContext, Distiller


def leading_singular(feat: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Top-n singular values (B, n) and right-singular vectors (B, C, n) of the (HW x C) map, normalised.

    A singular vector's sign is the SVD routine's choice (LAPACK and cuSOLVER differ), and the RBF
    between the teacher's vectors of consecutive blocks depends on it; CRD leaves it to the routine.
    Here each vector's largest-magnitude component is made positive, so the loss is one function of
    the features on every device."""
    x = feat.flatten(2).transpose(1, 2)  # (B, HW, C)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    v = vh.transpose(1, 2)[:, :, :n]
    peak = v.gather(1, v.abs().argmax(1, keepdim=True))
    v = v * torch.where(peak < 0, -1.0, 1.0).to(v.dtype)
    return F.normalize(s[:, :n], dim=1), F.normalize(v, dim=1)


def align_to_teacher(v_s: Tensor, v_t: Tensor) -> Tensor:
    """For each teacher vector pick the student vector of largest |cosine|, sign-corrected."""
    cosine = v_s.transpose(1, 2) @ v_t  # (B, n_s, n_t)
    best = cosine.abs() == cosine.abs().amax(1, keepdim=True)
    return v_s @ torch.where(best, cosine.sign(), torch.zeros_like(cosine))


def rbf(v: Tensor, v_prev: Tensor) -> Tensor:
    return torch.exp(-(v.unsqueeze(2) - v_prev.unsqueeze(1)).pow(2) / 8)


class KDSVDDistiller(Distiller):
    """KD-SVD over feat[1:-1]; teacher and student blocks need equal channel counts."""

    # CRD ships no -b for kdsvd (its README/scripts omit it): 1 is this repository's choice
    default_beta = 1.0

    def __init__(self, k: int = 1):
        super().__init__()
        self.k = k

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        losses, prev_s, prev_t = [], None, None
        for f_s, f_t in zip(feat_s[1:-1], feat_t[1:-1]):
            s_t, v_t = leading_singular(f_t, self.k)
            _, v_s = leading_singular(f_s, self.k + 3)  # a few spare student vectors to align from
            v_s = align_to_teacher(v_s, v_t)
            scale = s_t.unsqueeze(1)
            v_t, v_s = v_t * scale, v_s * scale
            if prev_s is not None:
                losses.append((rbf(v_s, prev_s) - rbf(v_t, prev_t).detach()).pow(2).sum())
            prev_s, prev_t = v_s, v_t
        return sum(losses) / feat_s[0].shape[0]


def build(ctx: DistillContext) -> KDSVDDistiller:
    s_c = [f.shape[1] for f in ctx.feat_s[1:-1]]
    t_c = [f.shape[1] for f in ctx.feat_t[1:-1]]
    if s_c != t_c:
        raise UsageError(f"--distill kdsvd needs equal channel counts in feat[1:-1]: student {s_c}, teacher {t_c}; "
                         "choose a pair of equal widths (resnet32x4 -> resnet8x4, resnet56 -> resnet20) "
                         "or another method")
    return KDSVDDistiller()
