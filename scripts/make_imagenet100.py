"""Build <out>/{train,val}/<wnid> as symlinks into a full ImageNet folder for a list of 100 classes.

    python scripts/make_imagenet100.py --imagenet /data/imagenet --out /data/imagenet100
    python scripts/make_imagenet100.py --imagenet /data/imagenet --out DIR --classes my_classes.txt
    python scripts/make_imagenet100.py --imagenet /data/imagenet --out DIR --seed 1   # another draw

The default list, dataset/imagenet100_classes.txt, was drawn with --seed 20220726 from the 1000
ImageNet classes. The paper's own list is in the original repository's data/imagenet100.zip as the
folder names <subset>/train/<wnid>: pass that zip as --classes to build the paper's ImageNet100. Class folders are linked whole, so the tree
costs no disk space and --dataset imagenet100 reads it like any ImageFolder tree.
"""
import argparse
import os
import random
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CLASSES = os.path.join(ROOT, "dataset", "imagenet100_classes.txt")
SPLITS = ("train", "val")


def read_classes(path):
    """wnids one a line (blank lines and # comments ignored), or the class folders */train/<wnid>
    of a zip such as the original repository's data/imagenet100.zip."""
    if path.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            parts = [name.rstrip("/").split("/") for name in archive.namelist()]
        return sorted({p[-1] for p in parts if len(p) >= 2 and p[-2] == "train"})
    with open(path) as f:
        names = [line.split("#")[0].strip() for line in f]
    return [n for n in names if n]


def draw_classes(available, n, seed):
    return sorted(random.Random(seed).sample(sorted(available), n))


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def build(imagenet, out, classes):
    """Link each class's train and val folder; refuses a class the source lacks."""
    for split in SPLITS:
        missing = [c for c in classes if not os.path.isdir(os.path.join(imagenet, split, c))]
        if missing:
            fail(f"{os.path.join(imagenet, split)} lacks {len(missing)} of the classes, "
                 f"e.g. {', '.join(missing[:3])}")
    if len(set(classes)) != len(classes):
        fail("the class list repeats a class")
    for split in SPLITS:
        os.makedirs(os.path.join(out, split), exist_ok=True)
        for c in classes:
            link = os.path.join(out, split, c)
            target = os.path.abspath(os.path.join(imagenet, split, c))
            if os.path.islink(link) and os.readlink(link) == target:
                continue
            os.symlink(target, link)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imagenet", required=True, help="ImageNet folder holding train/ and val/ by wnid")
    parser.add_argument("--out", required=True, help="folder to create, e.g. <data_folder>/imagenet100")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--classes", default=None, help=f"class list: a text file of wnids or a zip of */train/<wnid> folders (default: {DEFAULT_CLASSES})")
    source.add_argument("--seed", type=int, default=None, help="draw the classes from --imagenet's with this seed")
    parser.add_argument("--n_classes", type=int, default=100, help="classes to draw with --seed")
    return parser.parse_args(argv)


def main(argv=None):
    opt = parse_args(argv)
    if not os.path.isdir(os.path.join(opt.imagenet, "train")):
        fail(f"{opt.imagenet}/train not found (expected <imagenet>/{{train,val}}/<wnid>/*.JPEG)")
    if opt.seed is not None:
        classes = draw_classes(os.listdir(os.path.join(opt.imagenet, "train")), opt.n_classes, opt.seed)
    else:
        classes = read_classes(opt.classes or DEFAULT_CLASSES)
    build(opt.imagenet, opt.out, classes)
    print(f"{opt.out}: {len(classes)} classes linked from {opt.imagenet}", file=sys.stderr)
    return classes


if __name__ == "__main__":
    main()
