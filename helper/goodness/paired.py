"""Paired differences between DAs measured on the same groups, and what they decide.

Every DA of a paired pass sees the same originals in the same groups, and the bootstrap draws the
same resamples of groups for every DA (statistic.resample_weights), so the per-resample
difference of two DAs' statistics is the bootstrap distribution of their paired difference: the
noise both share (which originals a group holds) cancels in it.

The rule (docs/t-stddev.md): a pass compares its DAs at ``n_looks`` planned looks; at every look
any two of its n DAs may be compared, since which pairs are neighbours depends on the data. Each
comparison gets the Bonferroni level alpha / (n_looks x n(n-1)/2), so the chance that any
interval of any look misses its true difference is at most alpha. Percentile intervals at such
levels (1e-4) would need millions of resamples; the interval is the normal one, the difference
+- z se, se the standard deviation of the difference over the resamples. Verdicts, for a pair
(a, b) with a ranked first (the lower point estimate) and diff = value(b) - value(a):
  lower       the interval excludes 0: a is lower than b;
  tie         the interval lies within +-margin, margin = tie_margin x the larger of the two
              values: whatever the truth, the two are within that margin;
  unresolved  neither yet.
"""
from dataclasses import dataclass
from math import comb
from statistics import NormalDist
from typing import Dict, List, Sequence

import numpy as np

ALPHA = 0.05
# Two DAs whose statistics surely differ by less than 3% of the larger are a tie: finer orders are
# not a property of the DAs, since neighbours that close swap between teachers (docs/t-stddev.md:
# mixup 3.3% below crop+flip on a resnet56, the two within 0.3% on a resnet8). A pair more than 3%
# apart is never a tie, so it is ordered or left unresolved; at 2%, pairs 2-3% apart need several
# times more groups to resolve.
TIE_MARGIN = 0.03
VERDICTS = ("lower", "tie", "unresolved")


@dataclass(frozen=True)
class ErrorControl:
    """The per-comparison level of a pass: alpha shared by n_looks looks at n_das DAs."""
    alpha: float = ALPHA
    n_looks: int = 1
    n_das: int = 2

    @property
    def n_pairs(self) -> int:
        return max(1, comb(self.n_das, 2))

    @property
    def level(self) -> float:
        """The two-sided level of each interval: alpha / (looks x pairs)."""
        return self.alpha / (self.n_looks * self.n_pairs)

    @property
    def z(self) -> float:
        return NormalDist().inv_cdf(1.0 - self.level / 2.0)


def verdict(low: float, high: float, margin: float) -> str:
    """The verdict of a difference's interval [low, high] (see the module docstring)."""
    if low > 0.0 or high < 0.0:
        return "lower"
    if -margin < low and high < margin:
        return "tie"
    return "unresolved"


def compare(values: Dict[str, float], resamples: Dict[str, np.ndarray], a: str, b: str, z: float,
            tie_margin: float) -> dict:
    """The paired difference value(b) - value(a), its interval and verdict; ``resamples`` holds
    each DA's statistic on the same bootstrap resamples."""
    diff = values[b] - values[a]
    se = float(np.std(resamples[b] - resamples[a], ddof=1)) if len(resamples[a]) > 1 else float("inf")
    low, high = diff - z * se, diff + z * se
    margin = tie_margin * max(abs(values[a]), abs(values[b]))
    return {"da_a": a, "da_b": b, "diff": diff, "se": se, "interval": [low, high], "margin": margin,
            "verdict": verdict(low, high, margin)}


def ranked_pairs(values: Dict[str, float]) -> List[tuple]:
    """(a, b, kind) for every two neighbours of the order (lowest first) and each DA against the
    best; the best and the second are listed once, as neighbours."""
    order = sorted(values, key=values.get)
    pairs = [(a, b, "adjacent") for a, b in zip(order, order[1:])]
    return pairs + [(order[0], b, "vs_best") for b in order[2:]]


def paired_differences(values: Dict[str, float], resamples: Dict[str, np.ndarray], control: ErrorControl,
                       tie_margin: float = TIE_MARGIN) -> List[dict]:
    """Every pair of :func:`ranked_pairs` compared at the level of ``control``."""
    z = control.z
    return [dict(compare(values, resamples, a, b, z, tie_margin), kind=kind)
            for a, b, kind in ranked_pairs(values)]


def order_resolved(pairs: Sequence[dict]) -> bool:
    """Whether every two neighbours of the order are resolved: lower, or a tie."""
    return all(p["verdict"] != "unresolved" for p in pairs if p["kind"] == "adjacent")


def verdict_counts(pairs: Sequence[dict]) -> Dict[str, int]:
    return {v: sum(p["verdict"] == v for p in pairs) for v in VERDICTS}
