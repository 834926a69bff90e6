"""scripts/make_imagenet100.py: symlinked class folders that load as ImageNet100, the shipped list."""
import os
import re
import sys
import zipfile

import pytest

from conftest import ROOT
from fixtures_folder import make_image_folder, sample_available

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import make_imagenet100  # noqa: E402

from dataset import load_dataset  # noqa: E402


def test_shipped_list_is_100_distinct_wnids():
    classes = make_imagenet100.read_classes(make_imagenet100.DEFAULT_CLASSES)
    assert len(classes) == 100 == len(set(classes)) and classes == sorted(classes)
    assert all(re.fullmatch(r"n\d{8}", c) for c in classes)


def test_reads_the_class_folders_of_the_original_repositorys_zip(tmp_path):
    path = tmp_path / "imagenet100.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("subset_0.npy", b"")
        for wnid in ("n02840245", "n01440764"):
            archive.writestr(f"subset_0/train/{wnid}/", b"")
    assert make_imagenet100.read_classes(str(path)) == ["n01440764", "n02840245"]


def test_draw_is_fixed_by_the_seed():
    names = [f"n{i:08d}" for i in range(1000)]
    assert make_imagenet100.draw_classes(names, 100, 5) == make_imagenet100.draw_classes(names[::-1], 100, 5)
    assert make_imagenet100.draw_classes(names, 100, 5) != make_imagenet100.draw_classes(names, 100, 6)


@pytest.mark.skipif(not sample_available(), reason="Tiny ImageNet sample not present")
def test_builds_a_symlinked_tree_that_loads_with_the_listed_classes(tmp_path, capsys):
    full = make_image_folder(str(tmp_path / "imagenet"), n_classes=4, train_per_class=2, val_per_class=1)
    chosen = sorted(os.listdir(os.path.join(full, "train")))[1:3]
    listing = tmp_path / "classes.txt"
    listing.write_text("# two classes\n" + "\n".join(chosen) + "\n")
    out = tmp_path / "data" / "imagenet100"
    make_imagenet100.main(["--imagenet", full, "--out", str(out), "--classes", str(listing)])
    assert all(os.path.islink(out / split / c) for split in ("train", "val") for c in chosen)
    data = load_dataset("imagefolder", str(out))
    assert data.classes == chosen and len(data.train) == 4 and len(data.test) == 2
    listing.write_text("n00000001\n")
    with pytest.raises(SystemExit) as exit_info:
        make_imagenet100.main(["--imagenet", full, "--out", str(tmp_path / "other"), "--classes", str(listing)])
    assert exit_info.value.code == 2 and "n00000001" in capsys.readouterr().err
