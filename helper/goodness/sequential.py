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
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence

import numpy as np

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


class SequentialRule:
    """The looks of one pass and what each decided: call :meth:`look` whenever :meth:`due`."""

    def __init__(self, max_groups: int, n_das: int, alpha: float, tie_margin: float = TIE_MARGIN,
                 n_bootstrap: int = 1000, seed: int = 0):
        self.looks = planned_looks(max_groups)
        self.control = ErrorControl(alpha, len(self.looks), n_das)
        self.tie_margin, self.n_bootstrap, self.seed, self.n_das = tie_margin, n_bootstrap, seed, n_das
        self.pending = list(self.looks)
        self.record: List[dict] = []  # each look's groups and verdict counts
        self.groups, self.pairs, self.resolved = 0, [], False

    def due(self, groups_done: int) -> bool:
        return bool(self.pending) and groups_done >= self.pending[0]

    def look(self, means_of: Callable[[int], Dict[str, np.ndarray]]) -> bool:
        """Compare the DAs on the groups of the next look (means_of(groups): each DA's group means
        over the first ``groups`` groups); True when the order is resolved and the pass may stop.
        With a single DA nothing is compared: the pass runs to the budget."""
        self.groups = self.pending.pop(0)
        self.pairs = t_stddev_pairs(means_of(self.groups), self.n_bootstrap, self.seed, self.control, self.tie_margin)
        self.record.append({"groups": self.groups, **verdict_counts(self.pairs)})
        self.resolved = self.n_das > 1 and order_resolved(self.pairs)
        return self.resolved

    @property
    def stopped(self) -> str:
        return "resolved" if self.resolved else "budget"


def decide(means: Dict[str, np.ndarray], rule: SequentialRule) -> SequentialRule:
    """The rule applied to group means already at hand (each DA's (max_groups, C)): the looks a
    pass that measured them would take, up to where it stops (tests/test_sequential.py)."""
    while rule.pending:
        if rule.look(lambda groups: {name: m[:groups] for name, m in means.items()}):
            break
    return rule


@dataclass
class SequentialResult:
    measured: GoodnessPass  # the measurements cut at the look where the pass stopped
    rule: SequentialRule    # its looks, the groups used, why it stopped


def measure_sequential(teacher, split, normalize, schemes: Sequence, settings: GoodnessSettings,
                       alpha: float, tie_margin: float = TIE_MARGIN, n_bootstrap: int = 1000,
                       **measure_kwargs) -> SequentialResult:
    """A paired pass over at most ``settings.n_groups`` groups (the budget) that stops at the
    first look where the order of T. stddev is resolved (:class:`SequentialRule`)."""
    rule = SequentialRule(settings.n_groups, len(schemes), alpha, tie_margin, n_bootstrap, settings.seed)
    group_batches = settings.group_batches

    def stop(done: int, found: Dict[str, DAMeasurement]) -> bool:
        while rule.due(done // group_batches):
            if rule.look(lambda groups: {name: m.group_means(group_batches, groups) for name, m in found.items()}):
                return True
        return False

    measured = measure_goodness(teacher, split, normalize, schemes, settings, stop=stop, **measure_kwargs)
    cut = {name: m.head(rule.groups * group_batches) for name, m in measured.measurements.items()}
    return SequentialResult(GoodnessPass(cut, measured.originals_seconds), rule)
