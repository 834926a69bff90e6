"""The stronger data augmentations (DAs) of the paper, as a registry of batched, per-sample ops.

A DA maps a batch that is already standard-augmented (unnormalised pixels, uint8 or float in
[0, 1], any device) to its augmented view and says where each view came from::

    da = build_augmentation("cutmix", DAConfig(image_size=32, mean=dataset.mean))
    view = da(x, generator)             # AugmentedBatch(x, source, partner, lam)
    y_view = view.source                # index into the batch of each view's image

Random parameters come from a CPU ``torch.Generator`` (small tensors of size B, moved to
``x.device``), so a seed reproduces everything and CPU and CUDA runs draw alike. With
``granularity="sample"`` (the default, the paper's intent) each image draws its own flip, crop
offset, cutout box, AutoAugment sub-policy, mix partner and ratio; ``granularity="batch"``
reproduces the original code, where a torchvision transform applied to the 4-D batch, or one
numpy draw, served the whole batch.

Facts from the original code (MingSun-Tse/Good-DA-in-KD, helper/loops.py, get_mixed_input,
mixup, cutmix, cutout, cutmix_pick; option.py; dataset/cifar100.py):
  * mixup, cutmix and cutout ran on the *normalised* batch. Mixing is affine with weights
    summing to 1, so it is the same in pixel space; cutout's hole of 0 after normalisation is
    the dataset mean in pixel space, which is what :class:`Cutout` paints (``DAConfig.mean``).
  * crop / flip / AutoAugment denormalised to uint8, applied torchvision's RandomCrop(padding,
    fill 0) / RandomHorizontalFlip / AutoAugment to the whole 4-D batch (one draw per batch),
    and normalised again.
"""
import math
from dataclasses import dataclass
from typing import Callable, Dict, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms import v2
from torchvision.transforms.v2 import AutoAugmentPolicy, InterpolationMode
from torchvision.transforms.v2 import functional as TF

from helper.image_ops import (box_area, box_mask, random_crop, random_derangement, random_hflip,
                              sample_boxes)

GRANULARITIES = ("sample", "batch")


@dataclass(frozen=True)
class DAConfig:
    """What a DA needs to know about the data; the derived sizes live here and only here.

    image_size: 32 for CIFAR and digits, 64 for Tiny ImageNet.
    granularity: "sample" (each image draws its own parameters) or "batch" (one draw for the
        whole batch, as the original code did).
    mix_n_run: cutmix runs that form cutmix_pick's pool (the paper: 2, a pool of 2B images).
    n_pick: images cutmix_pick keeps; None = the batch size.
    mean: the data set's per-channel mean in [0, 1] units (``ImageDataset.mean``); cutout paints
        it into the hole, which is the original code's 0 after normalisation. None paints 0
        (black) in pixel space.
    """
    image_size: int
    granularity: str = "sample"
    mix_n_run: int = 2
    n_pick: Optional[int] = None
    mean: Optional[Tuple[float, ...]] = None

    def __post_init__(self):
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"unknown granularity '{self.granularity}'; choose one of: "
                             f"{', '.join(GRANULARITIES)}")
        if self.image_size < 1:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        if self.mix_n_run < 1:
            raise ValueError(f"mix_n_run must be >= 1, got {self.mix_n_run}")
        if self.n_pick is not None and self.n_pick < 1:
            raise ValueError(f"n_pick must be >= 1 or None, got {self.n_pick}")
        if self.mean is not None:
            object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))

    @property
    def per_sample(self) -> bool:
        return self.granularity == "sample"

    @property
    def pad(self) -> int:
        """Crop padding: 4 on 32x32 (CRD's RandomCrop(32, padding=4)), 8 on 64x64."""
        return self.image_size // 8

    @property
    def cutout_size(self) -> int:
        """Side of the cutout hole: 8 on CIFAR-100 (Cutout paper), 16 on Tiny ImageNet."""
        return self.image_size // 4

    @property
    def autoaugment_policy(self) -> AutoAugmentPolicy:
        """CIFAR10 policy on CIFAR-sized images, IMAGENET policy on Tiny ImageNet."""
        return AutoAugmentPolicy.CIFAR10 if self.image_size <= 32 else AutoAugmentPolicy.IMAGENET


