"""What every DA shares: the data facts (DAConfig), the view (AugmentedBatch), the base class
with its declared parameters, and the small helpers of the mixing DAs."""
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms.v2 import AutoAugmentPolicy

from helper.augment import torch_private
from helper.augment.params import Param, resolve
from helper.core.image_ops import crop_padding, random_derangement

GRANULARITIES = ("sample", "batch")
SCORERS = ("teacher", "student")
# cutmix_pick's bounds, for DAConfig and the command line alike: a pool of at least one cutmix run,
# and at least 2 views kept (a student in train mode cannot take BatchNorm statistics of one image).
MIN_MIX_N_RUN, MIN_N_PICK = 1, 2


@dataclass(frozen=True)
class DAConfig:
    """What a DA needs to know about the data; the derived sizes live here and only here.

    image_size: 32 for CIFAR and digits, 64 for Tiny ImageNet.
    granularity: "sample" (each image draws its own parameters) or "batch" (one draw for the
        whole batch, as the original code did).
    mix_n_run: cutmix runs that form cutmix_pick's pool (the paper: 2, a pool of 2B images).
    n_pick: images cutmix_pick keeps; None = the batch size.
    pick_by: whose entropy the plain name ``cutmix_pick`` picks by, "teacher" or "student"
        (train_student.py's --cutmix_pick_criterion).
    mean: the data set's per-channel mean in [0, 1] units (``ImageDataset.mean``); cutout paints
        it into the hole, which is the original code's 0 after normalisation. None paints 0
        (black) in pixel space.
    """
    image_size: int
    granularity: str = "sample"
    mix_n_run: int = 2
    n_pick: Optional[int] = None
    mean: Optional[Tuple[float, ...]] = None
    pick_by: str = "teacher"

    def __post_init__(self):
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"unknown granularity '{self.granularity}'; choose one of: "
                             f"{', '.join(GRANULARITIES)}")
        if self.image_size < 1:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        if self.mix_n_run < MIN_MIX_N_RUN:
            raise ValueError(f"mix_n_run must be >= {MIN_MIX_N_RUN}, got {self.mix_n_run}")
        if self.n_pick is not None and self.n_pick < MIN_N_PICK:
            raise ValueError(f"n_pick must be >= {MIN_N_PICK} or None, got {self.n_pick}")
        if self.pick_by not in SCORERS:
            raise ValueError(f"pick_by must be one of {', '.join(SCORERS)}, got {self.pick_by!r}")
        if self.mean is not None:
            object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))

    @property
    def per_sample(self) -> bool:
        return self.granularity == "sample"

    @property
    def pad(self) -> int:
        """Crop padding: 4 on 32x32 (CRD's RandomCrop(32, padding=4)), 8 on 64x64."""
        return crop_padding(self.image_size)

    @property
    def cutout_size(self) -> int:
        """Side of the cutout hole: 8 on CIFAR-100 (Cutout paper), 16 on Tiny ImageNet."""
        return self.image_size // 4

    @property
    def autoaugment_policy(self) -> AutoAugmentPolicy:
        """CIFAR10 policy on CIFAR-sized images, IMAGENET policy on Tiny ImageNet."""
        return AutoAugmentPolicy.CIFAR10 if self.image_size <= 32 else AutoAugmentPolicy.IMAGENET


@dataclass
class AugmentedBatch:
    """An augmented view of a batch, all tensors on the batch's device.

    x: (B', C, H, W) the view, dtype and range of the input.
    source: (B',) int64 index into the input batch of the image each view is made from.
    partner: (B',) int64 index of the image mixed in (== source where nothing was mixed).
    lam: (B',) float32 weight of ``source`` in the view (1.0 where nothing was mixed); for
        cutmix the pixel fraction that comes from ``source``.
    logits: the scorer's logits on ``x`` when the DA computed them (cutmix_pick), so that the
        caller can reuse them instead of a second forward pass.
    """
    x: Tensor
    source: Tensor
    partner: Tensor
    lam: Tensor
    logits: Optional[Tensor] = None


def unmixed(x: Tensor, view: Tensor) -> AugmentedBatch:
    """The view of a DA that draws each view from its own image only."""
    source = torch.arange(x.shape[0], device=x.device)
    return AugmentedBatch(view, source, source.clone(),
                          torch.ones(x.shape[0], dtype=torch.float32, device=x.device))


