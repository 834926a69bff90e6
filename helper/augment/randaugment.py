"""torchvision's RandAugment and TrivialAugmentWide, per sample: each image draws its own ops,
magnitude bins and signs; each (op, magnitude) group goes through one functional call."""
from typing import NamedTuple

import torch
from torch import Tensor
from torchvision.transforms import v2

from helper.augment import torch_private
from helper.augment.base import Augmentation, unmixed
from helper.augment.params import Param
from helper.augment.policy_ops import NEAREST, apply_grouped, expand_draw, space_for

NUM_BINS = 31  # torchvision's num_magnitude_bins default


class OpDraws(NamedTuple):
    """(B, K) int64 / bool CPU tensors, one column per op applied in turn: op index into the
    op space, magnitude bin, whether a signed magnitude is negated."""
    op: Tensor
    bin: Tensor
    negative: Tensor


class _PerSampleOps(Augmentation):
    """Shared by RandAugment and TrivialAugmentWide: draw, then apply column by column."""
    reference: type  # the torchvision transform whose op space is used

    def __init__(self, config, **options):
        super().__init__(config, **options)
        self.space = torch_private.augmentation_space(self.reference)
        self._spaces = {}

    def draw(self, batch_size: int, generator=None) -> OpDraws:
        raise NotImplementedError

    def apply(self, x: Tensor, drawn: OpDraws) -> Tensor:
        _, _, h, w = x.shape
        space = space_for(self._spaces, self.space, NUM_BINS, h, w)
        for k in range(drawn.op.shape[1]):
            key = space.key(drawn.op[:, k], drawn.bin[:, k], drawn.negative[:, k])
            x = apply_grouped(x, key, space.entry, NEAREST, space.grids)
        return x

    def __call__(self, x, generator=None, scorer=None):
        if x.shape[0] == 0:
            return unmixed(x, x.clone())
        return unmixed(x, self.apply(x, self.draw(x.shape[0], generator)))


class RandAugment(_PerSampleOps):
    """num_ops ops in turn, each drawn uniformly from torchvision's 14, all at bin ``magnitude``
    of 31, signs fair coins; nearest interpolation, fill 0 (torchvision's defaults)."""
    name, label = "randaugment", "RandAugment"
    reference = v2.RandAugment
    params = (Param("num_ops", int, 2, low=0, high=10, search=(1, 4), help="ops applied in turn"),
              Param("magnitude", int, 9, low=0, high=NUM_BINS - 1, help=f"bin of 0..{NUM_BINS - 1}"))

    def draw(self, batch_size, generator=None):
        n = batch_size if self.config.per_sample else 1
        op = torch.randint(0, len(self.space), (n, self.num_ops), generator=generator)
        negative = torch.rand(n, self.num_ops, generator=generator) <= 0.5
        return OpDraws(*expand_draw((op, torch.full_like(op, self.magnitude), negative), batch_size))


class TrivialAugmentWide(_PerSampleOps):
    """One op drawn uniformly from torchvision's 14 wide-range ones, its bin uniform of 31, its
    sign a fair coin; nearest interpolation, fill 0."""
    name, label = "trivialaugment", "TrivialAugmentWide"
    reference = v2.TrivialAugmentWide

    def draw(self, batch_size, generator=None):
        n = batch_size if self.config.per_sample else 1
        op = torch.randint(0, len(self.space), (n, 1), generator=generator)
        bin_ = torch.randint(0, NUM_BINS, (n, 1), generator=generator)
        negative = torch.rand(n, 1, generator=generator) <= 0.5
        return OpDraws(*expand_draw((op, bin_, negative), batch_size))