@dataclass
class AugmentedBatch:
    """An augmented view of a batch, all tensors on the batch's device.

    x: (B', C, H, W) the view, dtype and range of the input.
    source: (B',) int64 index into the input batch of the image each view is made from.
    partner: (B',) int64 index of the image mixed in (== source where nothing was mixed).
    lam: (B',) float32 weight of ``source`` in the view (1.0 where nothing was mixed); for
        cutmix the pixel fraction that comes from ``source``.
    logits: the scorer's logits on ``x`` when the DA computed them (cutmix_pick), so that the
        caller can reuse them instead of a second forward pass.
    """
    x: Tensor
    source: Tensor
    partner: Tensor
    lam: Tensor
    logits: Optional[Tensor] = None


def _unmixed(x: Tensor, view: Tensor) -> AugmentedBatch:
    source = torch.arange(x.shape[0], device=x.device)
    return AugmentedBatch(view, source, source.clone(),
                          torch.ones(x.shape[0], dtype=torch.float32, device=x.device))


def _cast_like(values: Tensor, like: Tensor) -> Tensor:
    """Float pixel values back to ``like``'s dtype: rounded and clamped for integer images."""
    if like.is_floating_point():
        return values.clamp_(0.0, 1.0).to(like.dtype)
    return values.round_().clamp_(0, 255).to(like.dtype)


class Augmentation:
    """A registered DA: ``da(x, generator, scorer=None) -> AugmentedBatch``."""
    name: str = ""
    needs_scorer: bool = False

    def __init__(self, config: DAConfig):
        self.config = config

    def __call__(self, x: Tensor, generator: Optional[torch.Generator] = None,
                 scorer: Optional[Callable[[Tensor], Tensor]] = None) -> AugmentedBatch:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r}, config={self.config})"


class Identity(Augmentation):
    name = "identity"

    def __call__(self, x, generator=None, scorer=None):
        return _unmixed(x, x.clone())


class Flip(Augmentation):
    name = "flip"

    def __call__(self, x, generator=None, scorer=None):
        return _unmixed(x, random_hflip(x, generator, self.config.per_sample))


class CropFlip(Augmentation):
    name = "crop+flip"

    def __call__(self, x, generator=None, scorer=None):
        per_sample = self.config.per_sample
        view = random_crop(x, self.config.pad, generator, per_sample)
        return _unmixed(x, random_hflip(view, generator, per_sample))


class Cutout(Augmentation):
    """One square hole of side ``cutout_size`` per image, its centre a pixel drawn uniformly over
    the image, clipped at the border (official Cutout: n_holes=1, length 8 on CIFAR-100).

    Fill: the original code multiplied the *normalised* batch by the mask, so the hole holds 0
    after normalisation, i.e. the data set's mean colour in pixel space. We paint
    ``config.mean`` (rounded to uint8 for uint8 images), which normalises to exactly that 0;
    with ``mean=None`` the hole is 0 in pixel space (black)."""
    name = "cutout"

    def _fill(self, x):
        c = x.shape[1]
        mean = self.config.mean
        if mean is None:
            return torch.zeros((), dtype=x.dtype, device=x.device)
        if len(mean) not in (1, c):
            raise ValueError(f"DAConfig.mean has {len(mean)} values for images of {c} channels")
        fill = torch.tensor(mean, dtype=torch.float64)
        fill = fill if x.is_floating_point() else fill.mul(255).round()
        return fill.to(device=x.device, dtype=x.dtype).view(1, -1, 1, 1)

    def __call__(self, x, generator=None, scorer=None):
        b, _, h, w = x.shape
        size = self.config.cutout_size
        boxes = sample_boxes(b if self.config.per_sample else 1, h, w, size, size, generator)
        hole = box_mask(boxes, h, w, x.device)
        return _unmixed(x, torch.where(hole, self._fill(x), x))


