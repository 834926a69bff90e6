"""Which training samples a T. stddev pass sees, in which batches and groups, from which seeds.

Randomness: every stream has its own CPU generator seeded from the seed and the stream's *name*
(data order, standard DA, each DA's parameters), so a DA draws the same numbers whether it is
measured alone or with others, and a paired run shares the data order and the x half."""
from dataclasses import dataclass
from itertools import islice
from typing import Iterator, List, Sequence

import torch
from torch import Tensor

from helper.core.errors import UsageError
from helper.core.seeds import named_generator
from helper.goodness.statistic import PAPER_GROUPS, original_group_count

GROUPINGS = ("sample", "original")


def sample_stream(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Full batches from a stream of samples that runs epoch after epoch, a fresh permutation
    each epoch; a batch may straddle two epochs, so every group holds the same number of images."""
    pending = torch.empty(0, dtype=torch.long)
    while True:
        while len(pending) < batch_size:
            pending = torch.cat([pending, torch.randperm(n, generator=generator)])
        yield pending[:batch_size]
        pending = pending[batch_size:]


def epoch_stream(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """The original's batches: each epoch a fresh permutation split into batches, the last one
    short (CRD's loader keeps it, even of one image: nothing trains here)."""
    while True:
        yield from torch.randperm(n, generator=generator).split(batch_size)


@dataclass(frozen=True)
class GoodnessSettings:
    """How the training samples are grouped and computed (see the module docstring).

    grouping: "sample" (every batch full, groups defined on samples) or "original" (per-epoch
        batches with CRD's short last batch, groups across epoch boundaries).
    paired: all DAs see the same batches of x, whose teacher outputs are computed once;
        False gives each DA its own batch sequence and its own x half.
    compute_batch: at most this many images per teacher forward (whole batches concatenated);
        grouping is on samples, so it changes speed, never the numbers.
    """
    n_groups: int
    group_batches: int = 5
    batch_size: int = 64
    compute_batch: int = 1024
    grouping: str = "sample"
    paired: bool = True
    seed: int = 0

    def __post_init__(self):
        if self.grouping not in GROUPINGS:
            raise UsageError(f"unknown grouping '{self.grouping}'; choose one of: {', '.join(GROUPINGS)}")
        if self.n_groups < 2:
            raise UsageError(f"--n_groups must be at least 2 (a standard deviation across groups), "
                             f"got {self.n_groups}")
        for name in ("group_batches", "batch_size", "compute_batch"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be positive, got {getattr(self, name)}")
        if self.seed < 0:
            raise UsageError(f"--seed must be >= 0, got {self.seed}")

    @property
    def n_batches(self) -> int:
        return self.n_groups * self.group_batches

    @property
    def batches_per_forward(self) -> int:
        return max(1, self.compute_batch // self.batch_size)


def planned_batches(n: int, settings: GoodnessSettings, stream: Sequence[str] = ()) -> List[Tensor]:
    """The index batches (CPU int64) a pass uses, in order; group g is batches g*G .. g*G+G-1.
    ``stream`` names an unpaired DA's own sequence; () is the paired runs' shared one."""
    if n < 1:
        raise ValueError("no training samples to group")
    make = sample_stream if settings.grouping == "sample" else epoch_stream
    generator = named_generator(settings.seed, "data", *stream)
    return list(islice(make(n, settings.batch_size, generator), settings.n_batches))


def default_group_count(n: int, batch_size: int, group_batches: int, streamed: bool) -> int:
    """As many groups as the original's 10 epochs give; on a streamed set at most PAPER_GROUPS:
    the 10 epochs would be 40,037 groups on ImageNet-1K, and 1564 groups (500,480 images) keep
    the 95% interval within a few percent of the value at 1/25 of the cost."""
    groups = original_group_count(n, batch_size, group_batches)
    return min(groups, PAPER_GROUPS) if streamed else groups