def cast_like(values: Tensor, like: Tensor) -> Tensor:
    """Float pixel values back to ``like``'s dtype: rounded and clamped for integer images."""
    if like.is_floating_point():
        return values.clamp_(0.0, 1.0).to(like.dtype)
    return values.round_().clamp_(0, 255).to(like.dtype)


def pixel_max(x: Tensor) -> float:
    """The value of a white pixel: 1.0 for float images, 255 for uint8."""
    return 1.0 if x.is_floating_point() else float(torch.iinfo(x.dtype).max)


def partners(b: int, generator, per_sample: bool, allow_self: bool) -> Tensor:
    """Mix partners: a random derangement (never the image itself) per sample; with batch
    granularity the original code's permutation (``randperm`` for mixup, which may pair an image
    with itself, a derangement for cutmix)."""
    if per_sample or not allow_self:
        return random_derangement(b, generator)
    return torch.randperm(b, generator=generator)


def sample_beta(n: int, alpha: float, generator, dtype=torch.float32) -> Tensor:
    """n draws of Beta(alpha, alpha) on the CPU. alpha = 1 is Uniform(0, 1), drawn as
    ``torch.rand`` so that the paper's mixup and cutmix keep their random streams."""
    if alpha == 1.0:
        return torch.rand(n, generator=generator, dtype=dtype)
    concentration = torch.full((n, 2), float(alpha), dtype=torch.float64)
    return torch_private.sample_dirichlet(concentration, generator)[:, 0].to(dtype)


def check_beta(alpha: float) -> None:
    """For a DA's constructor: stop while the flags are checked, not mid-run, where
    sample_beta(alpha) needs a private call that the installed torch release may lack."""
    if alpha != 1.0:
        torch_private.check_releases(f"{torch_private.SAMPLE_DIRICHLET} (alpha != 1)")


def softmax_entropy(logits: Tensor) -> Tensor:
    """Entropy (nats) of softmax(logits) at temperature 1, per row, in float32. Uses
    log_softmax, so a saturated softmax gives 0 instead of the NaN of p * log(p)."""
    logp = F.log_softmax(logits.float(), dim=1)
    return -(logp.exp() * logp).sum(dim=1)


def mixed_cross_entropy(logits: Tensor, y: Tensor, batch: AugmentedBatch) -> Tensor:
    """Mean over the views of lam * CE(logits, y[source]) + (1 - lam) * CE(logits, y[partner]),
    the CutMix label loss (the original's --lw_mix second weight), per sample."""
    lam = batch.lam.to(logits.dtype)
    per_view = (lam * F.cross_entropy(logits, y[batch.source], reduction="none")
                + (1 - lam) * F.cross_entropy(logits, y[batch.partner], reduction="none"))
    return per_view.mean()


class Augmentation:
    """A registered DA: ``da(x, generator, scorer=None) -> AugmentedBatch``.

    Subclasses declare ``params`` (their Param tuple) once; the constructor checks the given
    values against it and sets each as an attribute (``self.alpha``), defaults filled in.

    mixes: whether a view can hold pixels of two images (source != partner).
    scored_by: None, or whose logits the DA asks for ("teacher" / "student"); the caller then
        passes ``scorer``, a callable from images to that model's logits.
    view_logits: whether AugmentedBatch.logits holds the scorer's logits on the final views.
    takes_da: the DA wraps another one, given as the constructor's second argument (pick).
    """
    name: str = ""
    label: str = ""  # as tables print it
    params: Tuple[Param, ...] = ()
    mixes: bool = False
    scored_by: Optional[str] = None
    view_logits: bool = False
    takes_da: bool = False

    def __init__(self, config: DAConfig, **options: Any):
        self.config = config
        self.options: Dict[str, Any] = resolve(self.params, options, self.name)
        for key, value in self.options.items():
            setattr(self, key, value)

    @property
    def needs_scorer(self) -> bool:
        return self.scored_by is not None

    def __call__(self, x: Tensor, generator: Optional[torch.Generator] = None,
                 scorer: Optional[Callable[[Tensor], Tensor]] = None) -> AugmentedBatch:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r}, options={self.options}, config={self.config})"