def _partners(b: int, generator, per_sample: bool, allow_self: bool) -> Tensor:
    """Mix partners: a random derangement (never the image itself) per sample; with batch
    granularity the original code's permutation (``randperm`` for mixup, which may pair an image
    with itself, a derangement for cutmix)."""
    if per_sample or not allow_self:
        return random_derangement(b, generator)
    return torch.randperm(b, generator=generator)


class Mixup(Augmentation):
    """x' = lam * x + (1 - lam) * x[partner], lam ~ Beta(1, 1) (the official mixup alpha = 1).
    Beta(1, 1) is Uniform(0, 1), drawn as ``torch.rand`` so the CPU generator drives it.
    uint8 views are rounded to the nearest integer."""
    name = "mixup"

    def __call__(self, x, generator=None, scorer=None):
        b = x.shape[0]
        if b < 2:
            return _unmixed(x, x.clone())
        per_sample = self.config.per_sample
        lam = torch.rand(b if per_sample else 1, generator=generator).expand(b)
        partner = _partners(b, generator, per_sample, allow_self=True)
        lam, partner = lam.to(x.device), partner.to(x.device)
        work = x if x.is_floating_point() else x.float()
        lam_ = lam.to(work.dtype).view(b, 1, 1, 1)
        view = torch.lerp(work[partner], work, lam_)  # = lam * x + (1 - lam) * x[partner]
        source = torch.arange(b, device=x.device)
        return AugmentedBatch(_cast_like(view, x), source, partner, lam.contiguous())


class CutMix(Augmentation):
    """CutMix with the paper's changes: lam ~ Beta(1, 1) (= Uniform(0, 1)); a box of side
    int(H * sqrt(1 - lam)) x int(W * sqrt(1 - lam)) whose centre is a pixel drawn uniformly,
    clipped at the border, is pasted from the partner, a *different* image of the batch; lam is
    recomputed as 1 - box_area / (H * W) from the clipped box, the exact fraction of pixels that
    come from the source.

    The original rand_bbox spans centre +- side // 2, which loses a pixel on odd sides; we keep
    the nominal side (see image_ops.sample_boxes). Since lam is recomputed from the box, labels
    and views stay consistent either way."""
    name = "cutmix"

    def __call__(self, x, generator=None, scorer=None):
        b, _, h, w = x.shape
        if b < 2:
            return _unmixed(x, x.clone())
        per_sample = self.config.per_sample
        n = b if per_sample else 1
        lam = torch.rand(n, generator=generator, dtype=torch.float64)
        cut = torch.sqrt(1.0 - lam)
        cut_h = (h * cut).long()
        cut_w = (w * cut).long()
        boxes = sample_boxes(n, h, w, cut_h, cut_w, generator)
        partner = _partners(b, generator, per_sample, allow_self=False)
        lam = (1.0 - box_area(boxes).double() / (h * w)).float().expand(b).contiguous()
        partner = partner.to(x.device)
        paste = box_mask(boxes, h, w, x.device)
        view = torch.where(paste, x[partner], x)
        source = torch.arange(b, device=x.device)
        return AugmentedBatch(view, source, partner, lam.to(x.device))


def softmax_entropy(logits: Tensor) -> Tensor:
    """Entropy (nats) of softmax(logits) at temperature 1, per row, in float32. Uses
    log_softmax, so a saturated softmax gives 0 instead of the NaN of p * log(p)."""
    logp = F.log_softmax(logits.float(), dim=1)
    return -(logp.exp() * logp).sum(dim=1)


