"""Decoding image files in DataLoader workers, with the standard ImageNet DA of each split:
train RandomResizedCrop(S, scale (0.08, 1), ratio (3/4, 4/3)) + horizontal flip, each image its own
draw; test Resize(S * 256 / 224) + CenterCrop(S). Output: uint8 (B, 3, S, S) batches.

Each crop is one PIL resize of the crop box (no intermediate image), and JPEGs whose crop box is
at least twice the output size are decoded at a reduced DCT scale (libjpeg's draft mode), so the
decoder never produces pixels that the resize would average away."""
import math
import random

import numpy as np
import torch
from PIL import Image

from helper.core.errors import DatasetError

SCALE, RATIO = (0.08, 1.0), (3 / 4, 4 / 3)
TEST_RESIZE = 256 / 224  # Resize(256) before CenterCrop(224)
CROP_ATTEMPTS = 10


class CorruptImageError(DatasetError):
    """An image file that cannot be decoded; the message names it."""


def random_resized_box(width, height, rng):
    """torchvision's RandomResizedCrop parameters as a (left, top, right, bottom) box."""
    area = width * height
    log_ratio = (math.log(RATIO[0]), math.log(RATIO[1]))
    for _ in range(CROP_ATTEMPTS):
        target_area = area * rng.uniform(*SCALE)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            top, left = rng.randint(0, height - h), rng.randint(0, width - w)
            return left, top, left + w, top + h
    # fallback: the largest central crop within the ratio range
    if width / height < RATIO[0]:
        w, h = width, round(width / RATIO[0])
    elif width / height > RATIO[1]:
        w, h = round(height * RATIO[1]), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def center_box(width, height, size):
    """The region that Resize(size * 256/224) + CenterCrop(size) keeps, in source pixels."""
    side = min(width, height) / TEST_RESIZE
    left, top = (width - side) / 2, (height - side) / 2
    return left, top, left + side, top + side


def decode(path, size, rng=None):
    """One image as a (size, size, 3) uint8 array: train DA with a random.Random, test view without."""
    with Image.open(path) as img:
        width, height = img.size
        box = random_resized_box(width, height, rng) if rng is not None else center_box(width, height, size)
        box_w, box_h = box[2] - box[0], box[3] - box[1]
        img.draft("RGB", (math.ceil(width * size / box_w), math.ceil(height * size / box_h)))
        sx, sy = img.size[0] / width, img.size[1] / height  # the draft's reduction, if any
        box = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
        out = img.convert("RGB").resize((size, size), Image.BILINEAR, box=box)
    if rng is not None and rng.random() < 0.5:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
    return np.asarray(out)


def sample_seed(batch_seed, position):
    """The seed of the image at `position` of a global batch: which process or worker decodes it
    does not change its crop or flip."""
    return (batch_seed << 20) + position


class ImageFiles(torch.utils.data.Dataset):
    """Files and labels of a split. A DataLoader item is a list of (index, seed) jobs (seed None:
    test view); indexing with it decodes them into one uint8 batch, or returns the error of the
    first bad file, which the main process raises (a worker exception would arrive as a traceback)."""

    def __init__(self, paths, labels, image_size):
        self.paths, self.labels, self.image_size = paths, labels, image_size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, jobs):
        images = np.empty((len(jobs), self.image_size, self.image_size, 3), dtype=np.uint8)
        for k, (index, seed) in enumerate(jobs):
            path = self.paths[index]
            try:
                images[k] = decode(path, self.image_size, None if seed is None else random.Random(seed))
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
                reason = str(err).splitlines()[0] if str(err) else type(err).__name__
                return CorruptImageError(f"cannot decode image {path}: {reason}")
        index = torch.tensor([i for i, _ in jobs], dtype=torch.long)
        # NCHW made contiguous here, in the worker, rather than in the main process
        return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), self.labels[index], index


def as_is(batch):
    """collate_fn: indexing already built the batch."""
    return batch
