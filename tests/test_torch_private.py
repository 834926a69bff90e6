"""The private torch/torchvision calls: one module, the releases it serves are the pins, and on
other releases the DAs that need it stop a script in one line while the others keep working."""
import os
import re

import pytest
import torch

import train_student
from conftest import ROOT, one_line_error
from helper.augment import DAConfig, build_augmentation, standalone_names, torch_private

OTHER_RELEASES = {"torch": "2.13.0+cpu", "torchvision": "0.28.0"}
PINNED_TAIL = ("written for torch 2.14.1 and torchvision 0.29.1, but torch 2.13.0+cpu and torchvision 0.28.0 are "
               "installed; install the pinned releases: pip install -r requirements-lock.txt")
# each DA that needs a private call: the call its construction checks first
PRIVATE_DAS = {"autoaugment": "torchvision's AutoAugment._policies",
               "randaugment": "torchvision's RandAugment._AUGMENTATION_SPACE",
               "trivialaugment": "torchvision's TrivialAugmentWide._AUGMENTATION_SPACE",
               "augmix": "torchvision's AugMix._AUGMENTATION_SPACE",
               "mixup(alpha=0.5)": "torch._sample_dirichlet (alpha != 1)",
               "cutmix(alpha=0.5)": "torch._sample_dirichlet (alpha != 1)",
               "fmix(alpha=0.5)": "torch._sample_dirichlet (alpha != 1)"}


@pytest.fixture
def other_releases(monkeypatch):
    monkeypatch.setattr(torch_private, "MISMATCH", torch_private.mismatch(OTHER_RELEASES))


def test_written_for_is_the_pins_of_requirements():
    with open(os.path.join(ROOT, "requirements.txt")) as f:
        pins = dict(re.findall(r"^(torch|torchvision)==(\S+)$", f.read(), flags=re.MULTILINE))
    assert pins == torch_private.WRITTEN_FOR


def test_local_build_labels_are_the_same_release():
    assert torch_private.mismatch({"torch": "2.14.1+cu130", "torchvision": "0.29.1+cpu"}) is None
    assert torch_private.mismatch({"torch": "2.14.1", "torchvision": "0.29.1"}) is None
    assert torch_private.mismatch({"torch": "2.14.10", "torchvision": "0.29.1"}) is not None
    assert torch_private.mismatch({"torch": "2.14.1", "torchvision": "0.29.0+cpu"}) is not None


@pytest.mark.parametrize("spec", PRIVATE_DAS)
def test_other_releases_stop_a_script_in_one_line(capsys, other_releases, spec):
    line = one_line_error(capsys, train_student.main, ["--path_t", "x.pth", "--mix_mode", spec])
    assert line == f"error: this DA uses {PRIVATE_DAS[spec]}, {PINNED_TAIL}"


def scorer(x):
    m = x.float().mean(dim=(2, 3))
    return torch.stack([m[:, 0], 2 * m[:, 1], m[:, 2]], dim=1)


def test_the_other_das_keep_working_on_other_releases(monkeypatch):
    x = torch.randint(0, 256, (6, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    names = [n for n in standalone_names() if n not in PRIVATE_DAS]
    assert {"identity", "mixup", "cutmix", "cutmix_pick_T", "cutout", "fmix"} <= set(names)
    for name in names:
        pinned = build_augmentation(name, DAConfig(32))(x, torch.Generator().manual_seed(1), scorer)
        with monkeypatch.context() as patch:
            patch.setattr(torch_private, "MISMATCH", torch_private.mismatch(OTHER_RELEASES))
            other = build_augmentation(name, DAConfig(32))(x, torch.Generator().manual_seed(1), scorer)
        assert torch.equal(other.x, pinned.x) and torch.equal(other.source, pinned.source), name


def test_no_other_module_touches_a_private_torch_name():
    private = re.compile(r"\b(?:torch|torchvision|v2|TF)(?:\.\w+)*\._[A-Za-z]|\b_geometry\b|_AUGMENTATION_SPACE"
                         r"|\._policies\b")
    offenders = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("tests", "save", "data", "__pycache__")]
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(".py") and path != torch_private.__file__:
                with open(path) as f:
                    offenders += [f"{path}:{i}" for i, line in enumerate(f, 1) if private.search(line)]
    assert offenders == []