class CutMixPick(Augmentation):
    """The paper's CutMix + entropy picking: run cutmix ``mix_n_run`` times independently on the
    batch (a pool of mix_n_run * B images), score the pool with ONE scorer call, and keep the
    ``n_pick`` (default B) images whose softmax (temperature 1) has the highest entropy.

    ``scorer`` maps images (the pixel space of x) to logits; the caller closes over the
    normalisation and the teacher (T. entropy) or the student (S. entropy) under no_grad. The
    kept images come in order of decreasing entropy, with the scorer's logits."""
    name = "cutmix_pick"
    needs_scorer = True

    def __init__(self, config):
        super().__init__(config)
        self._cutmix = CutMix(config)

    def __call__(self, x, generator=None, scorer=None):
        if scorer is None:
            raise ValueError("cutmix_pick needs a scorer: a callable mapping images to logits")
        runs = [self._cutmix(x, generator) for _ in range(self.config.mix_n_run)]
        pool = torch.cat([r.x for r in runs])
        logits = scorer(pool)
        if logits.dim() != 2 or logits.shape[0] != pool.shape[0]:
            raise ValueError(f"the scorer returned logits of shape {tuple(logits.shape)} for "
                             f"{pool.shape[0]} images; expected ({pool.shape[0]}, K)")
        n_pick = x.shape[0] if self.config.n_pick is None else self.config.n_pick
        n_pick = min(n_pick, pool.shape[0])
        keep = softmax_entropy(logits).topk(n_pick).indices
        return AugmentedBatch(pool[keep], torch.cat([r.source for r in runs])[keep],
                              torch.cat([r.partner for r in runs])[keep],
                              torch.cat([r.lam for r in runs])[keep], logits[keep])


# ----------------------------------------------------------------------------- AutoAugment

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


def _apply_aa_op(img: Tensor, op: str, magnitude: float) -> Tensor:
    """One AutoAugment op on a batch, with torchvision.transforms.v2.functional and the same
    parameterisation as torchvision's AutoAugment (nearest interpolation, fill 0)."""
    nearest = InterpolationMode.NEAREST
    if op == "ShearX":
        return TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0,
                         shear=[math.degrees(math.atan(magnitude)), 0.0],
                         interpolation=nearest, fill=None, center=[0, 0])
    if op == "ShearY":
        return TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0,
                         shear=[0.0, math.degrees(math.atan(magnitude))],
                         interpolation=nearest, fill=None, center=[0, 0])
    if op == "TranslateX":
        return TF.affine(img, angle=0.0, translate=[int(magnitude), 0], scale=1.0,
                         interpolation=nearest, shear=[0.0, 0.0], fill=None)
    if op == "TranslateY":
        return TF.affine(img, angle=0.0, translate=[0, int(magnitude)], scale=1.0,
                         interpolation=nearest, shear=[0.0, 0.0], fill=None)
    if op == "Rotate":
        return TF.rotate(img, angle=magnitude, interpolation=nearest, fill=None)
    if op == "Brightness":
        return TF.adjust_brightness(img, brightness_factor=1.0 + magnitude)
    if op == "Color":
        return TF.adjust_saturation(img, saturation_factor=1.0 + magnitude)
    if op == "Contrast":
        return TF.adjust_contrast(img, contrast_factor=1.0 + magnitude)
    if op == "Sharpness":
        return TF.adjust_sharpness(img, sharpness_factor=1.0 + magnitude)
    if op == "Posterize":
        return TF.posterize(img, bits=int(magnitude))
    if op == "Solarize":
        bound = 1.0 if img.is_floating_point() else float(torch.iinfo(img.dtype).max)
        return TF.solarize(img, threshold=bound * magnitude)
    if op == "AutoContrast":
        return TF.autocontrast(img)
    if op == "Equalize":
        return TF.equalize(img)
    if op == "Invert":
        return TF.invert(img)
    if op == "Identity":
        return img
    raise ValueError(f"unknown AutoAugment op {op!r}")


