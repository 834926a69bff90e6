"""torchvision's AutoAugment, per sample: each image its own sub-policy, gates and signs."""
from typing import Dict, NamedTuple, Tuple

import torch
from torch import Tensor
from torchvision.transforms import v2
from torchvision.transforms.v2 import AutoAugmentPolicy

from helper.augment import torch_private
from helper.augment.base import Augmentation, unmixed
from helper.augment.params import Param
from helper.augment.policy_ops import NEAREST, apply_grouped, expand_draw

POLICIES = {"cifar10": AutoAugmentPolicy.CIFAR10, "imagenet": AutoAugmentPolicy.IMAGENET,
            "svhn": AutoAugmentPolicy.SVHN}


class AAParams(NamedTuple):
    """AutoAugment draws for a batch (CPU tensors). subpolicy: (B,) index into the policy's
    sub-policies; applied: (B, 2) whether each of its two ops fires (rand <= probability);
    negative: (B, 2) whether a signed op's magnitude is negated (rand <= 0.5, as torchvision)."""
    subpolicy: Tensor
    applied: Tensor
    negative: Tensor


class _PolicyTable(NamedTuple):
    ops: Tuple[Tuple[str, float], ...]  # unique (op name, unsigned magnitude) of the policy
    op_id: Tensor        # (S, 2) index into ops
    probability: Tensor  # (S, 2)
    signed: Tensor       # (S, 2) bool


class AutoAugmentDA(Augmentation):
    """torchvision's AutoAugment (CIFAR10 policy on CIFAR, IMAGENET on Tiny ImageNet), per
    sample: each image draws its own sub-policy, its own probability gates and magnitude signs.

    The policy table and magnitude bins are torchvision's own. Images are grouped, per stage of
    the two-op sub-policies, by the (op, signed magnitude) they receive, and each group goes
    through one torchvision.transforms.v2.functional call; so a batch costs a few dozen calls
    whatever its size. Works on uint8 and on float images in [0, 1] (torchvision's float
    semantics: e.g. Solarize's threshold is scaled to 1, Equalize bins to 256 levels)."""
    name, label = "autoaugment", "AutoAugment"
    params = (Param("policy", str, None, choices=tuple(POLICIES),
                    derived="cifar10 up to 32x32 images, imagenet above"),)

    def __init__(self, config, **options):
        super().__init__(config, **options)
        policy = config.autoaugment_policy if self.policy is None else POLICIES[self.policy]
        self.subpolicies = torch_private.autoaugment_policies(policy)
        self._space = torch_private.augmentation_space(v2.AutoAugment)
        self._probability = torch.tensor([[p for _, p, _ in s] for s in self.subpolicies],
                                         dtype=torch.float64)  # (S, 2) gate probabilities
        self._tables: Dict[Tuple[int, int], _PolicyTable] = {}
        self._grids: Dict = {}  # apply_grouped's cache of affine grids

    def table(self, height: int, width: int) -> _PolicyTable:
        """The policy's ops and magnitudes for images of this size (translations scale with it)."""
        key = (height, width)
        if key not in self._tables:
            ops, op_id, prob, signed = [], [], [], []
            for subpolicy in self.subpolicies:
                ids, ps, sg = [], [], []
                for op, p, bin_ in subpolicy:
                    magnitudes_fn, is_signed = self._space[op]
                    magnitudes = magnitudes_fn(10, height, width)
                    magnitude = 0.0 if magnitudes is None else float(magnitudes[bin_])
                    entry = (op, magnitude)
                    if entry not in ops:
                        ops.append(entry)
                    ids.append(ops.index(entry))
                    ps.append(p)
                    sg.append(bool(is_signed) and magnitudes is not None)
                op_id.append(ids)
                prob.append(ps)
                signed.append(sg)
            self._tables[key] = _PolicyTable(tuple(ops), torch.tensor(op_id), torch.tensor(prob),
                                             torch.tensor(signed))
        return self._tables[key]

    def draw(self, batch_size: int, generator=None) -> AAParams:
        """Sub-policies, gates and signs for a batch (one draw shared by all with batch
        granularity). Drawn on the CPU from ``generator``."""
        n = batch_size if self.config.per_sample else 1
        subpolicy = torch.randint(0, len(self.subpolicies), (n,), generator=generator)
        gates = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        signs = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        return AAParams(*expand_draw((subpolicy, gates <= self._probability[subpolicy], signs <= 0.5),
                                     batch_size))

    def apply(self, x: Tensor, params: AAParams) -> Tensor:
        """Apply drawn parameters to the batch x."""
        _, _, h, w = x.shape
        table = self.table(h, w)

        def entry(k):
            op, magnitude = table.ops[k // 2]
            return op, -magnitude if k % 2 else magnitude

        for stage in range(2):
            op_id = table.op_id[params.subpolicy, stage]
            negative = params.negative[:, stage] & table.signed[params.subpolicy, stage]
            # which (op, magnitude) and which sign; -1 where the gate is closed
            key = torch.where(params.applied[:, stage], op_id * 2 + negative.long(),
                              torch.full_like(op_id, -1))
            x = apply_grouped(x, key, entry, NEAREST, self._grids)
        return x

    def __call__(self, x, generator=None, scorer=None):
        if x.shape[0] == 0:
            return unmixed(x, x.clone())
        return unmixed(x, self.apply(x, self.draw(x.shape[0], generator)))
