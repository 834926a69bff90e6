"""GridMask (Chen et al. 2020): remove a regular grid of squares, per sample."""
from typing import NamedTuple

import torch
from torch import Tensor

from helper.augment.base import Augmentation, unmixed
from helper.augment.erasing import fill_values
from helper.augment.params import Param
from helper.augment.policy_ops import expand_draw
from helper.core.errors import UsageError


class GridParams(NamedTuple):
    """(B,) CPU tensors: period d, kept band l = ceil(ratio * d), offsets, applied."""
    d: Tensor
    kept: Tensor
    offset_y: Tensor
    offset_x: Tensor
    applied: Tensor


class GridMask(Augmentation):
    """With probability p, remove the squares of a grid of period d ~ U{d_min..d_max}: pixel
    (y, x) goes where (y - oy) mod d >= l and (x - ox) mod d >= l, with l = ceil(ratio * d)
    (the official code's mode 1, where ratio is the kept fraction of each period) and offsets
    oy, ox ~ U{0..d-1}. Removed squares have side d - l. The official rotation (rotate=1: none)
    is not drawn. Each image draws its own period, offsets and gate."""
    name, label = "gridmask", "GridMask"
    params = (Param("d_min", int, None, low=2, derived="image_size // 4", help="shortest period"),
              Param("d_max", int, None, low=2, derived="image_size // 2", help="longest period"),
              Param("ratio", float, 0.5, low=0.0, high=1.0, search=(0.3, 0.8),
                    help="kept fraction of each period"),
              Param("p", float, 0.8, low=0.0, high=1.0, help="probability of masking"),
              Param("fill", str, "mean", choices=("mean", "zero"), help="colour of the removed squares"))

    def __init__(self, config, **options):
        super().__init__(config, **options)
        self.periods()  # refuse an empty range now, not at the first batch

    def periods(self):
        d_min = max(2, self.config.image_size // 4) if self.d_min is None else self.d_min
        d_max = max(d_min, self.config.image_size // 2) if self.d_max is None else self.d_max
        if d_min > d_max:
            raise UsageError(f"gridmask needs d_min <= d_max, got {d_min} > {d_max} on "
                             f"{self.config.image_size}x{self.config.image_size} images")
        return d_min, d_max

    def draw(self, batch_size: int, generator=None) -> GridParams:
        n = batch_size if self.config.per_sample else 1
        d_min, d_max = self.periods()
        d = torch.randint(d_min, d_max + 1, (n,), generator=generator)
        kept = torch.ceil(d * torch.tensor(self.ratio, dtype=torch.float64)).long()
        offsets = (torch.rand(2, n, generator=generator, dtype=torch.float64) * d).long()
        applied = torch.rand(n, generator=generator) < self.p
        return GridParams(*expand_draw((d, kept, offsets[0], offsets[1], applied), batch_size))

    @staticmethod
    def mask(params: GridParams, height: int, width: int, device) -> Tensor:
        """(B, 1, H, W) bool, True where a pixel is removed."""
        d, kept, oy, ox, applied = (t.to(device).view(-1, 1) for t in params)
        rows = (torch.arange(height, device=device) - oy).remainder(d) >= kept  # (B, H)
        cols = (torch.arange(width, device=device) - ox).remainder(d) >= kept   # (B, W)
        return (rows[:, :, None] & cols[:, None, :] & applied[:, :, None]).unsqueeze(1)

    def __call__(self, x, generator=None, scorer=None):
        b, _, h, w = x.shape
        removed = self.mask(self.draw(b, generator), h, w, x.device)
        return unmixed(x, torch.where(removed, fill_values(x, self.fill, self.config.mean, generator), x))
