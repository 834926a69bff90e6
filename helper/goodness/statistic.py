"""T. stddev and its bootstrap interval, from the teacher's per-batch probability sums.

Consecutive groups of ``group_batches`` (5) batches of ``batch_size`` (64) standard-augmented
training images x, together with their stronger-DA views x', give 2 x 320 softmax vectors of the
teacher at temperature 1; per group their mean probability vector; T. stddev is the unbiased
(N - 1) standard deviation of that mean across groups, per class, averaged over the classes.
The original code computed ``torch.stack(group_means).std(dim=0).mean()``, over 10 epochs of
CIFAR-100 (:data:`PAPER_GROUPS`)."""
from typing import Tuple

import numpy as np

ORIGINAL_EPOCHS = 10  # the original scripts ran 10 epochs per DA
CIFAR100_TRAIN_IMAGES, PAPER_BATCH_SIZE, PAPER_GROUP_BATCHES = 50000, 64, 5


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


def resample_weights(n: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """(n_bootstrap, n) multiplicities of a bootstrap of n groups: how often each group is drawn.
    One seed draws the same resamples for every DA of a pass, so their statistics are paired."""
    if n < 2 or n_bootstrap < 1:
        raise ValueError(f"a bootstrap needs at least 2 groups and 1 resample, got {n} and {n_bootstrap}")
    return np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap)


def bootstrap_stats(means: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:func:`t_stddev` of each resample of the (n_groups, C) group means that ``weights``
    (:func:`resample_weights`) draws.

    Its per-class variance is (w . d^2 - (w . d)^2 / n) / (n - 1) with d the centred means: a
    matrix product instead of n_bootstrap x n x C copies."""
    means = np.asarray(means, dtype=np.float64)
    n = len(means)
    centred = means - means.mean(axis=0)  # centring keeps the variance formula exact in float64
    first = weights @ centred
    variance = (weights @ centred ** 2 - first ** 2 / n) / (n - 1)
    return np.sqrt(np.clip(variance, 0.0, None)).mean(axis=1)


def bootstrap_ci(means: np.ndarray, n_bootstrap: int = 1000, seed: int = 0,
                 level: float = 0.95) -> Tuple[float, float]:
    """Basic (pivotal) bootstrap interval of :func:`t_stddev`, resampling whole groups with
    replacement (the same resamples for every DA from the same seed).

    The groups drawn from are the bootstrap's population; its T. stddev is the plug-in (N)
    standard deviation's, sqrt((n - 1) / n) times :func:`t_stddev` at n groups. A resample's statistic
    minus that value stands for the estimate's own error, so the interval is t - (q_high - t_pop)
    to t - (q_low - t_pop). The percentile interval (q_low, q_high) would sit below the estimate
    by that shift plus the estimate's bias, which averaging many classes makes large against the
    width: at 19 groups of 100 independent classes it covered the truth 13% of the time, this one
    97% (docs/t-stddev.md)."""
    n = len(means)
    stats = bootstrap_stats(means, resample_weights(n, n_bootstrap, seed))
    tail = 100.0 * (1.0 - level) / 2.0
    q_low, q_high = np.percentile(stats, [tail, 100.0 - tail])
    estimate = t_stddev(means)
    population = estimate * np.sqrt((n - 1) / n)  # every class's std scales alike, so their mean does
    return max(0.0, float(estimate - (q_high - population))), float(estimate - (q_low - population))


def original_group_count(n: int, batch_size: int, group_batches: int,
                         epochs: int = ORIGINAL_EPOCHS) -> int:
    """Groups that ``epochs`` epochs of CRD's loader give (short last batch kept): 1564 for
    CIFAR-100's 50000 images in batches of 64 and groups of 5."""
    return epochs * -(-n // batch_size) // group_batches


# The original's groups on CIFAR-100: 10 epochs x 782 batches (the last of 16 images) / 5 = 1564.
PAPER_GROUPS = original_group_count(CIFAR100_TRAIN_IMAGES, PAPER_BATCH_SIZE, PAPER_GROUP_BATCHES)
