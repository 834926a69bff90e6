"""A pass's table: each DA's T. stddev, its 95% interval, the teacher's mean entropy on the views,
the seconds, and the covariance metrics asked for."""
from typing import Dict, List, Sequence

import numpy as np

from helper.goodness.ce_covariance import ROW_METRICS, ce_covariance, ce_covariance_resamples
from helper.goodness.measurement import GoodnessPass
from helper.goodness.paired import ErrorControl, paired_differences
from helper.goodness.plan import GoodnessSettings
from helper.goodness.statistic import bootstrap_ci, bootstrap_stats, resample_weights, t_stddev

METRICS = ("t_stddev",) + tuple(ROW_METRICS)  # T. stddev is always reported; the others on request


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


def t_stddev_pairs(means: Dict[str, np.ndarray], n_bootstrap: int, seed: int, control: ErrorControl,
                   tie_margin: float) -> List[dict]:
    """The paired differences of T. stddev between the DAs of ``means`` (each DA's (n_groups, C)
    group means over the same groups), on the same bootstrap resamples of the groups."""
    weights = resample_weights(len(next(iter(means.values()))), n_bootstrap, seed)
    values = {name: t_stddev(m) for name, m in means.items()}
    resamples = {name: bootstrap_stats(m, weights) for name, m in means.items()}
    return [dict(p, metric="t_stddev") for p in paired_differences(values, resamples, control, tie_margin)]


def pass_pairs(measured: GoodnessPass, settings: GoodnessSettings, n_bootstrap: int, control: ErrorControl,
               tie_margin: float, metrics: Sequence[str] = ()) -> List[dict]:
    """The paired differences of T. stddev and of each covariance metric asked for, every metric
    on the same resamples of the groups (a covariance realisation is one group)."""
    found = measured.measurements
    means = {name: m.group_means(settings.group_batches) for name, m in found.items()}
    pairs = t_stddev_pairs(means, n_bootstrap, settings.seed, control, tie_margin)
    for metric in metrics:
        if metric in ROW_METRICS:
            rows = {name: m.group_rows(ROW_METRICS[metric][0], settings.group_batches) for name, m in found.items()}
            weights = resample_weights(len(next(iter(rows.values()))), n_bootstrap, settings.seed)
            values = {name: ce_covariance(r) for name, r in rows.items()}
            resamples = {name: ce_covariance_resamples(r, weights) for name, r in rows.items()}
            pairs += [dict(p, metric=metric) for p in paired_differences(values, resamples, control, tie_margin)]
    return pairs
