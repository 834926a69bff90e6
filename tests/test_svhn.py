"""SVHN from torchvision's .mat layout: pixel order, the label 10 of digit 0, missing files."""
import numpy as np
import pytest
import torch
from scipy.io import savemat

from dataset import load_dataset
from helper.core.errors import DatasetNotFoundError


def write_fake_svhn(root, n_train=10, n_test=4):
    folder = root / "svhn"
    folder.mkdir()
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(-1, 1)  # 1..10, 10 standing for the digit 0
        savemat(folder / f"{split}_32x32.mat", {"X": x, "y": y})
        arrays[split] = (x, y)
    return arrays


def test_svhn_reads_mat_files_channels_first_with_zero_for_ten(tmp_path):
    arrays = write_fake_svhn(tmp_path)
    data = load_dataset("svhn", str(tmp_path))
    x, y = arrays["train"]
    assert data.train_x.shape == (10, 3, 32, 32) and data.train_x.dtype == torch.uint8
    assert np.array_equal(data.train_x[2].permute(1, 2, 0).numpy(), x[..., 2])
    assert data.train_y.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    assert data.test_y.tolist() == [1, 2, 3, 4] and data.num_classes == 10 and data.image_size == 32


def test_missing_svhn_names_the_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="train_32x32.mat"):
        load_dataset("svhn", str(tmp_path))
