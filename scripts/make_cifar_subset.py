"""Write a stratified subset of CIFAR-100 in the official python layout, for a machine the full
set cannot be carried to (scripts/gpu_check.sh on a lent GPU: 64 MiB travel with the tree).

    python scripts/make_cifar_subset.py --data_folder ../shared/data --out .devdata --train 10000 --test 2000

writes .devdata/cifar-100-python/{train,test,meta} (about 37 MB for 10,000 + 2,000 images), which
--dataset cifar100 --data_folder .devdata reads like the original."""
import os
import pickle
import shutil
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from dataset.base import stratified_subset  # noqa: E402
from helper.cli.script import run_main, script_parser  # noqa: E402
from helper.core.errors import DatasetNotFoundError  # noqa: E402

KEYS = ("data", "fine_labels", "coarse_labels", "filenames")


def subset_split(source, target, n, seed):
    """A stratified subset of n rows of one pickled split, written atomically as the same dict."""
    with open(source, "rb") as f:
        split = pickle.load(f, encoding="latin1")
    keep = stratified_subset(torch.tensor(split["fine_labels"]), n, seed).numpy()
    out = {key: (np.asarray(split[key])[keep] if key == "data" else [split[key][i] for i in keep])
           for key in KEYS if key in split}
    out["batch_label"] = split.get("batch_label", "")
    tmp = target + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(out, f)
    os.replace(tmp, target)
    return len(keep)


def parse_args(argv=None):
    parser = script_parser(__doc__)
    parser.add_argument("--data_folder", default="./data", help="folder holding cifar-100-python/")
    parser.add_argument("--out", required=True, help="folder to write cifar-100-python/ into")
    parser.add_argument("--train", type=int, default=10000, help="training images kept (stratified)")
    parser.add_argument("--test", type=int, default=2000, help="test images kept (stratified)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    opt = parse_args(argv)
    source = os.path.join(opt.data_folder, "cifar-100-python")
    if not all(os.path.isfile(os.path.join(source, f)) for f in ("train", "test", "meta")):
        raise DatasetNotFoundError(f"CIFAR-100 not found at {source} (expected cifar-100-python/{{train,test,meta}})")
    target = os.path.join(opt.out, "cifar-100-python")
    os.makedirs(target, exist_ok=True)
    sizes = {name: subset_split(os.path.join(source, name), os.path.join(target, name), n, opt.seed + i)
             for i, (name, n) in enumerate((("train", opt.train), ("test", opt.test)))}
    shutil.copyfile(os.path.join(source, "meta"), os.path.join(target, "meta"))
    print(f"wrote {target}: {sizes['train']} train, {sizes['test']} test images")


if __name__ == "__main__":
    run_main(main)
