"""The image ops of AutoAugment, RandAugment, TrivialAugmentWide and AugMix, applied per sample:
images that draw the same (op, magnitude) go through one torchvision.transforms.v2.functional
call together, so a batch costs one call per distinct draw, whatever its size, and each image's
result is exactly that of the functional op on it alone."""
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from helper.augment import torch_private
from helper.augment.base import pixel_max

NEAREST, BILINEAR = InterpolationMode.NEAREST, InterpolationMode.BILINEAR
GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")


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


def affine_grid(op: str, magnitude: float, height: int, width: int, dtype, device) -> Optional[Tensor]:
    """The (1, H, W, 2) sampling grid torchvision's affine / rotate kernel builds for this op, by
    its own helpers and arguments; None where it takes a shortcut instead (rotations by
    multiples of 90 degrees, none)."""
    if op == "Rotate":
        angle = magnitude % 360
        if angle in (0, 180) or (height == width and angle in (90, 270)):
            return None
        matrix = torch_private.inverse_affine_matrix([0.0, 0.0], -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    else:
        shear = {"ShearX": [math.degrees(math.atan(magnitude)), 0.0],
                 "ShearY": [0.0, math.degrees(math.atan(magnitude))]}.get(op, [0.0, 0.0])
        translate = {"TranslateX": [int(magnitude), 0], "TranslateY": [0, int(magnitude)]}.get(op, [0, 0])
        center = [0, 0] if op in ("ShearX", "ShearY") else None
        angle, translate, shear, center = torch_private.affine_parse_args(0.0, translate, 1.0, shear, NEAREST, center)
        center_f = [0.0, 0.0] if center is None else [c - s * 0.5 for c, s in zip(center, [width, height])]
        matrix = torch_private.inverse_affine_matrix(center_f, angle, [float(t) for t in translate], 1.0, shear)
    theta = torch.tensor(matrix, dtype=dtype, device=device).reshape(1, 2, 3)
    return torch_private.affine_grid(theta, width, height)


def _grid_sample_like_torchvision(images: Tensor, grid: Tensor, interpolation) -> Tensor:
    """torchvision's _apply_grid_transform without fill, for a grid per image: each output pixel
    reads its own image only, so batching images of different grids changes no value."""
    work = images if images.is_floating_point() else images.to(grid.dtype)
    out = F.grid_sample(work, grid, mode=interpolation.value, padding_mode="zeros", align_corners=False)
    return out if images.is_floating_point() else out.round_().to(images.dtype)


def apply_grouped(x: Tensor, key: Tensor, entry: Callable[[int], Tuple[str, float]],
                  interpolation=NEAREST, grids: Optional[Dict] = None) -> Tensor:
    """x with image i transformed by the op ``entry(key[i])`` (key: (B,) int64 on the CPU; a
    negative key leaves the image as it is). Returns a new tensor.

    Each (op, magnitude) group goes through one functional call; the geometric ops of all groups
    share one grid_sample call instead, with each group's own torchvision grid, kept in ``grids``
    (the caller's cache: a grid depends only on the op, magnitude, size, dtype and device)."""
    grids = {} if grids is None else grids
    b, _, h, w = x.shape
    out = x.clone()
    # Sort once on the CPU and move the order to the device once: each group is then a
    # contiguous slice of it (no per-group host-to-device copy, no device sync).
    key, order = torch.sort(key, stable=True)
    keys, counts = torch.unique_consecutive(key, return_counts=True)
    order_dev = order.to(x.device)
    grid_dtype = x.dtype if x.is_floating_point() else torch.float32
    warped, batch_grids = [], []
    start = 0
    for k, count in zip(keys.tolist(), counts.tolist()):
        members = order_dev[start:start + count]
        start += count
        if k < 0:
            continue
        op, magnitude = entry(k)
        grid = None
        if op in GEOMETRIC:
            cache_key = (op, magnitude, h, w, grid_dtype, x.device)
            if cache_key not in grids:
                grids[cache_key] = affine_grid(op, magnitude, h, w, grid_dtype, x.device)
            grid = grids[cache_key]
        if grid is not None:
            warped.append(members)
            batch_grids.append(grid.expand(count, -1, -1, -1))
        elif count == b:
            out = apply_op(out, op, magnitude, interpolation)
        else:
            out.index_copy_(0, members, apply_op(out.index_select(0, members), op, magnitude, interpolation))
    if warped:
        members = torch.cat(warped)
        out.index_copy_(0, members, _grid_sample_like_torchvision(x.index_select(0, members), torch.cat(batch_grids),
                                                                  interpolation))
    return out


class OpSpace:
    """A torchvision op space (torch_private.augmentation_space: op -> (magnitudes_fn, signed))
    evaluated for one image size and number of bins, with a key per (op, bin, sign) for apply_grouped."""

    def __init__(self, space: dict, num_bins: int, height: int, width: int):
        self.ops: List[str] = list(space)
        self.num_bins = num_bins
        self.magnitudes: List[Optional[List[float]]] = []
        signed = []
        for op in self.ops:
            magnitudes_fn, is_signed = space[op]
            magnitudes = magnitudes_fn(num_bins, height, width)
            self.magnitudes.append(None if magnitudes is None else [float(m) for m in magnitudes])
            signed.append(bool(is_signed) and magnitudes is not None)
        self.signed = torch.tensor(signed)
        self.grids: Dict = {}  # apply_grouped's cache of affine grids

    def key(self, op: Tensor, bin_: Tensor, negative: Tensor) -> Tensor:
        """Keys of per-image draws: op index, magnitude bin, negated (ignored where unsigned)."""
        return (op * self.num_bins + bin_) * 2 + (negative & self.signed[op]).long()

    def entry(self, key: int) -> Tuple[str, float]:
        op, rest = divmod(key, 2 * self.num_bins)
        bin_, negative = divmod(rest, 2)
        magnitudes = self.magnitudes[op]
        magnitude = 0.0 if magnitudes is None else magnitudes[bin_]
        return self.ops[op], -magnitude if negative else magnitude


def space_for(cache: dict, space: dict, num_bins: int, height: int, width: int) -> OpSpace:
    """The OpSpace of this image size, built once per size (translations scale with it)."""
    if (num_bins, height, width) not in cache:
        cache[(num_bins, height, width)] = OpSpace(space, num_bins, height, width)
    return cache[(num_bins, height, width)]


def expand_draw(tensors: Sequence[Tensor], batch_size: int) -> Tuple[Tensor, ...]:
    """Batch granularity: one draw (leading size 1) shared by the whole batch."""
    return tuple(t.expand(batch_size, *t.shape[1:]).contiguous() for t in tensors)
