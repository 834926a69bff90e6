"""Batched image primitives, per sample and vectorised, for the standard and the stronger DAs.

Every op takes unnormalised images ``x: (B, C, H, W)`` (uint8, or float in [0, 1]) on any
device and returns the same dtype on the same device. Random parameters are drawn on the CPU
from the given ``torch.Generator`` (small tensors of size B) and then moved to ``x.device``: a
CPU run and a CUDA run with the same seed draw the same crops, flips and boxes, and nothing here
waits on the device (no ``.item()`` on device tensors).

The box helpers (:func:`sample_boxes`, :func:`box_mask`) are the one place where cutout and
cutmix sample their rectangles.
"""
import torch
import torch.nn.functional as F
from torch import Tensor


def _check_images(x):
    if x.dim() != 4:
        raise ValueError(f"expected images of shape (B, C, H, W), got {tuple(x.shape)}")


def random_crop(x: Tensor, pad: int, generator=None, per_sample: bool = True) -> Tensor:
    """CRD's ``RandomCrop(H, padding=pad)`` on a batch: zero-pad by ``pad`` on each side and crop
    back to H x W at an offset uniform in [0, 2*pad] (rows and columns drawn independently).

    ``per_sample``: every image draws its own offset; otherwise one offset serves the batch.
    The padding is 0 in pixel space (black), as torchvision's RandomCrop pads before
    normalisation."""
    _check_images(x)
    b, _, h, w = x.shape
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    if pad == 0 or b == 0:
        return x.clone()
    n = b if per_sample else 1
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator)  # row offsets, column offsets
    padded = F.pad(x, (pad, pad, pad, pad))
    if not per_sample:
        oy, ox = offsets[:, 0].tolist()  # CPU tensor: no device sync
        return padded[:, :, oy:oy + h, ox:ox + w].contiguous()
    offsets = offsets.to(x.device)
    rows = offsets[0].view(b, 1, 1, 1) + torch.arange(h, device=x.device).view(1, 1, h, 1)
    cols = offsets[1].view(b, 1, 1, 1) + torch.arange(w, device=x.device).view(1, 1, 1, w)
    c = x.shape[1]
    out = torch.gather(padded, 2, rows.expand(b, c, h, w + 2 * pad))
    return torch.gather(out, 3, cols.expand(b, c, h, w))


def random_hflip(x: Tensor, generator=None, per_sample: bool = True) -> Tensor:
    """Mirror each image left-right with probability 0.5 (one decision for the whole batch if
    ``per_sample`` is False)."""
    _check_images(x)
    b = x.shape[0]
    if b == 0:
        return x.clone()
    if not per_sample:
        flip = bool(torch.rand(1, generator=generator)[0] < 0.5)
        return x.flip(-1) if flip else x.clone()
    flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)
    return torch.where(flip.view(b, 1, 1, 1), x.flip(-1), x)


def crop_padding(image_size: int) -> int:
    """The standard DA's crop padding: 4 on 32x32 (CRD's RandomCrop(32, padding=4)), 8 on 64x64."""
    return image_size // 8


def standard_augment(x: Tensor, pad: int, generator=None) -> Tensor:
    """The standard CIFAR DA of CRD, per sample: random crop with zero padding, then flip."""
    return random_hflip(random_crop(x, pad, generator), generator)


def sample_boxes(n: int, height: int, width: int, box_h, box_w, generator=None) -> Tensor:
    """Rectangles of nominal size ``box_h`` x ``box_w`` (ints, or (n,) int tensors) whose centre
    is a pixel drawn uniformly over the image, clipped at the border.

    Returns an (n, 4) int64 CPU tensor of half-open bounds ``[y1, y2, x1, x2]``: the box covers
    rows y1..y2-1 and columns x1..x2-1. Unclipped, the box spans ``centre - size // 2`` to
    ``centre - size // 2 + size``; for even sizes this is the ``centre +- size // 2`` of the
    official Cutout and CutMix code."""
    box_h = torch.as_tensor(box_h, dtype=torch.long).expand(n)
    box_w = torch.as_tensor(box_w, dtype=torch.long).expand(n)
    cy = torch.randint(0, height, (n,), generator=generator)
    cx = torch.randint(0, width, (n,), generator=generator)
    y1 = cy - box_h // 2
    x1 = cx - box_w // 2
    return torch.stack([y1.clamp(0, height), (y1 + box_h).clamp(0, height),
                        x1.clamp(0, width), (x1 + box_w).clamp(0, width)], dim=1)


def box_area(boxes: Tensor) -> Tensor:
    """Pixel count of each box of :func:`sample_boxes`."""
    return (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])


def box_mask(boxes: Tensor, height: int, width: int, device=None) -> Tensor:
    """Boolean masks (n, 1, H, W) on ``device``, True inside each box."""
    boxes = boxes.to(device)
    rows = torch.arange(height, device=boxes.device)
    cols = torch.arange(width, device=boxes.device)
    in_rows = (rows >= boxes[:, 0:1]) & (rows < boxes[:, 1:2])  # (n, H)
    in_cols = (cols >= boxes[:, 2:3]) & (cols < boxes[:, 3:4])  # (n, W)
    return (in_rows[:, :, None] & in_cols[:, None, :]).unsqueeze(1)


def random_derangement(n: int, generator=None) -> Tensor:
    """A permutation of 0..n-1 without fixed points, uniform over all such permutations
    (rejection sampling of ``randperm``, as the original CutMix code of the paper does; about
    e ~ 2.7 draws on average). For n < 2 no derangement exists and the identity is returned."""
    identity = torch.arange(n)
    if n < 2:
        return identity
    while True:
        perm = torch.randperm(n, generator=generator)
        if not bool((perm == identity).any()):
            return perm
