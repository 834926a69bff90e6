"""The paper's goodness of a DA without training a student: T. stddev, the standard deviation
across groups of the teacher's mean probability (lower is better).

Consecutive groups of ``group_batches`` (5) batches of ``batch_size`` (64) standard-augmented
training images x, together with their stronger-DA views x', give 2 x 320 softmax vectors of the
teacher at temperature 1; per group their mean probability vector; T. stddev is the unbiased
(N - 1) standard deviation of that mean across groups, per class, averaged over the classes::

    schemes = build_schemes(["identity", "cutmix_pick_T"], DAConfig(32, mean=data.mean))  # schemes.py
    settings = GoodnessSettings(n_groups=original_group_count(len(train), 64, 5))   # plan.py
    measured = measure_goodness(teacher, train, normalize, schemes, settings)
    table = summarize(measured, settings)  # report.py; {name: {"t_stddev", "ci95", "mean_entropy", "seconds"}}

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
"""
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from helper.augment import softmax_entropy
from helper.core.errors import UsageError
from helper.core.modes import eval_mode
from helper.core.processes import Processes
from helper.core.progress import progress
from helper.core.seeds import named_generator
from helper.goodness.plan import GoodnessSettings, planned_batches
from helper.goodness.schemes import Scheme
from helper.goodness.statistic import group_means


class ProbabilitySums:
    """Per-batch float64 sums of the teacher's softmax rows, kept per batch so that the way
    batches are concatenated for a forward pass cannot change any sum; and each row's teacher
    entropy and, when a student's logits are given, its cross-entropy -sum p_t log p_s (the
    per-sample values of the covariance metrics, helper/goodness/ce_covariance.py)."""

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

    def head(self, n_batches: int) -> "DAMeasurement":
        """The measurement of the first ``n_batches`` batches alone."""
        return DAMeasurement(self.name, self.originals.head(n_batches), self.views.head(n_batches), self.seconds)

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
                     student=None, processes=Processes(), student_cross_entropy=False,
                     stop: Optional[Callable[[int, Dict[str, DAMeasurement]], bool]] = None) -> GoodnessPass:
    """Run the teacher over the planned batches and their views for every scheme.

    split: a DeviceSplit of the training set (it applies the standard DA); normalize: the data
    set's Normalize. Teacher and student run in eval mode, without gradients. With
    several processes every process makes the same batches and views, and each forward is split
    between them and gathered, so the numbers are those of one process. student_cross_entropy:
    also run the student on x and x' and keep each row's teacher-student cross-entropy.
    stop(batches done, measurements so far): called after every forward of a paired pass; True
    ends the pass there (the sequential pass, helper/goodness/sequential.py)."""
    if stop is not None and not settings.paired:
        raise ValueError("a pass that stops early compares DAs on the same batches: it must be paired")
    if (student_cross_entropy or any(s.scorer == "student" for s in schemes)) and student is None:
        raise ValueError("a DA that picks by the student's entropy, or the teacher-student cross-entropy, "
                         "needs the student model")
    models = [teacher] + ([student] if student is not None else [])
    scorers = _forwards(teacher, student, normalize, processes)
    measurements, originals_seconds = {}, 0.0
    with eval_mode(*models):
        streams = [(list(schemes), ())] if settings.paired else [([s], (s.name,)) for s in schemes]
        for members, stream in streams:
            found, seconds = _measure_stream(split, members, settings, scorers, stream,
                                             processes.is_main, student_cross_entropy, stop)
            measurements.update(found)
            originals_seconds += seconds
    return GoodnessPass(measurements, originals_seconds)


def _original_chunks(split, settings, stream=()):
    """The standard-augmented batches x of a stream as [0, 1] floats, in lists of
    ``batches_per_forward`` batches (one teacher forward each). The standard DA's generator is
    derived from the seed and the stream, so every replay gives the same x."""
    batches = planned_batches(len(split), settings, stream)
    generator = named_generator(settings.seed, "standard", *stream)
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


def _measure_stream(split, schemes, settings, scorers, stream, show_progress=True, student_cross_entropy=False,
                    stop=None):
    """One sequence of batches shared by ``schemes``: the x half is computed once for all.
    scorers["teacher"] (and ["student"]) map images to logits."""
    teacher, student = scorers["teacher"], scorers["student"]
    clock = _Clock(split.device)
    da_generators = {s.name: named_generator(settings.seed, "da", s.name) for s in schemes}
    originals = ProbabilitySums()
    found = {s.name: DAMeasurement(s.name, originals) for s in schemes}
    desc = "T. stddev" + (f" {stream[0]}" if stream else "")
    originals_seconds = 0.0
    chunks = _original_chunks(split, settings, stream)
    done = 0
    for xs in progress(chunks, desc, show_progress and _chunk_count(settings) > 1):
        start = clock.now()
        images = torch.cat(xs)
        originals.add(teacher(images), [len(x) for x in xs], student(images) if student_cross_entropy else None)
        originals_seconds += clock.now() - start
        for scheme in schemes:
            start = clock.now()
            _add_views(found[scheme.name], scheme, xs, da_generators[scheme.name], scorers, student_cross_entropy)
            found[scheme.name].seconds += clock.now() - start
        done += len(xs)
        if stop is not None and stop(done, found):
            break
    return found, originals_seconds


@torch.inference_mode()
def measure_originals(teacher, split, normalize, settings: GoodnessSettings,
                      processes=Processes()) -> ProbabilitySums:
    """The x half of a paired pass alone: the teacher on the shared batches of originals, to
    measure many DAs one at a time against it (:func:`measure_views`)."""
    scorers = _forwards(teacher, None, normalize, processes)
    originals = ProbabilitySums()
    with eval_mode(teacher):
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
    generator = named_generator(settings.seed, "da", scheme.name)
    partial = DAMeasurement(scheme.name, ProbabilitySums())
    done = 0
    with eval_mode(teacher):
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
