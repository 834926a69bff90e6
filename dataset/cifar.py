"""CIFAR-100 and CIFAR-10 from the official python layout (pickled numpy arrays)."""
import os
import pickle

import numpy as np
import torch

from helper.core.errors import DatasetNotFoundError

from .base import ImageDataset, missing_dataset_message

# CRD's normalisation constants.
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def _unpickle(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _images(rows):
    return torch.from_numpy(np.ascontiguousarray(rows, dtype=np.uint8).reshape(-1, 3, 32, 32))


def _ensure_present(folder, files, name, data_folder, download, torchvision_class):
    if all(os.path.isfile(os.path.join(folder, f)) for f in files):
        return
    if download:
        import torchvision.datasets
        getattr(torchvision.datasets, torchvision_class)(data_folder, download=True)
        return
    layout = f"{os.path.basename(folder)}/{{{','.join(files)}}} (the official python version)"
    raise DatasetNotFoundError(missing_dataset_message(
        name, folder, layout,
        "pass --download to fetch it (needs internet), or --data_folder to point at a copy"))


def load_cifar100(data_folder, download=False):
    folder = os.path.join(data_folder, "cifar-100-python")
    _ensure_present(folder, ["train", "test", "meta"], "CIFAR-100", data_folder, download, "CIFAR100")
    train, test = _unpickle(os.path.join(folder, "train")), _unpickle(os.path.join(folder, "test"))
    classes = _unpickle(os.path.join(folder, "meta"))["fine_label_names"]
    return ImageDataset("cifar100", _images(train["data"]), torch.tensor(train["fine_labels"]),
                        _images(test["data"]), torch.tensor(test["fine_labels"]),
                        list(classes), CIFAR100_MEAN, CIFAR100_STD)


def load_cifar10(data_folder, download=False):
    folder = os.path.join(data_folder, "cifar-10-batches-py")
    train_files = [f"data_batch_{i}" for i in range(1, 6)]
    _ensure_present(folder, train_files + ["test_batch", "batches.meta"], "CIFAR-10",
                    data_folder, download, "CIFAR10")
    batches = [_unpickle(os.path.join(folder, f)) for f in train_files]
    test = _unpickle(os.path.join(folder, "test_batch"))
    classes = _unpickle(os.path.join(folder, "batches.meta"))["label_names"]
    return ImageDataset("cifar10", _images(np.concatenate([b["data"] for b in batches])),
                        torch.tensor(sum((b["labels"] for b in batches), [])),
                        _images(test["data"]), torch.tensor(test["labels"]),
                        list(classes), CIFAR10_MEAN, CIFAR10_STD)
