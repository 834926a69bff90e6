"""The logit methods' values (KD with logit standardisation, DKD with its warm-up, DIST, MLKD) on small
fixed float64 inputs against an independent numpy re-derivation of their authors' formulas. (The CRD
family's values and shapes: tests/test_distiller_values.py.)"""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from distiller_zoo import DistillContext, build_distiller
from distiller_zoo.logit import ViewLogits

B, N_CLASSES, N_DATA = 6, 5, 40
RTOL = 1e-6
LABELS = torch.arange(N_DATA) % N_CLASSES


def make_opt(**overrides):
    opt = SimpleNamespace(kd_T=4.0, logit_stand=False, base_temp=None, dkd_alpha=1.0, dkd_beta=8.0, dkd_T=4.0,
                          dkd_warmup=20, dist_beta=1.0, dist_gamma=1.0, dist_tau=4.0)
    vars(opt).update(overrides)
    return opt


def logits(seed, n=B, c=N_CLASSES, scale=2.0):
    g = np.random.default_rng(seed)
    return g.normal(size=(n, c)) * scale


def t64(a):
    return torch.tensor(a, dtype=torch.float64)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def kl_rows(p_t, p_s):
    return (p_t * np.log(p_t / p_s)).sum(axis=1)


def zscore(z):
    return (z - z.mean(axis=1, keepdims=True)) / (1e-7 + z.std(axis=1, ddof=1, keepdims=True))


def call(distiller, logit_s, logit_t, target, epoch=1, view=None):
    """The training step's call of a logit method (no features, no dataset indices)."""
    return distiller.loss([], [], logit_s, logit_t, target, None, epoch, view).item()


@pytest.mark.parametrize("stand, T", [(False, 4.0), (True, 2.0)])
def test_kd_and_logit_standardised_kd(stand, T):
    s, t = logits(0), logits(1, scale=3.0)
    distiller = build_distiller("kd", DistillContext([], [], LABELS, make_opt(logit_stand=stand, base_temp=T)))
    if stand:
        s_, t_ = zscore(s), zscore(t)
    else:
        s_, t_ = s, t
    expected = kl_rows(softmax(t_ / T), softmax(s_ / T)).mean() * T ** 2
    got = distiller.kl_loss()(t64(s), t64(t), None, 1).item()
    assert got == pytest.approx(expected, rel=RTOL)
    # the -b term of KD is zero: its loss is the objective's KL_T
    assert call(distiller, t64(s), t64(t), LABELS[:B]) == 0
    if stand:  # standardisation makes the loss blind to each sample's logit shift and scale
        shifted = 3.0 * s + np.arange(B)[:, None]
        assert distiller.kl_loss()(t64(shifted), t64(t), None, 1).item() == pytest.approx(expected, rel=1e-5)


def dkd_by_hand(s, t, target, alpha, beta, T, epoch, warmup):
    losses = []
    for i, g in enumerate(target):
        p, q = softmax(s[i:i + 1] / T)[0], softmax(t[i:i + 1] / T)[0]
        b_s, b_t = np.array([p[g], 1 - p[g]]), np.array([q[g], 1 - q[g]])
        tckd = (b_t * np.log(b_t / b_s)).sum()
        rest = [j for j in range(len(p)) if j != g]
        p_hat, q_hat = softmax(s[i:i + 1, rest] / T)[0], softmax(t[i:i + 1, rest] / T)[0]
        nckd = (q_hat * np.log(q_hat / p_hat)).sum()
        losses.append(alpha * tckd + beta * nckd)
    return min(epoch / warmup, 1.0) * T ** 2 * np.mean(losses)


@pytest.mark.parametrize("epoch", [1, 7, 20, 35])
@pytest.mark.parametrize("stand", [False, True])
def test_dkd_terms_temperature_and_warm_up(epoch, stand):
    s, t = logits(2), logits(3, scale=3.0)
    target = np.array([0, 1, 2, 3, 4, 0])
    opt = make_opt(dkd_alpha=1.5, dkd_beta=8.0, logit_stand=stand, base_temp=2.0 if stand else None)
    distiller = build_distiller("dkd", DistillContext([], [], LABELS, opt))
    T = 2.0 if stand else 4.0
    s_, t_ = (zscore(s), zscore(t)) if stand else (s, t)
    expected = dkd_by_hand(s_, t_, target, 1.5, 8.0, T, epoch, 20)
    got = call(distiller, t64(s), t64(t), torch.tensor(target), epoch=epoch)
    assert got == pytest.approx(expected, rel=RTOL)
    assert distiller.kl_loss()(t64(s), t64(t), torch.tensor(target), epoch).item() == pytest.approx(expected, rel=RTOL)


