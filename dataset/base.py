"""What every data set loader returns, and the errors and subsets they share."""
from dataclasses import dataclass

import torch

from helper.core.errors import DatasetError


def missing_dataset_message(name, path, layout, download_hint):
    return f"{name} not found at {path} (expected layout: {layout}); {download_hint}"


@dataclass
class ImageDataset:
    """A whole data set in memory: uint8 images (N, 3, H, W), int64 labels (N,)."""
    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list
    mean: tuple
    std: tuple

    @property
    def num_classes(self):
        return len(self.classes)

    @property
    def image_size(self):
        return self.train_x.shape[-1]

    def resized(self, image_size):
        """In-memory sets keep their stored size: only streamed sets decode at --image_size."""
        if image_size != self.image_size:
            raise DatasetError(f"--image_size applies to streamed data sets; {self.name} is stored at "
                               f"{self.image_size}x{self.image_size}")
        return self

    def subset(self, train_n=None, test_n=None, seed=0):
        """A stratified random subset of each split, the same for the same seed."""
        train_idx = stratified_subset(self.train_y, train_n, seed)
        test_idx = stratified_subset(self.test_y, test_n, seed + 1)
        return ImageDataset(self.name, self.train_x[train_idx], self.train_y[train_idx],
                            self.test_x[test_idx], self.test_y[test_idx],
                            self.classes, self.mean, self.std)


def stratified_subset(labels, n, seed):
    """Sorted indices of n samples with the class proportions of `labels` (n=None: all)."""
    if n is None or n >= len(labels):
        return torch.arange(len(labels))
    if n <= 0:
        raise ValueError(f"a subset needs a positive size, got {n}")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=generator)
    shuffled = labels[order]
    # Rank of each sample within its class in the shuffled order; taking the lowest
    # ranks first spreads the n picks evenly over the classes.
    rank = torch.empty_like(order)
    for c in labels.unique():
        members = (shuffled == c).nonzero().squeeze(1)
        rank[members] = torch.arange(len(members)) * len(labels) // len(members)
    keep = order[torch.argsort(rank, stable=True)[:n]]
    return keep.sort().values


def channel_stats(x):
    """Per-channel mean and std of uint8 images, in [0, 1] units."""
    x = x.float().div_(255)
    return (tuple(x.mean(dim=(0, 2, 3)).tolist()), tuple(x.std(dim=(0, 2, 3)).tolist()))
