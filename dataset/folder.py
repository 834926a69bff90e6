"""Data sets too large for memory, in the ImageFolder layout ``<root>/{train,val}/<class>/<image>``:
only the file list is read here; images are decoded by DataLoader workers (dataset/jpeg.py)."""
import os
from dataclasses import dataclass, replace

import torch

from helper.core.errors import DatasetError, DatasetNotFoundError

from .base import stratified_subset

# torchvision's ImageNet normalisation, also used for any ImageFolder tree.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
DEFAULT_IMAGE_SIZE = 224


class DatasetLayoutError(DatasetError):
    """An ImageFolder tree that cannot be used as it is (an empty class, a val class not in train)."""


@dataclass
class FolderSplit:
    """The files of one split and their labels (int64, CPU)."""
    paths: list
    labels: torch.Tensor

    def __len__(self):
        return len(self.paths)

    def subset(self, index):
        return FolderSplit([self.paths[i] for i in index.tolist()], self.labels[index])


@dataclass
class FolderDataset:
    """A streamed data set: its file lists, classes and normalisation; decoded at image_size."""
    name: str
    train: FolderSplit
    test: FolderSplit
    classes: list
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    image_size: int = DEFAULT_IMAGE_SIZE

    @property
    def num_classes(self):
        return len(self.classes)

    def resized(self, image_size):
        if image_size < 8:
            raise DatasetError(f"--image_size must be at least 8, got {image_size}")
        return replace(self, image_size=image_size)

    def subset(self, train_n=None, test_n=None, seed=0):
        """Stratified subsets, as ImageDataset.subset draws them."""
        return replace(self, train=self.train.subset(stratified_subset(self.train.labels, train_n, seed)),
                       test=self.test.subset(stratified_subset(self.test.labels, test_n, seed + 1)))


def images_in(folder):
    return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))


def class_folders(split_root):
    return sorted(d for d in os.listdir(split_root) if os.path.isdir(os.path.join(split_root, d)))


def _read_split(split_root, classes):
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = images_in(os.path.join(split_root, name))
        if not files:
            raise DatasetLayoutError(f"class folder {os.path.join(split_root, name)} holds no image "
                                     f"({', '.join(IMAGE_EXTENSIONS[:3])}, ...)")
        paths += files
        labels += [label] * len(files)
    return FolderSplit(paths, torch.tensor(labels, dtype=torch.long))


def scan_image_folder(root, name, layout_hint):
    """The train and val file lists of `root`; classes are train's sorted folder names, as
    torchvision's ImageFolder numbers them, and val must use only those."""
    missing = [s for s in ("train", "val") if not os.path.isdir(os.path.join(root, s))]
    if missing:
        raise DatasetNotFoundError(f"{name} not found at {root}: no {' or '.join(missing)} folder "
                                   f"(expected layout: {layout_hint})")
    classes = class_folders(os.path.join(root, "train"))
    if not classes:
        raise DatasetLayoutError(f"{os.path.join(root, 'train')} has no class folders")
    unknown = sorted(set(class_folders(os.path.join(root, "val"))) - set(classes))
    if unknown:
        raise DatasetLayoutError(f"{os.path.join(root, 'val')} has classes that train does not have: "
                                 f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}")
    train = _read_split(os.path.join(root, "train"), classes)
    val_classes = [c for c in classes if os.path.isdir(os.path.join(root, "val", c))]
    test = _read_split(os.path.join(root, "val"), val_classes)
    # val labels are train's numbers even where val lacks a class
    test.labels = torch.tensor([classes.index(val_classes[i]) for i in test.labels.tolist()], dtype=torch.long)
    return train, test, classes


def load_image_folder(root, name, layout_hint, expected_classes=None):
    train, test, classes = scan_image_folder(root, name, layout_hint)
    if expected_classes is not None and len(classes) != expected_classes:
        raise DatasetLayoutError(f"{name} at {root} has {len(classes)} classes in train/, "
                                 f"expected {expected_classes}")
    return FolderDataset(name, train, test, classes)


def load_imagefolder(data_folder, download=False):
    """--dataset imagefolder: --data_folder itself holds train/ and val/."""
    return load_image_folder(data_folder, "imagefolder", "<data_folder>/{train,val}/<class>/<image>")


def load_imagenet(data_folder, download=False):
    return load_image_folder(os.path.join(data_folder, "imagenet"), "imagenet",
                             "<data_folder>/imagenet/{train,val}/<wnid>/*.JPEG", expected_classes=1000)


def load_imagenet100(data_folder, download=False):
    return load_image_folder(os.path.join(data_folder, "imagenet100"), "imagenet100",
                             "<data_folder>/imagenet100/{train,val}/<wnid>/*.JPEG (scripts/make_imagenet100.py "
                             "builds it from ImageNet)", expected_classes=100)
