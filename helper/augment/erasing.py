"""Random Erasing (Zhong et al. 2020), torchvision's v2.RandomErasing per sample."""
from typing import NamedTuple

import torch
from torch import Tensor

from helper.augment.base import Augmentation, unmixed
from helper.augment.cutout import mean_fill
from helper.augment.params import Param
from helper.augment.policy_ops import expand_draw
from helper.core.image_ops import box_mask

ATTEMPTS = 10  # torchvision's get_params tries 10 boxes, then erases nothing


class ErasingParams(NamedTuple):
    """(B,) int64 CPU tensors: the box rows top..top+height-1, columns left..left+width-1, as
    torchvision's erase(img, i=top, j=left, h=height, w=width); applied: (B,) bool."""
    top: Tensor
    left: Tensor
    height: Tensor
    width: Tensor
    applied: Tensor


def fill_values(x: Tensor, fill: str, mean, generator) -> Tensor:
    """What erased pixels hold: 0, the data set's mean (0 after normalisation, as torchvision's
    default value=0 on normalised images), or uniform noise over the pixel range."""
    if fill == "zero":
        return torch.zeros((), dtype=x.dtype, device=x.device)
    if fill == "mean":
        return mean_fill(x, mean)
    if x.is_floating_point():
        return torch.rand(x.shape, generator=generator).to(device=x.device, dtype=x.dtype)
    return torch.randint(0, 256, x.shape, generator=generator, dtype=torch.uint8).to(x.device)


class RandomErasing(Augmentation):
    """With probability p, erase one box of area scale * H * W (scale ~ U(scale)) and aspect
    ratio exp(U(log ratio)); as torchvision, up to 10 attempts per image for a box that fits
    (height < H and width < W), else nothing is erased. Each image draws its own box."""
    name, label = "random_erasing", "RandomErasing"
    params = (Param("p", float, 0.5, low=0.0, high=1.0, help="probability of erasing"),
              Param("scale", tuple, (0.02, 0.33), low=0.0, high=1.0, help="range of the erased area fraction"),
              Param("ratio", tuple, (0.3, 3.3), low=0.0, low_open=True, search=(0.3, 3.3),
                    help="range of the box's aspect ratio"),
              Param("fill", str, "mean", choices=("mean", "zero", "random"),
                    help="the data set's mean colour, black, or uniform noise"))

    def draw(self, batch_size: int, height: int, width: int, generator=None) -> ErasingParams:
        n = batch_size if self.config.per_sample else 1
        applied = torch.rand(n, generator=generator) < self.p
        log_ratio = torch.log(torch.tensor(self.ratio, dtype=torch.float64))
        u = torch.rand(2, n, ATTEMPTS, generator=generator, dtype=torch.float64)
        area = height * width * (self.scale[0] + (self.scale[1] - self.scale[0]) * u[0])
        aspect = torch.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * u[1])
        h = torch.round(torch.sqrt(area * aspect)).long()
        w = torch.round(torch.sqrt(area / aspect)).long()
        fits = (h < height) & (w < width)
        first = fits.long().argmax(dim=1, keepdim=True)  # the first attempt that fits
        h, w = h.gather(1, first).squeeze(1), w.gather(1, first).squeeze(1)
        applied &= fits.any(dim=1)
        where = torch.rand(2, n, generator=generator, dtype=torch.float64)
        top = (where[0] * (height - h + 1)).long().clamp_max(height - h)
        left = (where[1] * (width - w + 1)).long().clamp_max(width - w)
        return ErasingParams(*expand_draw((top, left, h, w, applied), batch_size))

    def __call__(self, x, generator=None, scorer=None):
        b, _, height, width = x.shape
        drawn = self.draw(b, height, width, generator)
        size = torch.stack([drawn.height, drawn.width]) * drawn.applied  # nothing where not applied
        boxes = torch.stack([drawn.top, drawn.top + size[0], drawn.left, drawn.left + size[1]], dim=1)
        erased = box_mask(boxes, height, width, x.device)
        return unmixed(x, torch.where(erased, fill_values(x, self.fill, self.config.mean, generator), x))
