"""The pass that stops when the order of the DAs is known: groups come in rounds, and after each
round (a look) the paired differences decide whether to go on.

The looks are planned before the first group, since their number enters the level of every
interval (helper/goodness/paired.py, ErrorControl): they double, anchored at a fifth of the
budget (the paper's 1564 groups on CIFAR-100 give 19, 39, 78, 156, 312, 625, 1251, 1564), the
first with at least MIN_LOOK_GROUPS groups, the last at the budget. The pass stops at the first
look where every two neighbours of the order are resolved (lower or a tie), else at the budget.
The batches are those of a fixed pass of the budget's size, measured once: the pass stopped after
k groups holds exactly the numbers of ``--n_groups k``.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

from helper.goodness.measurement import DAMeasurement, GoodnessPass, measure_goodness
from helper.goodness.paired import TIE_MARGIN, ErrorControl, order_resolved, verdict_counts
from helper.goodness.plan import GoodnessSettings
from helper.goodness.report import t_stddev_pairs

# Fewer groups give too rough a standard error for the normal interval (tests/test_sequential.py
# checks the coverage from the first look on).
MIN_LOOK_GROUPS = 16
# The anchor look: a fifth of the budget, the cost the pass aims at (5x fewer teacher forwards).
ANCHOR_FRACTION = 5


def planned_looks(max_groups: int) -> List[int]:
    """Group counts of the looks: doubling, anchored at max_groups / 5, from MIN_LOOK_GROUPS on,
    the last at max_groups."""
    anchor = max_groups / ANCHOR_FRACTION
    looks = {int(anchor * 2.0 ** k) for k in range(-64, 4)}
    return sorted(g for g in looks if MIN_LOOK_GROUPS <= g < max_groups) + [max_groups]


@dataclass
class SequentialResult:
    measured: GoodnessPass      # the measurements cut at the look where the pass stopped
    groups_used: int
    stopped: str                # "resolved" or "budget"
    looks: List[dict] = field(default_factory=list)  # each look's groups and verdict counts


def measure_sequential(teacher, split, normalize, schemes: Sequence, settings: GoodnessSettings,
                       alpha: float, tie_margin: float = TIE_MARGIN, n_bootstrap: int = 1000,
                       **measure_kwargs) -> SequentialResult:
    """A paired pass over at most ``settings.n_groups`` groups (the budget) that stops at the
    first look where the order of T. stddev is resolved. With a single DA nothing is compared and
    the pass measures the budget."""
    looks = planned_looks(settings.n_groups)
    control = ErrorControl(alpha, len(looks), len(schemes))
    pending, record, last = list(looks), [], {}
    group_batches = settings.group_batches

    def stop(done: int, found: Dict[str, DAMeasurement]) -> bool:
        while pending and done >= pending[0] * group_batches:
            groups = pending.pop(0)
            means = {name: m.group_means(group_batches, groups) for name, m in found.items()}
            pairs = t_stddev_pairs(means, n_bootstrap, settings.seed, control, tie_margin)
            record.append({"groups": groups, **verdict_counts(pairs)})
            last.update(groups=groups, pairs=pairs)
            if len(found) > 1 and order_resolved(pairs):
                return True
        return False

    measured = measure_goodness(teacher, split, normalize, schemes, settings, stop=stop, **measure_kwargs)
    groups = last["groups"]
    cut = {name: m.head(groups * group_batches) for name, m in measured.measurements.items()}
    stopped = "resolved" if len(cut) > 1 and order_resolved(last["pairs"]) else "budget"
    return SequentialResult(GoodnessPass(cut, measured.originals_seconds), groups, stopped, record)
