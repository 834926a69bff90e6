"""The paper's goodness of a DA without training a student: T. stddev, the standard deviation
across groups of the teacher's mean probability (lower is better).

Consecutive groups of ``group_batches`` (5) batches of ``batch_size`` (64) standard-augmented
training images x, together with their stronger-DA views x', give 2 x 320 softmax vectors of the
teacher at temperature 1; per group their mean probability vector; T. stddev is the unbiased
(N - 1) standard deviation of that mean across groups, per class, averaged over the classes::

    schemes = build_schemes(["identity", "cutmix_pick_T"], DAConfig(32, mean=data.mean))
    settings = GoodnessSettings(n_groups=original_group_count(len(train), 64, 5))
    measured = measure_goodness(teacher, train, normalize, schemes, settings)
    table = summarize(measured, settings)  # {name: {"t_stddev", "ci95", "mean_entropy", "seconds"}}

Facts from the original code (MingSun-Tse/Good-DA-in-KD, helper/loops.py train_distill, the
``--utils.check_ce_var`` branch; train_student.py; scripts/T_stddev_different_DA_*.sh):
  * per training step it appended softmax(t(x)) and softmax(t(x')) to a list and closed a group
    once the list held 10 entries (5 steps); the group's mean is over all rows concatenated.
    The list lived across epochs (set up once in train_student.py), so groups span epoch
    boundaries; CRD's loader (shuffle, drop_last=False) gives 782 steps per CIFAR-100 epoch, the
    last of 16 images, and the scripts run 10 epochs: 7820 steps, 1564 groups.
  * the statistic is ``torch.stack(group_means).std(dim=0).mean()`` (unbiased, then the mean over
    classes); the teacher is in eval mode, and cutmix_pick_S scored with a frozen student in eval
    mode (--fix_student). Its MeanEntropy was a running mean over x and x'; ours is over x' only,
    since the x half is the same for every DA of a paired run.

Randomness: every stream has its own CPU generator seeded from the seed and the stream's *name*
(data order, standard DA, each DA's parameters), so a DA draws the same numbers whether it is
measured alone or with others, and a paired run shares the data order and the x half.
"""
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from helper.augment import PAPER_DAS, Augmentation, DAConfig, build_augmentation, parse_da, softmax_entropy
from helper.ce_covariance import ROW_METRICS, ce_covariance
from helper.distributed import Processes
from helper.errors import UsageError
from helper.loops import progress
from helper.performance import fastest_batch

PICK_BY_STUDENT = "cutmix_pick_S"
# The default list (any spec of the registry is accepted): the paper's DAs, the one that needs a
# student last.
DA_NAMES = tuple(n for n in PAPER_DAS if n != PICK_BY_STUDENT) + (PICK_BY_STUDENT,)
GROUPINGS = ("sample", "original")
METRICS = ("t_stddev",) + tuple(ROW_METRICS)  # T. stddev is always reported; the others on request
ORIGINAL_EPOCHS = 10  # the original scripts ran 10 epochs per DA


# ----------------------------------------------------------------------------- the statistic

def group_means(batch_sums: np.ndarray, batch_counts: np.ndarray, group_batches: int) -> np.ndarray:
    """Mean probability vector of each group of ``group_batches`` consecutive batches.

    batch_sums: (n_batches, C) sums of the softmax rows of each batch (x and x' together);
    batch_counts: (n_batches,) how many rows each sum holds. A group's mean is over its rows, as
    the original's mean over the concatenated rows (a short batch weighs less)."""
    sums = np.asarray(batch_sums, dtype=np.float64)
    counts = np.asarray(batch_counts, dtype=np.float64)
    n_groups = len(sums) // group_batches
    if n_groups * group_batches != len(sums) or len(counts) != len(sums):
        raise ValueError(f"{len(sums)} batch sums and {len(counts)} counts do not make whole "
                         f"groups of {group_batches} batches")
    sums = sums.reshape(n_groups, group_batches, -1).sum(axis=1)
    return sums / counts.reshape(n_groups, group_batches).sum(axis=1, keepdims=True)


def t_stddev(means: np.ndarray) -> float:
    """T. stddev of (n_groups, C) group means: unbiased std across groups, averaged over classes."""
    means = np.asarray(means, dtype=np.float64)
    if means.ndim != 2 or len(means) < 2:
        raise ValueError(f"T. stddev needs group means of shape (n_groups >= 2, C), got {means.shape}")
    return float(means.std(axis=0, ddof=1).mean())