class AutoAugmentDA(Augmentation):
    """torchvision's AutoAugment (CIFAR10 policy on CIFAR, IMAGENET on Tiny ImageNet), per
    sample: each image draws its own sub-policy, its own probability gates and magnitude signs.

    The policy table and magnitude bins are torchvision's own. Images are grouped, per stage of
    the two-op sub-policies, by the (op, signed magnitude) they receive, and each group goes
    through one torchvision.transforms.v2.functional call; so a batch costs a few dozen calls
    whatever its size. Works on uint8 and on float images in [0, 1] (torchvision's float
    semantics: e.g. Solarize's threshold is scaled to 1, Equalize bins to 256 levels)."""
    name = "autoaugment"

    def __init__(self, config):
        super().__init__(config)
        reference = v2.AutoAugment(config.autoaugment_policy)
        self.subpolicies = reference._policies
        self._space = reference._AUGMENTATION_SPACE
        self._probability = torch.tensor([[p for _, p, _ in s] for s in self.subpolicies],
                                         dtype=torch.float64)  # (S, 2) gate probabilities
        self._tables: Dict[Tuple[int, int], _PolicyTable] = {}

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
        params = AAParams(subpolicy, gates <= self._probability[subpolicy], signs <= 0.5)
        if n != batch_size:
            params = AAParams(*(t.expand(batch_size, *t.shape[1:]).contiguous() for t in params))
        return params

    def apply(self, x: Tensor, params: AAParams) -> Tensor:
        """Apply drawn parameters to the batch x."""
        b, _, h, w = x.shape
        table = self.table(h, w)
        out = x.clone()
        for stage in range(2):
            op_id = table.op_id[params.subpolicy, stage]
            negative = params.negative[:, stage] & table.signed[params.subpolicy, stage]
            # Group key: which (op, magnitude) and which sign; -1 where the gate is closed.
            key = torch.where(params.applied[:, stage], op_id * 2 + negative.long(),
                              torch.full_like(op_id, -1))
            # Sort once on the CPU and move the order to the device once: each group is then a
            # contiguous slice of it (no per-group host-to-device copy, no device sync).
            key, order = torch.sort(key, stable=True)
            keys, counts = torch.unique_consecutive(key, return_counts=True)
            order_dev = order.to(x.device)
            start = 0
            for k, count in zip(keys.tolist(), counts.tolist()):
                members = order_dev[start:start + count]
                start += count
                if k < 0:
                    continue
                op, magnitude = table.ops[k // 2]
                magnitude = -magnitude if k % 2 else magnitude
                if count == b:
                    out = _apply_aa_op(out, op, magnitude)
                else:
                    out.index_copy_(0, members, _apply_aa_op(out.index_select(0, members), op,
                                                             magnitude))
        return out

    def __call__(self, x, generator=None, scorer=None):
        if x.shape[0] == 0:
            return _unmixed(x, x.clone())
        return _unmixed(x, self.apply(x, self.draw(x.shape[0], generator)))


# ----------------------------------------------------------------------------- registry

AUGMENTATIONS: Dict[str, Callable[[DAConfig], Augmentation]] = {
    "identity": Identity,
    "flip": Flip,
    "crop+flip": CropFlip,
    "cutout": Cutout,
    "autoaugment": AutoAugmentDA,
    "mixup": Mixup,
    "cutmix": CutMix,
    "cutmix_pick": CutMixPick,
}


def build_augmentation(name: str, config: DAConfig) -> Augmentation:
    """The registered DA called ``name``, configured by ``config``."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown DA '{name}'; choose one of: {', '.join(AUGMENTATIONS)}")
    return AUGMENTATIONS[name](config)


def mixed_cross_entropy(logits: Tensor, y: Tensor, batch: AugmentedBatch) -> Tensor:
    """Mean over the views of lam * CE(logits, y[source]) + (1 - lam) * CE(logits, y[partner]),
    the CutMix label loss (the original's --lw_mix second weight), per sample."""
    lam = batch.lam.to(logits.dtype)
    per_view = (lam * F.cross_entropy(logits, y[batch.source], reduction="none")
                + (1 - lam) * F.cross_entropy(logits, y[batch.partner], reduction="none"))
    return per_view.mean()
