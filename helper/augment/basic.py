"""The geometric DAs of the paper: identity, flip, crop+flip (each image its own draw)."""
from helper.augment.base import Augmentation, unmixed
from helper.core.image_ops import random_crop, random_hflip


class Identity(Augmentation):
    name, label = "identity", "Identity"

    def __call__(self, x, generator=None, scorer=None):
        return unmixed(x, x.clone())


class Flip(Augmentation):
    name, label = "flip", "Flip"

    def __call__(self, x, generator=None, scorer=None):
        return unmixed(x, random_hflip(x, generator, self.config.per_sample))


class CropFlip(Augmentation):
    """Another random crop (zero padding ``DAConfig.pad``) and flip."""
    name, label = "crop+flip", "Crop+Flip"

    def __call__(self, x, generator=None, scorer=None):
        per_sample = self.config.per_sample
        view = random_crop(x, self.config.pad, generator, per_sample)
        return unmixed(x, random_hflip(view, generator, per_sample))
