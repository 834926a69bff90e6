"""Tiny ImageNet-200 from the official folder layout, decoded once and cached as tensors."""
import os
import sys

import numpy as np
import torch
from PIL import Image

from helper.core.errors import DatasetNotFoundError

from .base import ImageDataset, missing_dataset_message

FOLDER = "tiny-imagenet-200"
MEAN, STD = (0.4802, 0.4481, 0.3975), (0.2302, 0.2265, 0.2262)
LAYOUT = (f"{FOLDER}/wnids.txt, {FOLDER}/train/<wnid>/images/*.JPEG, "
          f"{FOLDER}/val/images/*.JPEG with {FOLDER}/val/val_annotations.txt")
CACHE_VERSION = 1


def _decode(paths):
    # Greyscale images exist in the set: convert everything to RGB.
    out = np.empty((len(paths), 64, 64, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as img:
            out[i] = np.asarray(img.convert("RGB").resize((64, 64)))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _class_names(root, wnids):
    words = {}
    words_path = os.path.join(root, "words.txt")
    if os.path.isfile(words_path):
        with open(words_path) as f:
            for line in f:
                wnid, _, name = line.rstrip("\n").partition("\t")
                words[wnid] = name
    return [words.get(w, w) for w in wnids]


def _read_folder(root):
    with open(os.path.join(root, "wnids.txt")) as f:
        # Sorted, as torchvision's ImageFolder orders the classes.
        wnids = sorted(line.strip() for line in f if line.strip())
    label_of = {w: i for i, w in enumerate(wnids)}
    train_paths, train_labels = [], []
    for wnid in wnids:
        folder = os.path.join(root, "train", wnid, "images")
        for name in sorted(os.listdir(folder)):
            train_paths.append(os.path.join(folder, name))
            train_labels.append(label_of[wnid])
    val_paths, val_labels = [], []
    with open(os.path.join(root, "val", "val_annotations.txt")) as f:
        for line in f:
            fields = line.split("\t")
            if len(fields) >= 2 and fields[1] in label_of:
                val_paths.append(os.path.join(root, "val", "images", fields[0]))
                val_labels.append(label_of[fields[1]])
    return {"version": CACHE_VERSION,
            "train_x": _decode(train_paths), "train_y": torch.tensor(train_labels),
            "test_x": _decode(val_paths), "test_y": torch.tensor(val_labels),
            "wnids": wnids}


def _write_cache(path, tensors):
    tmp = path + ".tmp"
    try:
        torch.save(tensors, tmp)
        os.replace(tmp, path)
    except OSError as err:
        print(f"note: could not cache Tiny ImageNet tensors at {path} ({err.strerror}); "
              "decoding again next time", file=sys.stderr)


def load_tinyimagenet(data_folder, download=False, cache=None):
    """cache: where the decoded tensors are kept (default: next to the folder)."""
    root = os.path.join(data_folder, FOLDER)
    if not os.path.isfile(os.path.join(root, "wnids.txt")):
        raise DatasetNotFoundError(missing_dataset_message(
            "Tiny ImageNet", root, LAYOUT,
            "download tiny-imagenet-200.zip (cs231n.stanford.edu) and unzip it under --data_folder; "
            "--download is not available for this data set"))
    cache = cache or root + ".uint8.pt"
    tensors = torch.load(cache, weights_only=True) if os.path.isfile(cache) else None
    if tensors is None or tensors.get("version") != CACHE_VERSION:
        tensors = _read_folder(root)
        _write_cache(cache, tensors)
    return ImageDataset("tinyimagenet", tensors["train_x"], tensors["train_y"],
                        tensors["test_x"], tensors["test_y"],
                        _class_names(root, tensors["wnids"]), MEAN, STD)
