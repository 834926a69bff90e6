"""eval_da_goodness.py --metric ce_cov / ce_cov_approx: the original's check_ce_var_v3 statistic, by
hand in numpy (its own double loop over np.cov) and through the pass on stub models."""
import numpy as np
import pytest
import torch
from torch import nn

import eval_da_goodness
from helper.augment import DAConfig
from helper.core.errors import UsageError
from helper.goodness.ce_covariance import ce_covariance
from helper.goodness.measurement import measure_goodness
from helper.goodness.plan import GoodnessSettings, planned_batches
from helper.goodness.report import summarize
from helper.goodness.schemes import build_schemes
from test_goodness import IDENTITY_NORMALIZE, MeanTeacher, random_images, save_random_resnet8, split_of


def original_statistic(samples):
    """check_ce_var_v3 as the original wrote it: normalise by the max, np.cov, the double loop."""
    samples = np.asarray(samples) / np.asarray(samples).max(axis=0)
    n = samples.shape[1]
    cov = np.cov(samples, rowvar=False)
    total = 0.0
    for i in range(n):
        for j in range(i):
            total += cov[i, j]
    return total / n / n


def test_statistic_equals_the_originals_double_loop():
    rng = np.random.default_rng(0)
    shared = rng.gamma(2.0, size=(30, 1))  # a common factor: positive covariances
    samples = rng.gamma(2.0, size=(30, 40)) + shared
    assert ce_covariance(samples) == pytest.approx(original_statistic(samples), rel=1e-10)
    independent = rng.gamma(2.0, size=(400, 20))
    correlated = independent + rng.gamma(2.0, size=(400, 1))
    assert abs(ce_covariance(independent)) < 0.1 * ce_covariance(correlated)
    with pytest.raises(ValueError, match="realisations >= 2"):
        ce_covariance(samples[:1])


class ScaledTeacher(nn.Module):
    """A second stub with other logits than MeanTeacher's: the student of the tests."""

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3))[:, None]
        return torch.cat([m * 1.5, 1 - m, m * m], dim=1)


def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_ce_cov_and_its_approximation_by_hand_on_stub_models():
    images = random_images(40)
    settings = GoodnessSettings(n_groups=6, group_batches=2, batch_size=4, seed=3)
    schemes = build_schemes(["flip"], DAConfig(8))
    measured = measure_goodness(MeanTeacher(), split_of(images), IDENTITY_NORMALIZE, schemes, settings,
                                student=ScaledTeacher(), student_cross_entropy=True)
    table = summarize(measured, settings, 20, metrics=("ce_cov", "ce_cov_approx"))["flip"]
    # by hand: flip keeps each image's mean pixel, so a view's outputs are its original's
    m = images.double().mean(dim=(1, 2, 3)).numpy() / 255
    z_t = m[:, None] * np.array([3.0, -2.0, 0.5]) + np.array([0.1, 0.0, -0.3])
    z_s = np.stack([m * 1.5, 1 - m, m * m], axis=1)
    p_t = np.exp(log_softmax(z_t))
    q = -(p_t * log_softmax(z_s)).sum(axis=1)
    q_approx = -(p_t * log_softmax(z_t)).sum(axis=1)
    order = torch.cat(planned_batches(len(images), settings)).numpy().reshape(6, 8)  # a group's x rows
    for metric, values in (("ce_cov", q), ("ce_cov_approx", q_approx)):
        rows = np.hstack([values[order], values[order]])  # x rows, then the views' (the same values)
        assert table[metric] == pytest.approx(original_statistic(rows), rel=1e-5)  # float32 logits
    assert table["ce_cov"] != pytest.approx(table["ce_cov_approx"], rel=1e-3)


def test_script_metric_flags(tmp_path, capsys):
    ckpt = save_random_resnet8(tmp_path / "resnet8.pth")
    common = ["--dataset", "digits", "--train_subset", "80", "--test_subset", "30", "--path_t", ckpt,
              "--n_groups", "3", "--group_batches", "2", "--batch_size", "8", "--n_bootstrap", "20",
              "--device", "cpu", "--compute_batch", "16", "--mix_mode", "identity", "cutmix"]
    with pytest.raises(UsageError, match="--metric ce_cov needs the student: pass --path_s"):
        eval_da_goodness.parse_args(common + ["--metric", "ce_cov"])
    with pytest.raises(UsageError, match="use --grouping sample"):
        eval_da_goodness.parse_args(common + ["--metric", "ce_cov_approx", "--grouping", "original"])
    record = eval_da_goodness.main(common + ["--path_s", ckpt, "--metric", "ce_cov_approx", "ce_cov"])
    assert record["metric"] == ["ce_cov_approx", "ce_cov"]
    for r in record["results"].values():
        assert {"t_stddev", "ce_cov", "ce_cov_approx"} <= set(r)
    # the same network as teacher and student: the exact statistic is its approximation
    for r in record["results"].values():
        assert r["ce_cov"] == pytest.approx(r["ce_cov_approx"], rel=1e-4)
    printed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.split()
               and line.split()[0] in ("identity", "cutmix")]
    assert printed == sorted(("identity", "cutmix"), key=lambda n: record["results"][n]["ce_cov_approx"])


def test_resamples_of_the_covariance_repeat_the_drawn_realisations():
    from helper.goodness.ce_covariance import ce_covariance_resamples
    samples = np.random.default_rng(0).random((5, 3))
    weights = np.array([[1, 1, 1, 1, 1], [2, 0, 1, 0, 2]])
    found = ce_covariance_resamples(samples, weights)
    assert found[0] == ce_covariance(samples)
    assert found[1] == ce_covariance(samples[[0, 0, 2, 4, 4]])
