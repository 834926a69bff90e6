"""requirements.txt pins every direct dependency, and the lock (made by .ci/lock) agrees with it."""
import os
import re

from conftest import ROOT


def pins(name):
    """{normalised package name: version} of a requirements file; every line a comment or an == pin."""
    found = {}
    with open(os.path.join(ROOT, name)) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)", line)
                assert match, f"{name}: {line!r} is not an exact pin"
                key = re.sub(r"[-_.]+", "-", match.group(1)).lower()
                assert key not in found, f"{name}: {key} pinned twice"
                found[key] = match.group(2)
    return found


def test_the_lock_holds_every_pin_of_requirements():
    direct, lock = pins("requirements.txt"), pins("requirements-lock.txt")
    assert {"torch", "torchvision", "numpy", "pytest"} <= set(direct)
    assert {name: lock.get(name) for name in direct} == direct
