"""A pass's table: each DA's T. stddev, its 95% interval, the teacher's mean entropy on the views,
the seconds, and the covariance metrics asked for."""
from typing import Dict, Sequence

from helper.goodness.ce_covariance import ROW_METRICS, ce_covariance
from helper.goodness.measurement import GoodnessPass
from helper.goodness.plan import GoodnessSettings
from helper.goodness.statistic import bootstrap_ci, t_stddev

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
