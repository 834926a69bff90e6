"""The image ops of AutoAugment, RandAugment, TrivialAugmentWide and AugMix, applied per sample:
images that draw the same (op, magnitude) go through one torchvision.transforms.v2.functional
call together, so a batch costs one call per distinct draw, whatever its size, and each image's
result is exactly that of the functional op on it alone."""
import math
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from helper.augment.base import pixel_max

NEAREST, BILINEAR = InterpolationMode.NEAREST, InterpolationMode.BILINEAR


def apply_op(img: Tensor, op: str, magnitude: float, interpolation=NEAREST) -> Tensor:
    """One op on a batch, with torchvision's parameterisation of its auto-augment family
    (``_AutoAugmentBase._apply_image_or_video_transform``, fill 0)."""
    if op == "ShearX":
        return TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0,
                         shear=[math.degrees(math.atan(magnitude)), 0.0],
                         interpolation=interpolation, fill=None, center=[0, 0])
    if op == "ShearY":
        return TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0,
                         shear=[0.0, math.degrees(math.atan(magnitude))],
                         interpolation=interpolation, fill=None, center=[0, 0])
    if op == "TranslateX":
        return TF.affine(img, angle=0.0, translate=[int(magnitude), 0], scale=1.0,
                         interpolation=interpolation, shear=[0.0, 0.0], fill=None)
    if op == "TranslateY":
        return TF.affine(img, angle=0.0, translate=[0, int(magnitude)], scale=1.0,
                         interpolation=interpolation, shear=[0.0, 0.0], fill=None)
    if op == "Rotate":
        return TF.rotate(img, angle=magnitude, interpolation=interpolation, fill=None)
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
        return TF.solarize(img, threshold=pixel_max(img) * magnitude)
    if op == "AutoContrast":
        return TF.autocontrast(img)
    if op == "Equalize":
        return TF.equalize(img)
    if op == "Invert":
        return TF.invert(img)
    if op == "Identity":
        return img
    raise ValueError(f"unknown op {op!r}")


def apply_grouped(x: Tensor, key: Tensor, entry: Callable[[int], Tuple[str, float]],
                  interpolation=NEAREST) -> Tensor:
    """x with image i transformed by the op ``entry(key[i])`` (key: (B,) int64 on the CPU; a
    negative key leaves the image as it is). Returns a new tensor."""
    b = x.shape[0]
    out = x.clone()
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
        op, magnitude = entry(k)
        if count == b:
            out = apply_op(out, op, magnitude, interpolation)
        else:
            out.index_copy_(0, members, apply_op(out.index_select(0, members), op, magnitude, interpolation))
    return out


class OpSpace:
    """A torchvision op space (``_AUGMENTATION_SPACE``: op -> (magnitudes_fn, signed)) evaluated
    for one image size and number of bins, with a key per (op, bin, sign) for apply_grouped."""

    def __init__(self, space: dict, num_bins: int, height: int, width: int):
        self.ops: List[str] = list(space)
        self.num_bins = num_bins
        self.magnitudes: List[Optional[Tensor]] = []
        signed = []
        for op in self.ops:
            magnitudes_fn, is_signed = space[op]
            magnitudes = magnitudes_fn(num_bins, height, width)
            self.magnitudes.append(magnitudes)
            signed.append(bool(is_signed) and magnitudes is not None)
        self.signed = torch.tensor(signed)

    def key(self, op: Tensor, bin_: Tensor, negative: Tensor) -> Tensor:
        """Keys of per-image draws: op index, magnitude bin, negated (ignored where unsigned)."""
        return (op * self.num_bins + bin_) * 2 + (negative & self.signed[op]).long()

    def entry(self, key: int) -> Tuple[str, float]:
        op, rest = divmod(key, 2 * self.num_bins)
        bin_, negative = divmod(rest, 2)
        magnitudes = self.magnitudes[op]
        magnitude = 0.0 if magnitudes is None else float(magnitudes[bin_])
        return self.ops[op], -magnitude if negative else magnitude


def space_for(cache: dict, space: dict, num_bins: int, height: int, width: int) -> OpSpace:
    """The OpSpace of this image size, built once per size (translations scale with it)."""
    if (num_bins, height, width) not in cache:
        cache[(num_bins, height, width)] = OpSpace(space, num_bins, height, width)
    return cache[(num_bins, height, width)]


def expand_draw(tensors: Sequence[Tensor], batch_size: int) -> Tuple[Tensor, ...]:
    """Batch granularity: one draw (leading size 1) shared by the whole batch."""
    return tuple(t.expand(batch_size, *t.shape[1:]).contiguous() for t in tensors)
