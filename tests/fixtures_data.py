"""Small fake data sets in the official on-disk layouts, generated for the loader tests."""
import os
import pickle

import numpy as np
from PIL import Image


def write_fake_cifar100(root, n_train=20, n_test=10, n_classes=5):
    folder = os.path.join(root, "cifar-100-python")
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    for name, n in (("train", n_train), ("test", n_test)):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [i % n_classes for i in range(n)]
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump({"data": data, "fine_labels": labels, "coarse_labels": labels,
                         "batch_label": name}, f)
    names = [f"class_{i}" for i in range(n_classes)]
    with open(os.path.join(folder, "meta"), "wb") as f:
        pickle.dump({"fine_label_names": names, "coarse_label_names": names}, f)
    return folder


def write_fake_cifar10(root, per_batch=4):
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder)
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
                         "labels": list(range(per_batch))}, f)
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    return folder


def write_fake_tinyimagenet(root, wnids=("n002", "n001"), per_class=3):
    """Returns {relative path: (label, array)} for checking decoded pixels; one image is greyscale."""
    folder = os.path.join(root, "tiny-imagenet-200")
    os.makedirs(os.path.join(folder, "val", "images"))
    rng = np.random.default_rng(2)
    with open(os.path.join(folder, "wnids.txt"), "w") as f:
        f.write("\n".join(wnids) + "\n")
    with open(os.path.join(folder, "words.txt"), "w") as f:
        f.writelines(f"{w}\tname of {w}\n" for w in wnids)
    sorted_wnids = sorted(wnids)
    annotations = []
    for wnid in wnids:
        os.makedirs(os.path.join(folder, "train", wnid, "images"))
        for k in range(per_class):
            # Flat colours survive JPEG compression almost exactly.
            colour = rng.integers(0, 256, size=3, dtype=np.uint8)
            Image.fromarray(np.broadcast_to(colour, (64, 64, 3)).copy()).save(
                os.path.join(folder, "train", wnid, "images", f"{wnid}_{k}.JPEG"))
        val_name = f"val_{sorted_wnids.index(wnid)}.JPEG"
        Image.fromarray(np.full((64, 64), 100, dtype=np.uint8), mode="L").save(
            os.path.join(folder, "val", "images", val_name))
        annotations.append(f"{val_name}\t{wnid}\t0\t0\t63\t63\n")
    with open(os.path.join(folder, "val", "val_annotations.txt"), "w") as f:
        f.writelines(annotations)
    return folder
