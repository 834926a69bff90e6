"""The paper's other statistic: the covariance of the teacher-student cross-entropy across
samples (the original code's ``check_ce_var_v3``, "for the NeurIPS rebuttal"), and its
teacher-only approximation, where the student is replaced by the teacher (p_s := p_t, so the
cross-entropy becomes the teacher's entropy). Lower is better, as for T. stddev.

The original (MingSun-Tse/Good-DA-in-KD, helper/loops.py, train_distill): per step it appended
q = -sum_k p_t log p_s of the 64 images x and then of their 64 views x' to a list; 6400 values
(50 steps) made one "RV sample", a realisation of 6400 random variables (the positions); after
100 realisations it divided each position by its maximum over the realisations, took np.cov
across realisations (6400 x 6400) and printed the sum of the strictly lower triangle divided by
num_RVs^2, then exited.

Here a realisation is one group of the pass (``--group_batches`` batches of x and their views,
640 values by default), so the statistic shares T. stddev's batches and grouping, and
``--group_batches 50 --n_groups 100`` gives the original's 6400 positions x 100 realisations.
A group lists its x rows and then its x' rows, where the original interleaved them batch by
batch; the statistic sums over every pair of positions, so it does not depend on their order.
The sum over the lower triangle is computed as (var(sum_i z_i) - sum_i var(z_i)) / 2, the same
number without forming the N x N matrix.
"""
import numpy as np


def ce_covariance(samples: np.ndarray) -> float:
    """sum_{i > j} cov(z_i, z_j) / N^2 of (R realisations, N positions) values, z the values of
    each position divided by their maximum over the realisations (covariances unbiased, R - 1)."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or len(samples) < 2:
        raise ValueError(f"the covariance needs (realisations >= 2, positions) values, got {samples.shape}")
    peak = samples.max(axis=0)
    z = np.divide(samples, peak, out=np.zeros_like(samples), where=peak > 0)
    n = z.shape[1]
    lower = (z.sum(axis=1).var(ddof=1) - z.var(axis=0, ddof=1).sum()) / 2.0
    return float(lower / n ** 2)


# --metric name: which per-row values a realisation holds, and whether a student is needed
ROW_METRICS = {
    "ce_cov": ("cross_entropy", True),       # q = -sum p_t log p_s, the student's own
    "ce_cov_approx": ("entropy", False),     # q with p_s := p_t: the teacher's entropy
}


def ce_covariance_resamples(samples: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:func:`ce_covariance` of each bootstrap resample of the realisations (rows) that ``weights``
    (statistic.resample_weights, one row of multiplicities per resample) draws: the same resamples
    as T. stddev's, since a realisation is one group of the pass."""
    samples = np.asarray(samples, dtype=np.float64)
    return np.array([ce_covariance(np.repeat(samples, w, axis=0)) for w in weights])
