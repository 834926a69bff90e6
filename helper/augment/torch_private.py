"""Every private torch and torchvision call of the code base, behind small public wrappers.

torch has no public Dirichlet (or Beta) sampler that takes a generator, and torchvision keeps its
auto-augment op tables and its affine-grid helpers private; the DAs use them to reproduce
torchvision's transforms bit for bit. A private name may change in any release, so these
wrappers serve only the releases they were written for (WRITTEN_FOR, the pins of
requirements.txt). The installed releases are checked once, at import; on others each wrapper
raises a one-line UsageError when called, and the DAs call them while being built, so a script
stops while it checks its flags and the DAs that need no private call keep working.
"""
from typing import Dict, List, Optional

import torch
import torchvision
from torchvision.transforms import v2

from helper.core.errors import UsageError

WRITTEN_FOR = {"torch": "2.14.1", "torchvision": "0.29.1"}
SAMPLE_DIRICHLET = "torch._sample_dirichlet"


def release(version: str) -> str:
    """A version without its local build label: '2.14.1+cu130' -> '2.14.1'."""
    return str(version).split("+")[0]


def mismatch(installed: Dict[str, str]) -> Optional[str]:
    """The end of the error for these installed releases; None where they are WRITTEN_FOR."""
    if all(release(installed[name]) == wanted for name, wanted in WRITTEN_FOR.items()):
        return None
    return (f"written for torch {WRITTEN_FOR['torch']} and torchvision {WRITTEN_FOR['torchvision']}, but torch "
            f"{installed['torch']} and torchvision {installed['torchvision']} are installed; install the pinned "
            f"releases: pip install -r requirements-lock.txt")


MISMATCH = mismatch({"torch": torch.__version__, "torchvision": torchvision.__version__})


def _geometry():
    """torchvision's private geometry kernels' module, imported only after the release check:
    on other releases it may not exist."""
    from torchvision.transforms.v2.functional import _geometry as geometry
    return geometry


def check_releases(private_name: str) -> None:
    """Raise the one-line UsageError where the installed releases are not WRITTEN_FOR."""
    if MISMATCH is not None:
        raise UsageError(f"this DA uses {private_name}, {MISMATCH}")


def sample_dirichlet(concentration: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """Dirichlet draws, one per row of ``concentration``, from ``generator``."""
    check_releases(SAMPLE_DIRICHLET)
    return torch._sample_dirichlet(concentration, generator=generator)


def augmentation_space(transform: type) -> dict:
    """A torchvision auto-augment transform class's op table: op name -> (magnitudes_fn(num_bins,
    height, width), signed)."""
    check_releases(f"torchvision's {transform.__name__}._AUGMENTATION_SPACE")
    return transform._AUGMENTATION_SPACE


def autoaugment_policies(policy: v2.AutoAugmentPolicy) -> List:
    """The sub-policies of torchvision's AutoAugment: per sub-policy two (op, probability, bin)."""
    check_releases("torchvision's AutoAugment._policies")
    return v2.AutoAugment(policy)._policies


def inverse_affine_matrix(center: List[float], angle: float, translate: List[float], scale: float,
                          shear: List[float]) -> List[float]:
    """torchvision's affine kernel's inverse matrix (6 floats) for these arguments."""
    check_releases("torchvision's _geometry._get_inverse_affine_matrix")
    return _geometry()._get_inverse_affine_matrix(center, angle, translate, scale, shear)


def affine_parse_args(angle, translate, scale, shear, interpolation, center):
    """torchvision's affine kernel's normalised (angle, translate, shear, center)."""
    check_releases("torchvision's _geometry._affine_parse_args")
    return _geometry()._affine_parse_args(angle, translate, scale, shear, interpolation, center)


def affine_grid(theta: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """torchvision's affine kernel's (1, H, W, 2) sampling grid for the (1, 2, 3) matrix theta,
    output the size of the input."""
    check_releases("torchvision's _geometry._affine_grid")
    return _geometry()._affine_grid(theta, w=width, h=height, ow=width, oh=height)
