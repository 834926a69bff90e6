"""Cutout (DeVries & Taylor 2017): one square hole per image."""
import torch

from helper.augment.base import Augmentation, unmixed
from helper.augment.params import Param
from helper.core.image_ops import box_mask, sample_boxes


def mean_fill(x, mean):
    """The data set's mean colour as x's dtype, shaped to broadcast over x; 0 if unknown."""
    c = x.shape[1]
    if mean is None:
        return torch.zeros((), dtype=x.dtype, device=x.device)
    if len(mean) not in (1, c):
        raise ValueError(f"DAConfig.mean has {len(mean)} values for images of {c} channels")
    fill = torch.tensor(mean, dtype=torch.float64)
    fill = fill if x.is_floating_point() else fill.mul(255).round()
    return fill.to(device=x.device, dtype=x.dtype).view(1, -1, 1, 1)


class Cutout(Augmentation):
    """One square hole of side ``size`` per image, its centre a pixel drawn uniformly over
    the image, clipped at the border (official Cutout: n_holes=1, length 8 on CIFAR-100).

    Fill: the original code multiplied the *normalised* batch by the mask, so the hole holds 0
    after normalisation, i.e. the data set's mean colour in pixel space. We paint
    ``config.mean`` (rounded to uint8 for uint8 images), which normalises to exactly that 0;
    with ``mean=None`` the hole is 0 in pixel space (black)."""
    name, label = "cutout", "Cutout"
    params = (Param("size", int, None, low=1, derived="image_size // 4: 8 on CIFAR, 16 on Tiny ImageNet",
                    help="side of the hole", search=(2, 24)),)

    def __call__(self, x, generator=None, scorer=None):
        b, _, h, w = x.shape
        size = self.config.cutout_size if self.size is None else self.size
        boxes = sample_boxes(b if self.config.per_sample else 1, h, w, size, size, generator)
        hole = box_mask(boxes, h, w, x.device)
        return unmixed(x, torch.where(hole, mean_fill(x, self.config.mean), x))
