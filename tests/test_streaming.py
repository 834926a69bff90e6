"""Streamed ImageFolder data sets on the real Tiny ImageNet JPEG sample: layout errors, decoding,
determinism across workers, corrupt files, and train / distil / T. stddev end to end."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from conftest import ROOT, SINGLE_THREAD_ENV
from fixtures_folder import GREYSCALE, make_image_folder, sample_available

from dataset import load_dataset
from dataset.jpeg import decode
from helper.cli.script import run_main
from helper.core.seeds import make_generators
from helper.data.device_data import DeviceData

pytestmark = pytest.mark.skipif(not sample_available(), reason="Tiny ImageNet sample not present")
CPU = torch.device("cpu")
SMALL = ["--dataset", "imagefolder", "--image_size", "32", "--num_workers", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_image_folder(str(tmp_path_factory.mktemp("data") / "tree"))


def device_data(root, workers=0, size=32):
    return DeviceData(load_dataset("imagefolder", root).resized(size), CPU, num_workers=workers)


def user_error(main, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, argv)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert len(err.splitlines()) == 1, err
    return err


def test_layout_classes_are_train_folders_and_val_uses_their_numbers(tmp_path):
    root = make_image_folder(str(tmp_path / "t"), n_classes=3, train_per_class=2, val_per_class=1)
    os.rename(os.path.join(root, "val", sorted(os.listdir(os.path.join(root, "val")))[0]),
              os.path.join(tmp_path, "moved"))  # val lacks class 0
    data = load_dataset("imagefolder", root)
    assert data.classes == sorted(os.listdir(os.path.join(root, "train")))
    assert data.train.labels.tolist() == [0, 0, 0, 1, 1, 2, 2]  # class 0 holds the greyscale extra
    assert data.test.labels.tolist() == [1, 2]


@pytest.mark.parametrize("damage, message", [("empty_class", "holds no image"),
                                             ("val_only_class", "classes that train does not have")])
def test_layout_errors_are_one_line(tmp_path, capsys, damage, message):
    import train_teacher
    root = make_image_folder(str(tmp_path / "t"), n_classes=2, train_per_class=2, val_per_class=1)
    os.makedirs(os.path.join(root, "train" if damage == "empty_class" else "val", "n99999999"))
    # --lr_decay_epochs: the scaled default of 1 epoch would add a note to the one line of stderr
    err = user_error(train_teacher.main, SMALL + ["--data_folder", root, "--epochs", "1", "--lr_decay_epochs", "1"],
                     capsys)
    assert message in err and "n99999999" in err


def test_missing_imagenet_names_the_expected_layout(tmp_path, capsys):
    import train_teacher
    err = user_error(train_teacher.main, ["--dataset", "imagenet100", "--data_folder", str(tmp_path)], capsys)
    assert os.path.join(str(tmp_path), "imagenet100") in err and "make_imagenet100.py" in err


def test_test_view_is_resize_then_center_crop_and_greyscale_becomes_rgb():
    # at 56 the 64x64 image is resized to 64 * 256/224 / (64/56) = 64: the test view is a pure crop
    ours = decode(GREYSCALE, 56).astype(int)
    reference = transforms.Compose([transforms.Resize(64), transforms.CenterCrop(56)])
    theirs = np.asarray(reference(Image.open(GREYSCALE).convert("RGB"))).astype(int)
    assert ours.shape == (56, 56, 3) and (ours[..., 0] == ours[..., 2]).all()
    assert np.abs(ours - theirs).max() <= 1


def test_train_crops_follow_the_seed_not_the_workers(tree):
    generators = [make_generators(3), make_generators(3)]
    one = list(device_data(tree, workers=0).train.epoch(5, generators[0]))
    two = list(device_data(tree, workers=2).train.epoch(5, generators[1]))
    assert len(one) == len(two) == 5  # 25 images
    for (x1, y1, i1), (x2, y2, i2) in zip(one, two):
        assert x1.dtype == torch.uint8 and x1.shape == (5, 3, 32, 32)
        assert torch.equal(x1, x2) and torch.equal(y1, y2) and torch.equal(i1, i2)
    # each image its own crop: a different epoch seed gives different pixels for the same files
    other = list(device_data(tree).train.epoch(5, make_generators(4)))
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(one, other))


def test_batch_decodes_the_asked_indices_with_their_labels(tree):
    split = device_data(tree).test
    images, target, index = split.batch(torch.tensor([5, 0]))
    assert target.tolist() == [split.labels[5].item(), split.labels[0].item()] and index.tolist() == [5, 0]
    assert torch.equal(images[1], split.probe(1)[0])


def test_corrupt_jpeg_is_one_line_naming_the_file_without_hanging(tmp_path):
    root = make_image_folder(str(tmp_path / "t"), n_classes=2, train_per_class=4, val_per_class=1)
    bad = os.path.join(root, "train", sorted(os.listdir(os.path.join(root, "train")))[1], "broken.JPEG")
    with open(GREYSCALE, "rb") as f:
        head = f.read(300)  # a JPEG header cut short
    with open(bad, "wb") as f:
        f.write(head)
    cmd = [sys.executable, os.path.join(ROOT, "train_teacher.py"), *SMALL, "--num_workers", "2",
           "--data_folder", root, "--model", "resnet8", "--epochs", "1", "--batch_size", "4",
           "--model_path", str(tmp_path / "save")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=SINGLE_THREAD_ENV, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: cannot decode image") and bad in lines[-1], done.stderr
    assert not any("Traceback" in line for line in lines)


def test_train_distil_and_score_on_real_jpegs(tree, tmp_path, capsys):
    import eval_da_goodness
    import train_student
    import train_teacher
    common = SMALL + ["--data_folder", tree, "--batch_size", "8"]
    teacher = train_teacher.main(common + ["--model", "resnet8", "--epochs", "2",
                                           "--model_path", str(tmp_path / "t")])
    assert teacher["dataset"] == "imagefolder" and teacher["num_classes"] == 4
    ckpt = next((tmp_path / "t").glob("*/last.pth"))
    student = train_student.main(common + ["--path_t", str(ckpt), "--model_s", "resnet8", "--epochs", "1",
                                           "--distill", "crd", "--nce_k", "8", "-r", "0.1", "-a", "0.9",
                                           "-b", "0.8", "--lw_mix", "[1,0,1]", "--mix_mode", "cutmix_pick",
                                           "--model_path", str(tmp_path / "s")])
    assert np.isfinite(student["last_test_loss"])
    assert "top-5" in capsys.readouterr().out
    out = tmp_path / "g.json"
    record = eval_da_goodness.main(common + ["--path_t", str(ckpt), "--n_groups", "3", "--batch_size", "4",
                                             "--group_batches", "2", "--mix_mode", "identity", "cutout",
                                             "--out", str(out)])
    assert set(json.loads(out.read_text())["results"]) == {"identity", "cutout"}
    assert record["train_size"] == 25 and all(r["t_stddev"] > 0 for r in record["results"].values())
