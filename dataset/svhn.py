"""SVHN (cropped digits) from torchvision's .mat files, in memory like CIFAR."""
import os

import numpy as np
import torch

from helper.core.errors import DatasetNotFoundError

from .base import ImageDataset, missing_dataset_message

FOLDER = "svhn"
FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
MEAN, STD = (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)


def _read(path):
    from scipy.io import loadmat
    mat = loadmat(path)
    # X: (32, 32, 3, N); y: (N, 1) with the digit 0 stored as label 10
    x = torch.from_numpy(np.ascontiguousarray(mat["X"].transpose(3, 2, 0, 1), dtype=np.uint8))
    y = torch.from_numpy(mat["y"].reshape(-1).astype(np.int64) % 10)
    return x, y


def load_svhn(data_folder, download=False):
    folder = os.path.join(data_folder, FOLDER)
    paths = {split: os.path.join(folder, name) for split, name in FILES.items()}
    if download and not all(map(os.path.isfile, paths.values())):
        import torchvision.datasets
        for split in FILES:
            torchvision.datasets.SVHN(folder, split=split, download=True)
    if not all(map(os.path.isfile, paths.values())):
        raise DatasetNotFoundError(missing_dataset_message(
            "SVHN", folder, f"{FOLDER}/{{{','.join(FILES.values())}}}",
            "pass --download to fetch it (needs internet), or --data_folder to point at a copy"))
    train_x, train_y = _read(paths["train"])
    test_x, test_y = _read(paths["test"])
    return ImageDataset("svhn", train_x, train_y, test_x, test_y, [str(d) for d in range(10)], MEAN, STD)
