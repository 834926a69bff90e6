"""torchvision's AugMix, per sample: each image draws its own chains, ops and weights."""
from typing import NamedTuple

import torch
from torch import Tensor
from torchvision.transforms import v2

from helper.augment import torch_private
from helper.augment.base import Augmentation, unmixed
from helper.augment.params import Param
from helper.augment.policy_ops import BILINEAR, apply_grouped, expand_draw, space_for

PARAMETER_MAX = 10  # torchvision's AugMix bins: magnitudes_fn(10, H, W), severity picks of them
MAX_RANDOM_DEPTH = 3  # a random chain depth is uniform in 1..3


class AugMixParams(NamedTuple):
    """CPU tensors for B images, W chains of up to D ops. m: (B, 2) float32 Dirichlet weights
    of the original and of the chains' mix; weights: (B, W) float32 chain weights (already
    times m[:, 1]); depth: (B, W); op, bin, negative: (B, W, D)."""
    m: Tensor
    weights: Tensor
    depth: Tensor
    op: Tensor
    bin: Tensor
    negative: Tensor


class AugMix(Augmentation):
    """x' = m0 * x + sum_i w_i * chain_i(x), as torchvision's AugMix (all ops, bilinear, fill 0):
    (m0, m1) ~ Dirichlet(alpha, alpha), w ~ Dirichlet(alpha, ..) * m1, each chain ``depth`` ops
    (<= 0: its own depth in 1..3), each op uniform of torchvision's 13 with a bin uniform in
    0..severity-1 and a fair sign. Computed in float32 and cast back as torchvision does (uint8
    truncates); float views are clamped to [0, 1], which torchvision leaves to rounding."""
    name, label = "augmix", "AugMix"
    params = (Param("severity", int, 3, low=1, high=PARAMETER_MAX, help="ops' magnitude bins used"),
              Param("width", int, 3, low=1, high=8, search=(1, 4), help="chains mixed"),
              Param("depth", int, -1, low=-1, high=8, search=(-1, 3), help="ops per chain; <= 0: 1..3 at random"),
              Param("alpha", float, 1.0, low=0.0, low_open=True, search=(0.1, 2.0), help="Dirichlet concentration"))

    def __init__(self, config, **options):
        super().__init__(config, **options)
        self.space = torch_private.augmentation_space(v2.AugMix)
        self._spaces = {}

    def draw(self, batch_size: int, generator=None) -> AugMixParams:
        n = batch_size if self.config.per_sample else 1
        width, max_depth = self.width, self.depth if self.depth > 0 else MAX_RANDOM_DEPTH
        m = torch_private.sample_dirichlet(torch.full((n, 2), self.alpha), generator)
        weights = torch_private.sample_dirichlet(torch.full((n, width), self.alpha), generator) * m[:, 1:]
        depth = torch.randint(1, MAX_RANDOM_DEPTH + 1, (n, width), generator=generator) if self.depth <= 0 \
            else torch.full((n, width), self.depth)
        op = torch.randint(0, len(self.space), (n, width, max_depth), generator=generator)
        bin_ = torch.randint(0, self.severity, (n, width, max_depth), generator=generator)
        negative = torch.rand(n, width, max_depth, generator=generator) <= 0.5
        return AugMixParams(*expand_draw((m, weights, depth, op, bin_, negative), batch_size))

    def apply(self, x: Tensor, drawn: AugMixParams) -> Tensor:
        b, _, h, w = x.shape
        width = drawn.weights.shape[1]
        space = space_for(self._spaces, self.space, PARAMETER_MAX, h, w)
        # All chains as one batch of width * b images, chain-major, so that a stage is one
        # grouped call for every chain: each image's ops are its own, so no value changes.
        chains = torch.cat([x] * width)
        depth = drawn.depth.t().reshape(-1)
        for stage in range(drawn.op.shape[2]):
            key = space.key(*(t[:, :, stage].t().reshape(-1) for t in (drawn.op, drawn.bin, drawn.negative)))
            key = torch.where(stage < depth, key, torch.full_like(key, -1))
            chains = apply_grouped(chains, key, space.entry, BILINEAR, space.grids)
        shape = (b, 1, 1, 1)
        mix = drawn.m[:, 0].to(x.device).view(shape) * x
        weights = drawn.weights.to(x.device)
        for chain, aug in enumerate(chains.split(b)):  # torchvision's order of sums
            mix.add_(weights[:, chain].view(shape) * aug)
        if x.is_floating_point():  # the weights sum to 1 up to rounding, which may pass 1.0
            mix.clamp_(0.0, 1.0)
        return mix.to(x.dtype)

    def __call__(self, x, generator=None, scorer=None):
        if x.shape[0] == 0:
            return unmixed(x, x.clone())
        return unmixed(x, self.apply(x, self.draw(x.shape[0], generator)))
