"""Mixup and CutMix: each view mixes its image with a partner of the batch."""
import torch

from helper.augment.base import AugmentedBatch, Augmentation, cast_like, check_beta, partners, sample_beta, unmixed
from helper.augment.params import Param
from helper.core.image_ops import box_area, box_mask, sample_boxes


def alpha_param(what):
    return Param("alpha", float, 1.0, low=0.0, low_open=True, search=(0.1, 2.0),
                 help=f"lam ~ Beta(alpha, alpha), the {what}")


class Mixup(Augmentation):
    """x' = lam * x + (1 - lam) * x[partner], lam ~ Beta(alpha, alpha) (the paper: alpha = 1,
    drawn as ``torch.rand``). uint8 views are rounded to the nearest integer."""
    name, label, mixes = "mixup", "Mixup", True
    params = (alpha_param("weight of the image itself"),)

    def __init__(self, config, **options):
        super().__init__(config, **options)
        check_beta(self.alpha)

    def __call__(self, x, generator=None, scorer=None):
        b = x.shape[0]
        if b < 2:
            return unmixed(x, x.clone())
        per_sample = self.config.per_sample
        lam = sample_beta(b if per_sample else 1, self.alpha, generator).expand(b)
        partner = partners(b, generator, per_sample, allow_self=True)
        lam, partner = lam.to(x.device), partner.to(x.device)
        work = x if x.is_floating_point() else x.float()
        lam_ = lam.to(work.dtype).view(b, 1, 1, 1)
        view = torch.lerp(work[partner], work, lam_)  # = lam * x + (1 - lam) * x[partner]
        source = torch.arange(b, device=x.device)
        return AugmentedBatch(cast_like(view, x), source, partner, lam.contiguous())


class CutMix(Augmentation):
    """CutMix with the paper's changes: lam ~ Beta(alpha, alpha) (the paper: alpha = 1, drawn as
    ``torch.rand``); a box of side int(H * sqrt(1 - lam)) x int(W * sqrt(1 - lam)) whose centre
    is a pixel drawn uniformly, clipped at the border, is pasted from the partner, a *different*
    image of the batch; lam is recomputed as 1 - box_area / (H * W) from the clipped box, the
    exact fraction of pixels that come from the source.

    The original rand_bbox spans centre +- side // 2, which loses a pixel on odd sides; we keep
    the nominal side (see image_ops.sample_boxes). Since lam is recomputed from the box, labels
    and views stay consistent either way."""
    name, label, mixes = "cutmix", "CutMix", True
    params = (alpha_param("pixel fraction kept before clipping"),)

    def __init__(self, config, **options):
        super().__init__(config, **options)
        check_beta(self.alpha)

    def __call__(self, x, generator=None, scorer=None):
        b, _, h, w = x.shape
        if b < 2:
            return unmixed(x, x.clone())
        per_sample = self.config.per_sample
        n = b if per_sample else 1
        lam = sample_beta(n, self.alpha, generator, torch.float64)
        cut = torch.sqrt(1.0 - lam)
        cut_h = (h * cut).long()
        cut_w = (w * cut).long()
        boxes = sample_boxes(n, h, w, cut_h, cut_w, generator)
        partner = partners(b, generator, per_sample, allow_self=False)
        lam = (1.0 - box_area(boxes).double() / (h * w)).float().expand(b).contiguous()
        partner = partner.to(x.device)
        paste = box_mask(boxes, h, w, x.device)
        view = torch.where(paste, x[partner], x)
        source = torch.arange(b, device=x.device)
        return AugmentedBatch(view, source, partner, lam.to(x.device))
