"""Data set registry: a --dataset name maps to a loader returning an in-memory ImageDataset or a
streamed FolderDataset (helper/data/device_data.py puts either kind on the device behind one interface)."""
from .base import ImageDataset, stratified_subset
from .cifar import load_cifar10, load_cifar100
from .digits import load_digits
from .folder import FolderDataset, load_imagefolder, load_imagenet, load_imagenet100
from .svhn import load_svhn
from .tinyimagenet import load_tinyimagenet

DATASETS = {
    "cifar100": load_cifar100,
    "cifar10": load_cifar10,
    "tinyimagenet": load_tinyimagenet,
    "digits": load_digits,
    "svhn": load_svhn,
    "imagenet": load_imagenet,
    "imagenet100": load_imagenet100,
    "imagefolder": load_imagefolder,
}


def load_dataset(name, data_folder="./data", download=False):
    if name not in DATASETS:
        raise ValueError(f"unknown dataset '{name}'; choose one of: {', '.join(DATASETS)}")
    return DATASETS[name](data_folder, download=download)


__all__ = ["DATASETS", "FolderDataset", "ImageDataset", "load_dataset", "stratified_subset"]
