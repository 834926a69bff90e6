"""The stronger data augmentations (DAs), as a registry of batched, per-sample ops.

A DA maps a batch that is already standard-augmented (unnormalised pixels, uint8 or float in
[0, 1], any device) to its augmented view and says where each view came from::

    da = build_augmentation("cutmix(alpha=0.5)", DAConfig(image_size=32, mean=dataset.mean))
    view = da(x, generator)             # AugmentedBatch(x, source, partner, lam)
    y_view = view.source                # index into the batch of each view's image

Random parameters come from a CPU ``torch.Generator`` (small tensors of size B, moved to
``x.device``), so a seed reproduces everything and CPU and CUDA runs draw alike. With
``granularity="sample"`` (the default, the paper's intent) each image draws its own flip, crop
offset, cutout box, sub-policy, mix partner and ratio; ``granularity="batch"`` reproduces the
original code, where a torchvision transform applied to the 4-D batch, or one numpy draw,
served the whole batch.

Specs (helper/augment/spec.py): ``NAME``, ``NAME(param=value,...)``, ``pick(DA, n_run=2,
by=teacher|student)``, ``DA1+DA2``. Each DA class declares its ``params`` (helper/augment/
params.py) once; the parser, the help, the JSON records and the search space come from them.

Adding a DA: write ``helper/augment/<name>.py`` with an ``Augmentation`` subclass (``name``,
``label``, ``params``, ``__call__``), and add its line to ``AUGMENTATIONS``.

Facts from the original code (MingSun-Tse/Good-DA-in-KD, helper/loops.py, get_mixed_input,
mixup, cutmix, cutout, cutmix_pick; option.py; dataset/cifar100.py):
  * mixup, cutmix and cutout ran on the *normalised* batch. Mixing is affine with weights
    summing to 1, so it is the same in pixel space; cutout's hole of 0 after normalisation is
    the dataset mean in pixel space, which is what :class:`Cutout` paints (``DAConfig.mean``).
  * crop / flip / AutoAugment denormalised to uint8, applied torchvision's RandomCrop(padding,
    fill 0) / RandomHorizontalFlip / AutoAugment to the whole 4-D batch (one draw per batch),
    and normalised again.
"""
from typing import Any, Dict, Union

from helper.augment import (augmix, autoaugment, basic, cutout, erasing, fmix, gridmask, mix, pick, randaugment,
                            resizemix)
from helper.augment.autoaugment import AAParams, AutoAugmentDA
from helper.augment.base import (GRANULARITIES, SCORERS, Augmentation, AugmentedBatch, DAConfig, mixed_cross_entropy,
                                 softmax_entropy)
from helper.augment.mix import CutMix, Mixup
from helper.augment.params import Param
from helper.augment.pick import CutMixPick, Pick
from helper.augment.sequence import Sequence
from helper.augment.spec import SEQUENCE, DASpec, parse_spec, spec_record

# name: class, in the order tables list them
AUGMENTATIONS: Dict[str, type] = {
    "identity": basic.Identity,
    "flip": basic.Flip,
    "crop+flip": basic.CropFlip,
    "cutout": cutout.Cutout,
    "autoaugment": autoaugment.AutoAugmentDA,
    "mixup": mix.Mixup,
    "cutmix": mix.CutMix,
    "cutmix_pick": pick.CutMixPick,
    "cutmix_pick_S": pick.CutMixPickS,
    "cutmix_pick_T": pick.CutMixPickT,
    "pick": pick.Pick,
    "randaugment": randaugment.RandAugment,
    "trivialaugment": randaugment.TrivialAugmentWide,
    "augmix": augmix.AugMix,
    "random_erasing": erasing.RandomErasing,
    "gridmask": gridmask.GridMask,
    "fmix": fmix.FMix,
    "resizemix": resizemix.ResizeMix,
}



def standalone_names():
    """The registered DAs usable by name alone (not pick, which wraps one; not cutmix_pick,
    whose criterion is train_student.py's flag)."""
    return [n for n, cls in AUGMENTATIONS.items() if not cls.takes_da and n != "cutmix_pick"]


def parse_da(spec: Union[str, DASpec], flag: str = "--mix_mode") -> DASpec:
    """The parsed spec (UsageError, one line, for a malformed one)."""
    return spec if isinstance(spec, DASpec) else parse_spec(spec, AUGMENTATIONS, flag)


def canonical_da(spec: Union[str, DASpec], flag: str = "--mix_mode") -> str:
    """The spec's canonical text: the name records and tables use for it."""
    return parse_da(spec, flag).canonical


def da_record(spec: Union[str, DASpec]) -> Dict[str, Any]:
    """The spec with every parameter's value, for JSON records."""
    return spec_record(parse_da(spec), AUGMENTATIONS)


def search_space(name: str) -> Dict[str, Dict[str, Any]]:
    """{param: {"type", "default", "low", "high", "low_open" | "choices"}} of a registered DA."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown DA '{name}'; choose one of: {', '.join(AUGMENTATIONS)}")
    return {p.name: p.space() for p in AUGMENTATIONS[name].params}


def da_label(spec: str) -> str:
    """How tables print a DA: the registered label of a bare name, else the canonical spec;
    a text that is no spec (an old file's) as it is."""
    try:
        parsed = parse_da(spec)
    except ValueError:
        return spec
    return AUGMENTATIONS[parsed.name].label if parsed.canonical in AUGMENTATIONS else parsed.canonical


def da_help() -> str:
    """The --mix_mode help: the grammar, then every DA with its parameters."""
    entries = []
    for name, cls in AUGMENTATIONS.items():
        params = "; ".join(p.describe() for p in cls.params)
        entries.append(f"{name}({'DA, ' if cls.takes_da else ''}{params})" if cls.params else name)
    return ("a DA spec: NAME, NAME(param=value,...), pick(DA, n_run=2, by=teacher|student) "
            "(entropy picking), DA1+DA2 (in sequence). DAs: " + ", ".join(entries))


def build_augmentation(spec: Union[str, DASpec], config: DAConfig) -> Augmentation:
    """The DA a spec names (``"cutmix"``, ``"cutmix(alpha=0.5)"``, ``"pick(autoaugment)"``,
    ``"flip+cutout"``), configured by ``config``."""
    parsed = parse_da(spec, "DA")
    if parsed.name == SEQUENCE:
        return Sequence(config, [build_augmentation(p, config) for p in parsed.parts])
    cls = AUGMENTATIONS[parsed.name]
    inner = [build_augmentation(p, config) for p in parsed.parts]
    return cls(config, *inner, **dict(parsed.options))


__all__ = ["AUGMENTATIONS", "AAParams", "AugmentedBatch", "Augmentation", "AutoAugmentDA", "CutMix",
           "CutMixPick", "DAConfig", "DASpec", "GRANULARITIES", "Mixup", "Param", "Pick",
           "SCORERS", "SEQUENCE", "Sequence", "build_augmentation", "canonical_da", "da_help",
           "da_label", "da_record", "mixed_cross_entropy", "parse_da", "search_space", "softmax_entropy",
           "standalone_names"]