def bootstrap_ci(means: np.ndarray, n_bootstrap: int = 1000, seed: int = 0,
                 level: float = 0.95) -> Tuple[float, float]:
    """Percentile bootstrap interval of :func:`t_stddev`, resampling whole groups with replacement.

    A resample is a vector of multiplicities w (how often each group is drawn), so its per-class
    variance is (w . d^2 - (w . d)^2 / n) / (n - 1) with d the centred means: a matrix product
    instead of n_bootstrap x n x C copies. The same seed draws the same resamples for every DA."""
    means = np.asarray(means, dtype=np.float64)
    n = len(means)
    if n < 2 or n_bootstrap < 1:
        raise ValueError(f"a bootstrap needs at least 2 groups and 1 resample, got {n} and {n_bootstrap}")
    centred = means - means.mean(axis=0)  # centring keeps the variance formula exact in float64
    weights = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap)
    first = weights @ centred
    variance = (weights @ centred ** 2 - first ** 2 / n) / (n - 1)
    stats = np.sqrt(np.clip(variance, 0.0, None)).mean(axis=1)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(stats, [tail, 100.0 - tail])
    return float(low), float(high)


def original_group_count(n: int, batch_size: int, group_batches: int,
                         epochs: int = ORIGINAL_EPOCHS) -> int:
    """Groups that ``epochs`` epochs of CRD's loader give (short last batch kept): 1564 for
    CIFAR-100's 50000 images in batches of 64 and groups of 5."""
    return epochs * -(-n // batch_size) // group_batches


# ----------------------------------------------------------------------------- which samples

def derived_generator(seed: int, *names: str) -> torch.Generator:
    """A CPU generator for one named stream of randomness: the seed and the names, not positions,
    fix it, so adding a DA to a run does not change what the others draw."""
    key = [seed] + [zlib.crc32(name.encode()) for name in names]
    return torch.Generator().manual_seed(int(np.random.SeedSequence(key).generate_state(1)[0]))


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


# Compute batches tried at start-up: 1 to 32 batches of --batch_size per teacher forward.
COMPUTE_BATCH_FACTORS = (1, 2, 4, 8, 16, 32)


def fastest_compute_batch(forward, split, batch_size: int, processes=Processes()):
    """The compute batch at which ``forward`` (uint8 training images -> logits) is fastest on this
    device, and the images per second of each size tried: on a CPU small batches keep the caches
    warm (64-128 beat 1024 by 2.5x for a resnet56), on a GPU large ones fill it."""
    sizes = [batch_size * k for k in COMPUTE_BATCH_FACTORS]
    # one batch, repeated: a streamed set would otherwise decode thousands of images for timing alone
    base = split.batch(torch.arange(min(batch_size, len(split))))[0]
    return fastest_batch(forward, lambda n: base[torch.arange(n) % len(base)], sizes, processes)


def planned_batches(n: int, settings: GoodnessSettings, stream: Sequence[str] = ()) -> List[Tensor]:
    """The index batches (CPU int64) a pass uses, in order; group g is batches g*G .. g*G+G-1.
    ``stream`` names an unpaired DA's own sequence; () is the paired runs' shared one."""
    if n < 1:
        raise ValueError("no training samples to group")
    make = sample_stream if settings.grouping == "sample" else epoch_stream
    generator = derived_generator(settings.seed, "data", *stream)
    return list(islice(make(n, settings.batch_size, generator), settings.n_batches))


# ----------------------------------------------------------------------------- the DAs

@dataclass(frozen=True)
class Scheme:
    """A DA to measure: its canonical spec (the name in the tables), the augmentation, and who
    scores its pool when it picks ("teacher", "student" or None)."""
    name: str
    augmentation: Augmentation
    scorer: Optional[str] = None

    @property
    def reuses_teacher_logits(self) -> bool:
        """The views come with the teacher's logits on them: no second forward."""
        return self.scorer == "teacher" and self.augmentation.view_logits


def scorer_of(name: str) -> Optional[str]:
    """Whose logits the DA ``name`` asks for: "teacher", "student" or None."""
    return build_augmentation(name, DAConfig(32)).scored_by


def check_da_names(names: Sequence[str], have_student: bool) -> List[str]:
    """The canonical specs of ``names``; refuses malformed specs, and a DA that picks by a
    student's entropy without a student to score with."""
    canonical = []
    for name in names:
        spec = parse_da(name, "DA")
        if not have_student and scorer_of(spec) == "student":
            raise UsageError(f"{spec} scores with a student's entropy: pass --path_s "
                             "(a student checkpoint), or leave it out of --mix_mode")
        canonical.append(spec.canonical)
    return canonical


def build_schemes(names: Sequence[str], config: DAConfig, have_student: bool = False) -> List[Scheme]:
    """The schemes called ``names`` (canonical specs; duplicates dropped, order kept)."""
    names = list(dict.fromkeys(check_da_names(names, have_student)))
    schemes = []
    for name in names:
        augmentation = build_augmentation(name, config)
        schemes.append(Scheme(name, augmentation, augmentation.scored_by))
    return schemes


# ----------------------------------------------------------------------------- the data pass

class ProbabilitySums:
    """Per-batch float64 sums of the teacher's softmax rows, kept per batch so that the way
    batches are concatenated for a forward pass cannot change any sum; and each row's teacher
    entropy and, when a student's logits are given, its cross-entropy -sum p_t log p_s (the
    per-sample values of the covariance metrics, helper/ce_covariance.py)."""

    def __init__(self):
        self._sums: List[Tensor] = []
        self._entropies: List[Tensor] = []
        self._cross_entropies: List[Tensor] = []
        self.counts: List[int] = []

    def add(self, logits: Tensor, sizes: List[int], student_logits: Optional[Tensor] = None) -> None:
        """The logits of consecutive batches of ``sizes`` rows, concatenated."""
        probs = logits.double().softmax(dim=1)
        self._sums.append(torch.stack([p.sum(dim=0) for p in probs.split(sizes)]))
        self._entropies.append(softmax_entropy(logits).double())
        if student_logits is not None:
            self._cross_entropies.append(-(probs * student_logits.double().log_softmax(dim=1)).sum(dim=1))
        self.counts.extend(sizes)

    def sums(self) -> np.ndarray:
        return torch.cat(self._sums).cpu().numpy()

    def mean_entropy(self) -> float:
        return float(torch.cat(self._entropies).sum()) / sum(self.counts)

    def head(self, n_batches: int) -> "ProbabilitySums":
        """The sums of the first ``n_batches`` batches alone."""
        first = ProbabilitySums()
        first.counts = self.counts[:n_batches]
        rows = sum(first.counts)
        first._sums = [torch.cat(self._sums)[:n_batches]]
        first._entropies = [torch.cat(self._entropies)[:rows]]
        first._cross_entropies = [torch.cat(self._cross_entropies)[:rows]] if self._cross_entropies else []
        return first

    def rows(self, kind: str) -> np.ndarray:
        """(n_batches, rows per batch) per-row values: "entropy" (the teacher's) or
        "cross_entropy" (teacher-student); every batch must hold as many rows."""
        found = {"entropy": self._entropies, "cross_entropy": self._cross_entropies}[kind]
        if not found:
            raise ValueError(f"no per-row {kind} was recorded (a student's logits are needed for it)")
        if len(set(self.counts)) != 1:
            raise UsageError("the covariance metrics need batches of one size: use --grouping sample")
        return torch.cat(found).cpu().numpy().reshape(len(self.counts), self.counts[0])


@dataclass
class DAMeasurement:
    """What one pass saw for one DA: the x half and the x' half, batch by batch."""
    name: str
    originals: ProbabilitySums
    views: ProbabilitySums = field(default_factory=ProbabilitySums)
    seconds: float = 0.0  # making the views and the teacher on them (the x half not included)

    def group_means(self, group_batches: int, n_groups: Optional[int] = None) -> np.ndarray:
        """The mean probability vector of each group, or of the first ``n_groups`` groups (a
        pass under way may hold part of the next group)."""
        end = None if n_groups is None else n_groups * group_batches
        sums = (self.originals.sums() + self.views.sums())[:end]
        counts = np.add(self.originals.counts, self.views.counts)[:end]
        return group_means(sums, counts, group_batches)

    def group_rows(self, kind: str, group_batches: int) -> np.ndarray:
        """(n_groups, values per group) per-row values of each group, the x rows of its batches
        then the x' rows (the covariance metrics do not depend on the order of the columns)."""
        halves = [m.rows(kind) for m in (self.originals, self.views)]
        n_groups = len(halves[0]) // group_batches
        return np.hstack([h[:n_groups * group_batches].reshape(n_groups, -1) for h in halves])


@dataclass
class GoodnessPass:
    measurements: Dict[str, DAMeasurement]
    originals_seconds: float  # batches, standard DA and the teacher on x, all streams together


@contextmanager
def _eval_mode(*models):
    states = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        yield
    finally:
        for m, state in zip(models, states):
            m.train(state)


class _Clock:
    """Wall time of a section; waits for the device so queued kernels count where they ran."""

    def __init__(self, device):
        self.cuda = torch.device(device).type == "cuda"

    def now(self):
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()


def _forwards(teacher, student, normalize, processes):
    """The models as scorers: images (pixel space) to logits, each forward split between the
    processes and gathered."""
    def forward(model):
        return lambda images: processes.gather(model(normalize(processes.shard(images))), len(images))
    return {"teacher": forward(teacher), "student": forward(student) if student is not None else None}


@torch.inference_mode()
def measure_goodness(teacher, split, normalize, schemes: Sequence[Scheme], settings: GoodnessSettings,
                     student=None, processes=Processes(), student_cross_entropy=False) -> GoodnessPass:
    """Run the teacher over the planned batches and their views for every scheme.

    split: a DeviceSplit of the training set (it applies the standard DA); normalize: the data
    set's Normalize. Teacher and student run in eval mode, without gradients. With
    several processes every process makes the same batches and views, and each forward is split
    between them and gathered, so the numbers are those of one process. student_cross_entropy:
    also run the student on x and x' and keep each row's teacher-student cross-entropy."""
    if (student_cross_entropy or any(s.scorer == "student" for s in schemes)) and student is None:
        raise ValueError("a DA that picks by the student's entropy, or the teacher-student cross-entropy, "
                         "needs the student model")
    models = [teacher] + ([student] if student is not None else [])
    scorers = _forwards(teacher, student, normalize, processes)
    measurements, originals_seconds = {}, 0.0
    with _eval_mode(*models):
        streams = [(list(schemes), ())] if settings.paired else [([s], (s.name,)) for s in schemes]
        for members, stream in streams:
            found, seconds = _measure_stream(split, members, settings, scorers, stream,
                                             processes.is_main, student_cross_entropy)
            measurements.update(found)
            originals_seconds += seconds
    return GoodnessPass(measurements, originals_seconds)


def _original_chunks(split, settings, stream=()):
    """The standard-augmented batches x of a stream as [0, 1] floats, in lists of
    ``batches_per_forward`` batches (one teacher forward each). The standard DA's generator is
    derived from the seed and the stream, so every replay gives the same x."""
    batches = planned_batches(len(split), settings, stream)
    generator = derived_generator(settings.seed, "standard", *stream)
    per_forward = settings.batches_per_forward
    standard = iter(split.global_batches(batches, generator))  # streamed sets decode ahead
    for i in range(0, len(batches), per_forward):
        # The DAs work per batch (partners and picks are within a batch) on [0, 1] floats, as
        # in training; the teacher runs on the whole chunk.
        yield [next(standard)[0].float().div_(255) for _ in batches[i:i + per_forward]]


def _chunk_count(settings):
    return -(-settings.n_batches // settings.batches_per_forward)


def _add_views(measurement, scheme, xs, generator, scorers, student_cross_entropy):
    """The scheme's views of one chunk of batches, and the teacher (and student) on them."""
    scorer = scorers[scheme.scorer] if scheme.scorer else None
    views = [scheme.augmentation(x, generator, scorer) for x in xs]
    images = torch.cat([v.x for v in views])
    if scheme.reuses_teacher_logits:  # the pick already ran the teacher on its pool
        logits = torch.cat([v.logits for v in views])
    else:
        logits = scorers["teacher"](images)
    student_logits = scorers["student"](images) if student_cross_entropy else None
    measurement.views.add(logits, [len(v.x) for v in views], student_logits)


def _measure_stream(split, schemes, settings, scorers, stream, show_progress=True, student_cross_entropy=False):
    """One sequence of batches shared by ``schemes``: the x half is computed once for all.
    scorers["teacher"] (and ["student"]) map images to logits."""
    teacher, student = scorers["teacher"], scorers["student"]
    clock = _Clock(split.device)
    da_generators = {s.name: derived_generator(settings.seed, "da", s.name) for s in schemes}
    originals = ProbabilitySums()
    found = {s.name: DAMeasurement(s.name, originals) for s in schemes}
    desc = "T. stddev" + (f" {stream[0]}" if stream else "")
    originals_seconds = 0.0
    chunks = _original_chunks(split, settings, stream)
    for xs in progress(chunks, desc, show_progress and _chunk_count(settings) > 1):
        start = clock.now()
        images = torch.cat(xs)
        originals.add(teacher(images), [len(x) for x in xs], student(images) if student_cross_entropy else None)
        originals_seconds += clock.now() - start
        for scheme in schemes:
            start = clock.now()
            _add_views(found[scheme.name], scheme, xs, da_generators[scheme.name], scorers, student_cross_entropy)
            found[scheme.name].seconds += clock.now() - start
    return found, originals_seconds


@torch.inference_mode()
def measure_originals(teacher, split, normalize, settings: GoodnessSettings,
                      processes=Processes()) -> ProbabilitySums:
    """The x half of a paired pass alone: the teacher on the shared batches of originals, to
    measure many DAs one at a time against it (:func:`measure_views`)."""
    scorers = _forwards(teacher, None, normalize, processes)
    originals = ProbabilitySums()
    with _eval_mode(teacher):
        for xs in _original_chunks(split, settings):
            originals.add(scorers["teacher"](torch.cat(xs)), [len(x) for x in xs])
    return originals


@torch.inference_mode()
def measure_views(teacher, split, normalize, scheme: Scheme, settings: GoodnessSettings,
                  originals: ProbabilitySums, processes=Processes(),
                  after_chunk: Optional[Callable[[int, Callable[[], DAMeasurement]], None]] = None
                  ) -> DAMeasurement:
    """One DA against the cached x half of :func:`measure_originals`: the same measurement as a
    paired :func:`measure_goodness` pass gives for it, without running the teacher on x again.
    The originals are made again (the standard DA only), since the views are made from them.
    after_chunk(batches done, measured) is called after every forward, measured() giving the
    measurement of the batches done so far; what it raises (a pruned trial) ends the pass."""
    if scheme.scorer == "student":
        raise ValueError(f"{scheme.name} picks by a student's entropy; measure_views scores with the teacher only")
    scorers = _forwards(teacher, None, normalize, processes)
    clock = _Clock(split.device)
    generator = derived_generator(settings.seed, "da", scheme.name)
    partial = DAMeasurement(scheme.name, ProbabilitySums())
    done = 0
    with _eval_mode(teacher):
        for xs in _original_chunks(split, settings):
            start = clock.now()
            _add_views(partial, scheme, xs, generator, scorers, False)
            partial.seconds += clock.now() - start
            done += len(xs)
            if after_chunk is not None:
                after_chunk(done, lambda: _with_originals(partial, originals, done))
    return _with_originals(partial, originals, done)


def _with_originals(partial: DAMeasurement, originals: ProbabilitySums, n_batches: int) -> DAMeasurement:
    """The views measured so far joined to the first ``n_batches`` batches of the originals."""
    head = originals.head(n_batches)
    return DAMeasurement(partial.name, head, partial.views, partial.seconds)


def summarize(measured: GoodnessPass, settings: GoodnessSettings, n_bootstrap: int = 1000,
              metrics: Sequence[str] = ()) -> Dict[str, dict]:
    """Each DA's T. stddev, its 95% bootstrap interval (the same resamples for every DA), the
    teacher's mean entropy on the views, the seconds its views took, and the covariance
    ``metrics`` asked for (names of ROW_METRICS)."""
    table = {}
    for name, m in measured.measurements.items():
        means = m.group_means(settings.group_batches)
        table[name] = {"t_stddev": t_stddev(means),
                       "ci95": list(bootstrap_ci(means, n_bootstrap, settings.seed)),
                       "mean_entropy": m.views.mean_entropy(), "seconds": m.seconds}
        for metric in metrics:
            if metric in ROW_METRICS:
                table[name][metric] = ce_covariance(m.group_rows(ROW_METRICS[metric][0], settings.group_batches))
    return table


def metrics_need_student(metrics: Sequence[str]) -> bool:
    return any(ROW_METRICS[m][1] for m in metrics if m in ROW_METRICS)
