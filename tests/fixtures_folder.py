"""ImageFolder trees built from the real Tiny ImageNet JPEG sample (greyscale images included),
as symlinks, for the streaming tests."""
import os

from conftest import SHARED_DATA

SAMPLE = os.path.join(SHARED_DATA, "tinyimagenet-sample", "tiny-imagenet-200")
GREYSCALE = os.path.join(SAMPLE, "train", "n01768244", "images", "n01768244_42.JPEG")  # mode L


def sample_available():
    return os.path.isfile(os.path.join(SAMPLE, "wnids.txt"))


def sample_classes():
    return sorted(os.listdir(os.path.join(SAMPLE, "train")))


def make_image_folder(root, n_classes=4, train_per_class=6, val_per_class=2):
    """root/{train,val}/<wnid>/*.JPEG linking the first images of the first n_classes wnids; the
    first class also gets the sample's greyscale image (its class's label is not the point)."""
    wnids = sample_classes()[:n_classes]
    val_of = {}
    with open(os.path.join(SAMPLE, "val", "val_annotations.txt")) as f:
        for line in f:
            name, wnid = line.split("\t")[:2]
            val_of.setdefault(wnid, []).append(name)
    for wnid in wnids:
        train_dir = os.path.join(SAMPLE, "train", wnid, "images")
        sources = {"train": [os.path.join(train_dir, n) for n in sorted(os.listdir(train_dir))[:train_per_class]],
                   "val": [os.path.join(SAMPLE, "val", "images", n) for n in sorted(val_of[wnid])[:val_per_class]]}
        for split, files in sources.items():
            folder = os.path.join(root, split, wnid)
            os.makedirs(folder)
            for path in files:
                os.symlink(path, os.path.join(folder, os.path.basename(path)))
    os.symlink(GREYSCALE, os.path.join(root, "train", wnids[0], "greyscale.JPEG"))
    return root