def test_dkd_with_beta_equal_to_one_minus_target_probability_is_kd():
    """The paper's Eq. 5: KD = TCKD + (1 - p_t^target) NCKD; a check of the decomposition itself."""
    s, t = logits(4), logits(5)
    target = np.array([1, 1, 0, 4, 2, 3])
    T = 4.0
    q = softmax(t / T)
    kd = kl_rows(q, softmax(s / T))
    per_sample = [dkd_by_hand(s[i:i + 1], t[i:i + 1], target[i:i + 1], 1.0, 1 - q[i, target[i]], T, 20, 20)
                  for i in range(B)]
    np.testing.assert_allclose(np.array(per_sample) / T ** 2, kd, rtol=1e-10)


def pearson(a, b, eps=1e-8):
    a, b = a - a.mean(), b - b.mean()
    return (a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b) + eps)


def test_dist_inter_and_intra_class_relations():
    s, t = logits(6), logits(7, scale=3.0)
    opt = make_opt(dist_beta=0.7, dist_gamma=1.3, dist_tau=4.0)
    distiller = build_distiller("dist", DistillContext([], [], LABELS, opt))
    y_s, y_t = softmax(s / 4.0), softmax(t / 4.0)
    inter = 1 - np.mean([pearson(y_s[i], y_t[i]) for i in range(B)])
    intra = 1 - np.mean([pearson(y_s[:, c], y_t[:, c]) for c in range(N_CLASSES)])
    expected = 16 * (0.7 * inter + 1.3 * intra)
    assert call(distiller, t64(s), t64(t), LABELS[:B]) == pytest.approx(expected, rel=RTOL)
    assert distiller.couples_batch and distiller.default_beta == 2.0


def mlkd_by_hand(s_w, t_w, s_s, t_s, temperatures, stand=False):
    p1 = softmax(t_w)
    conf = p1.max(axis=1)
    m = np.mean(conf <= np.percentile(conf, 50))
    class_conf = p1.sum(axis=0)
    m_c = np.mean(class_conf <= np.percentile(class_conf, 50))
    zs = zscore if stand else (lambda z: z)
    total = 0.0
    for T in temperatures:
        ps, pt = softmax(s_w / T), softmax(t_w / T)
        inst_w = kl_rows(softmax(zs(t_w) / T), softmax(zs(s_w) / T)).mean() * T ** 2
        batch = ((pt @ pt.T - ps @ ps.T) ** 2).sum() / s_w.shape[0]
        klass = ((pt.T @ pt - ps.T @ ps) ** 2).sum() / s_w.shape[1]
        inst_s = kl_rows(softmax(zs(t_s) / T), softmax(zs(s_s) / T)).mean() * T ** 2
        total += m * (inst_w + batch) + m_c * klass + inst_s
    return total


@pytest.mark.parametrize("stand", [False, True])
def test_mlkd_three_levels_over_five_temperatures(stand):
    s_w, t_w, s_s, t_s = logits(8), logits(9, scale=3.0), logits(10), logits(11, scale=3.0)
    t_w[1] *= 4  # a confident sample, so that the confidence mask is not trivially balanced
    opt = make_opt(logit_stand=stand, base_temp=2.0 if stand else None)
    distiller = build_distiller("mlkd", DistillContext([], [], LABELS, opt))
    view = ViewLogits(t64(s_s), t64(t_s), t64(t_s).argmax(1))
    temperatures = (2.0 if stand else 4.0, 3.0, 5.0, 2.0, 6.0)
    expected = mlkd_by_hand(s_w, t_w, s_s, t_s, temperatures, stand)
    assert call(distiller, t64(s_w), t64(t_w), LABELS[:B], view=view) == pytest.approx(expected, rel=RTOL)
    assert distiller.needs_view and distiller.couples_batch and distiller.default_beta == 0.9


def test_mlkd_median_mask_with_an_odd_batch():
    """np.percentile interpolates; with 5 samples the median is one of them and 3 of 5 lie at or below."""
    s_w, t_w, s_s, t_s = logits(12, n=5), logits(13, n=5), logits(14, n=5), logits(15, n=5)
    distiller = build_distiller("mlkd", DistillContext([], [], LABELS, make_opt()))
    view = ViewLogits(t64(s_s), t64(t_s), t64(t_s).argmax(1))
    got = distiller.loss([], [], t64(s_w), t64(t_w), LABELS[:5], None, 1, view).item()
    assert got == pytest.approx(mlkd_by_hand(s_w, t_w, s_s, t_s, (4.0, 3.0, 5.0, 2.0, 6.0)), rel=RTOL)


@pytest.mark.parametrize("name", ["dkd", "dist", "mlkd"])
def test_logit_methods_train_nothing_of_their_own(name):
    """As in their authors' code (mdistiller's DKD, DIST_KD's DIST, MLKD): no parameters, no buffers."""
    distiller = build_distiller(name, DistillContext([], [], LABELS, make_opt()))
    assert not list(distiller.parameters()) and not list(distiller.buffers()) and not distiller.state_dict()
