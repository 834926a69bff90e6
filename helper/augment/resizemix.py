"""ResizeMix (Qin et al. 2020): paste a shrunken copy of another image into each image."""
from typing import NamedTuple

import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from helper.augment.base import Augmentation, AugmentedBatch, partners, unmixed
from helper.augment.params import Param
from helper.augment.policy_ops import expand_draw


class ResizeMixParams(NamedTuple):
    """(B,) int64 CPU tensors: the patch's top, left, height, width; partner: (B,)."""
    top: Tensor
    left: Tensor
    height: Tensor
    width: Tensor
    partner: Tensor


class ResizeMix(Augmentation):
    """The partner (another image of the batch) resized to int(tau * H) x int(tau * W), tau ~
    U(scale), with torchvision's resize (bilinear, antialiased), pasted at a uniform position
    where it fits; lam = 1 - patch area / (H * W), the exact fraction of the image's own
    pixels. Each image draws its own tau, position and partner."""
    name, label, mixes = "resizemix", "ResizeMix", True
    params = (Param("scale", tuple, (0.1, 0.8), low=0.0, high=1.0,
                    help="range of the patch's side over the image's"),)

    def draw(self, batch_size: int, height: int, width: int, generator=None) -> ResizeMixParams:
        per_sample = self.config.per_sample
        n = batch_size if per_sample else 1
        low, high = self.scale
        tau = low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)
        ph, pw = (tau * height).long().clamp_min(1), (tau * width).long().clamp_min(1)
        where = torch.rand(2, n, generator=generator, dtype=torch.float64)
        top = (where[0] * (height - ph + 1)).long().clamp_max(height - ph)
        left = (where[1] * (width - pw + 1)).long().clamp_max(width - pw)
        partner = partners(batch_size, generator, per_sample, allow_self=True)
        return ResizeMixParams(*expand_draw((top, left, ph, pw), batch_size), partner)

    @staticmethod
    def patches(x: Tensor, drawn: ResizeMixParams):
        """(indices, resized partners) per patch size: one torchvision resize per size."""
        sizes = drawn.height * (x.shape[-1] + 1) + drawn.width
        for size in sizes.unique().tolist():
            members = (sizes == size).nonzero().flatten()
            ph, pw = divmod(size, x.shape[-1] + 1)
            images = x.index_select(0, drawn.partner[members].to(x.device))
            yield members, TF.resize(images, [ph, pw], antialias=True)

    def __call__(self, x, generator=None, scorer=None):
        b, _, h, w = x.shape
        if b < 2:
            return unmixed(x, x.clone())
        drawn = self.draw(b, h, w, generator)
        view = x.clone()
        for members, patch in self.patches(x, drawn):
            for k, i in enumerate(members.tolist()):
                top, left = int(drawn.top[i]), int(drawn.left[i])
                view[i, :, top:top + patch.shape[-2], left:left + patch.shape[-1]] = patch[k]
        lam = 1.0 - (drawn.height * drawn.width).double() / (h * w)
        source = torch.arange(b, device=x.device)
        return AugmentedBatch(view, source, drawn.partner.to(x.device), lam.float().to(x.device))
