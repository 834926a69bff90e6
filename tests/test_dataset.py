import os
import pickle
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, SHARED_DATA
from dataset import DATASETS, load_dataset, stratified_subset
from dataset.tinyimagenet import load_tinyimagenet
from helper.core.errors import DatasetNotFoundError
from fixtures_data import write_fake_cifar10, write_fake_cifar100, write_fake_tinyimagenet


def test_cifar100_reads_the_official_pickles(tmp_path):
    folder = write_fake_cifar100(str(tmp_path))
    data = load_dataset("cifar100", str(tmp_path))
    assert data.train_x.shape == (20, 3, 32, 32) and data.train_x.dtype == torch.uint8
    assert data.test_x.shape == (10, 3, 32, 32)
    assert data.train_y.dtype == torch.int64 and data.train_y.tolist() == [i % 5 for i in range(20)]
    assert data.classes == [f"class_{i}" for i in range(5)]
    with open(os.path.join(folder, "train"), "rb") as f:
        rows = pickle.load(f)["data"]
    # Rows are CHW: the first 1024 values are the red plane, row by row.
    assert data.train_x[3, 0, 1, 2].item() == rows[3, 32 + 2]
    assert data.train_x[3, 2, 31, 31].item() == rows[3, 3071]
    assert data.mean == pytest.approx((0.5071, 0.4867, 0.4408))


def test_cifar10_reads_the_five_batches(tmp_path):
    write_fake_cifar10(str(tmp_path))
    data = load_dataset("cifar10", str(tmp_path))
    assert data.train_x.shape == (20, 3, 32, 32) and data.test_x.shape == (4, 3, 32, 32)
    assert data.train_y.tolist() == [0, 1, 2, 3] * 5
    assert data.num_classes == 10


def test_tinyimagenet_decodes_converts_greyscale_and_caches(tmp_path):
    folder = write_fake_tinyimagenet(str(tmp_path))
    data = load_dataset("tinyimagenet", str(tmp_path))
    assert data.train_x.shape == (6, 3, 64, 64) and data.test_x.shape == (2, 3, 64, 64)
    # Classes in sorted wnid order, whatever the order of wnids.txt.
    assert data.classes == ["name of n001", "name of n002"]
    assert data.train_y.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.test_y.tolist() == [1, 0]  # in val_annotations.txt order
    # The greyscale validation images became three equal channels of value ~100.
    assert (data.test_x.float() - 100).abs().max() <= 2
    assert os.path.isfile(folder + ".uint8.pt")
    shutil.rmtree(os.path.join(folder, "train"))  # a second load must come from the cache alone
    again = load_dataset("tinyimagenet", str(tmp_path))
    assert torch.equal(again.train_x, data.train_x)


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, "tinyimagenet-sample")),
                    reason="the shared Tiny ImageNet sample is absent")
def test_tinyimagenet_real_sample(tmp_path):
    data = load_tinyimagenet(os.path.join(SHARED_DATA, "tinyimagenet-sample"),
                             cache=str(tmp_path / "cache.pt"))
    assert data.train_x.shape == (500, 3, 64, 64) and data.test_x.shape == (500, 3, 64, 64)
    assert data.num_classes == 10 and data.classes[0].startswith("goldfish")
    assert data.train_y.bincount().tolist() == [50] * 10
    assert data.test_y.bincount().tolist() == [50] * 10


def test_digits_is_a_fixed_stratified_split():
    data = load_dataset("digits")
    assert data.train_x.shape == (1437, 3, 32, 32) and data.test_x.shape == (360, 3, 32, 32)
    assert data.train_x.dtype == torch.uint8 and data.classes == [str(d) for d in range(10)]
    assert torch.equal(data.train_x[:, 0], data.train_x[:, 2])  # grey replicated to RGB
    counts = data.test_y.bincount()
    assert counts.min() >= 35 and counts.max() <= 37
    assert torch.equal(load_dataset("digits").test_y, data.test_y)


def test_stratified_subset_keeps_class_proportions_and_is_seeded():
    labels = torch.arange(10).repeat_interleave(50)
    idx = stratified_subset(labels, 100, seed=3)
    assert len(idx) == 100 and len(idx.unique()) == 100
    assert labels[idx].bincount().tolist() == [10] * 10
    assert torch.equal(idx, stratified_subset(labels, 100, seed=3))
    assert not torch.equal(idx, stratified_subset(labels, 100, seed=4))


def test_subset_seed_fixes_the_subsets_across_seeds_and_defaults_to_the_seed():
    import train_teacher
    from helper.data.device_data import load_device_data

    def subsets(*flags):
        opt = train_teacher.parse_args(["--dataset", "digits", "--train_subset", "100", "--test_subset", "50",
                                        *flags])
        data = load_device_data(opt, torch.device("cpu"))
        return data.train.x, data.test.x

    digits = load_dataset("digits")
    one = subsets("--seed", "1", "--subset_seed", "7")
    assert all(torch.equal(a, b) for a, b in zip(one, subsets("--seed", "2", "--subset_seed", "7")))
    assert torch.equal(one[0], digits.train_x[stratified_subset(digits.train_y, 100, 7)])
    assert torch.equal(one[1], digits.test_x[stratified_subset(digits.test_y, 50, 8)])
    # without --subset_seed the subsets follow --seed, as before the flag existed
    assert torch.equal(subsets("--seed", "2")[0], digits.train_x[stratified_subset(digits.train_y, 100, 2)])


def test_missing_cifar100_names_path_layout_and_flag(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("cifar100", str(tmp_path))
    message = str(err.value)
    assert os.path.join(str(tmp_path), "cifar-100-python") in message
    assert "train" in message and "meta" in message and "--download" in message


def test_missing_data_is_one_line_without_traceback(tmp_path):
    out = subprocess.run([sys.executable, "train_teacher.py", "--dataset", "cifar100",
                          "--data_folder", str(tmp_path / "nowhere"), "--model", "resnet8"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: CIFAR-100 not found at")


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(ValueError, match="choose one of: " + ", ".join(DATASETS)):
        load_dataset("imagenet21k")
