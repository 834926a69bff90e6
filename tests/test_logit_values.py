"""Every distiller's value on small fixed float64 inputs against an independent re-derivation of its
authors' formula (numpy, or explicit float64 torch where a convolution or an SVD is needed), and the
shapes of the trainable parts against RepDistiller's constructors."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from distiller_zoo import DistillContext, build_distiller
from distiller_zoo.logit import ViewLogits
from models import model_dict

B, N_CLASSES, N_DATA = 6, 5, 40
RTOL = 1e-6
LABELS = torch.arange(N_DATA) % N_CLASSES

# feature lists (stem, blocks..., pooled) without the batch dimension; SAME has equal shapes
# (FSP and KD-SVD need equal channels), CROSS makes every pooling and connector case occur
SAME = [(4, 8, 8), (4, 8, 8), (6, 4, 4), (8, 2, 2), (8,)]
CROSS_T = [(4, 8, 8), (6, 8, 8), (8, 4, 4), (12, 4, 4), (12,)]


def make_opt(**overrides):
    opt = SimpleNamespace(feat_dim=5, nce_k=7, nce_t=0.07, nce_m=0.5, hint_layer=2, init_epochs=1, seed=0,
                          kd_T=4.0, logit_stand=False, base_temp=None, dkd_alpha=1.0, dkd_beta=8.0, dkd_T=4.0,
                          dkd_warmup=20, dist_beta=1.0, dist_gamma=1.0, dist_tau=4.0)
    vars(opt).update(overrides)
    return opt


def features(shapes, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, *s, generator=g, dtype=torch.float64) for s in shapes]


def case(name, t_shapes=SAME, **opt):
    feat_s, feat_t = features(SAME, 1), features(t_shapes, 2)
    distiller = build_distiller(name, DistillContext(feat_s, feat_t, LABELS, make_opt(**opt))).double()
    with torch.no_grad():  # trainable parts drawn afresh, so that nothing relies on a default init
        g = torch.Generator().manual_seed(3)
        for p in distiller.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.3)
    index = torch.arange(B) * 5 + 1
    return distiller, feat_s, feat_t, LABELS[index], index


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


def np_(t):
    return t.detach().numpy()


def block_pool(f, size):
    """Average over non-overlapping blocks down to size x size (adaptive pooling when it divides)."""
    b, c, h, w = f.shape
    return f.reshape(b, c, size, h // size, size, w // size).mean(axis=(3, 5))


def pool_pair(a, b):
    size = min(a.shape[2], b.shape[2])
    return block_pool(a, size), block_pool(b, size)


def batchnorm_train(x, bn):
    """BatchNorm in training mode: batch mean and biased variance over (N, H, W)."""
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + bn.eps) * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)


def conv_reg(x, reg, relu):
    """RepDistiller's ConvReg: its conv (whichever kind the shapes chose), BN, optional ReLU."""
    conv = reg.conv
    if isinstance(conv, torch.nn.ConvTranspose2d):
        y = F.conv_transpose2d(x, conv.weight, conv.bias, stride=2, padding=1)
    else:
        y = F.conv2d(x, conv.weight, conv.bias, stride=conv.stride, padding=conv.padding)
    y = batchnorm_train(y, reg.bn)
    return y.clamp(min=0) if relu else y


def call(distiller, feat_s, feat_t, target, index, logit_s=None, logit_t=None, epoch=1, view=None):
    logit_s = torch.zeros(B, N_CLASSES, dtype=torch.float64) if logit_s is None else logit_s
    logit_t = torch.zeros(B, N_CLASSES, dtype=torch.float64) if logit_t is None else logit_t
    return distiller.loss(feat_s, feat_t, logit_s, logit_t, target, index, epoch, view).item()


# ---------------------------------------------------------------------------------------- logits


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
    assert call(distiller, [], [], LABELS[:B], None, t64(s), t64(t)) == 0
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
    got = call(distiller, [], [], torch.tensor(target), None, t64(s), t64(t), epoch=epoch)
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
    assert call(distiller, [], [], LABELS[:B], None, t64(s), t64(t)) == pytest.approx(expected, rel=RTOL)
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
    assert call(distiller, [], [], LABELS[:B], None, t64(s_w), t64(t_w), view=view) == pytest.approx(expected, rel=RTOL)
    assert distiller.needs_view and distiller.couples_batch and distiller.default_beta == 0.9


def test_mlkd_median_mask_with_an_odd_batch():
    """np.percentile interpolates; with 5 samples the median is one of them and 3 of 5 lie at or below."""
    s_w, t_w, s_s, t_s = logits(12, n=5), logits(13, n=5), logits(14, n=5), logits(15, n=5)
    distiller = build_distiller("mlkd", DistillContext([], [], LABELS, make_opt()))
    view = ViewLogits(t64(s_s), t64(t_s), t64(t_s).argmax(1))
    got = distiller.loss([], [], t64(s_w), t64(t_w), LABELS[:5], None, 1, view).item()
    assert got == pytest.approx(mlkd_by_hand(s_w, t_w, s_s, t_s, (4.0, 3.0, 5.0, 2.0, 6.0)), rel=RTOL)


# -------------------------------------------------------------------------------------- features


def test_hint():
    distiller, feat_s, feat_t, target, index = case("hint", CROSS_T)
    expected = ((conv_reg(feat_s[2], distiller.regressor, relu=True) - feat_t[2]) ** 2).mean()
    assert call(distiller, feat_s, feat_t, target, index) == pytest.approx(expected.item(), rel=RTOL)


def attention_np(f):
    a = (f ** 2).mean(axis=1).reshape(len(f), -1)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_attention():
    distiller, feat_s, feat_t, target, index = case("attention", CROSS_T)
    expected = 0.0
    for s, t in zip(feat_s[1:-1], feat_t[1:-1]):
        s, t = pool_pair(np_(s), np_(t))
        expected += ((attention_np(s) - attention_np(t)) ** 2).mean()
    assert call(distiller, feat_s, feat_t, target, index) == pytest.approx(expected, rel=RTOL)


def test_similarity():
    distiller, feat_s, feat_t, target, index = case("similarity", CROSS_T)
    gram = []
    for f in (np_(feat_s[-2]), np_(feat_t[-2])):
        f = f.reshape(B, -1)
        g = f @ f.T
        gram.append(g / np.linalg.norm(g, axis=1, keepdims=True))
    expected = ((gram[1] - gram[0]) ** 2).sum() / B ** 2
    assert call(distiller, feat_s, feat_t, target, index) == pytest.approx(expected, rel=RTOL)


def test_correlation():
    distiller, feat_s, feat_t, target, index = case("correlation", CROSS_T)
    e_s = np_(feat_s[-1]) @ np_(distiller.embed_s.linear.weight).T + np_(distiller.embed_s.linear.bias)
    e_t = np_(feat_t[-1]) @ np_(distiller.embed_t.linear.weight).T + np_(distiller.embed_t.linear.bias)
    delta = np.abs(e_s - e_t)
    expected = np.mean([(delta[i] * delta[i + 1]).sum() for i in range(B - 1)])
    assert call(distiller, feat_s, feat_t, target, index) == pytest.approx(expected, rel=RTOL)


def test_vid():
    distiller, feat_s, feat_t, target, index = case("vid", CROSS_T)
    expected = 0.0
    for vid, s, t in zip(distiller.losses, feat_s[1:-1], feat_t[1:-1]):
        s, t = pool_pair(np_(s), np_(t))
        w = [np_(vid.regressor[i].weight)[:, :, 0, 0] for i in (0, 2, 4)]
        h = np.maximum(np.einsum("oc,bchw->bohw", w[0], s), 0)
        h = np.maximum(np.einsum("oc,bchw->bohw", w[1], h), 0)
        mean = np.einsum("oc,bchw->bohw", w[2], h)
        var = (np.log1p(np.exp(np_(vid.log_scale))) + 1e-5).reshape(1, -1, 1, 1)
        expected += (0.5 * ((mean - t) ** 2 / var + np.log(var))).mean()
    assert call(distiller, feat_s, feat_t, target, index) == pytest.approx(expected, rel=RTOL)


def smooth_l1(a, b):
    d = np.abs(a - b)
    return np.where(d < 1, 0.5 * d ** 2, d - 0.5).mean()


def test_rkd():
    distiller, feat_s, feat_t, target, index = case("rkd", CROSS_T)
    losses = []
    for e in (np_(feat_s[-1]), np_(feat_t[-1])):
        d = np.array([[np.linalg.norm(e[i] - e[j]) for j in range(B)] for i in range(B)])
        d = d / d[~np.eye(B, dtype=bool)].mean()
        angle = np.zeros((B, B, B))
        for i in range(B):
            for j in range(B):
                for k in range(B):
                    u, v = e[j] - e[i], e[k] - e[i]
                    if j != i and k != i:
                        angle[i, j, k] = u @ v / (np.linalg.norm(u) * np.linalg.norm(v))
        losses.append((d, angle))
    (d_s, a_s), (d_t, a_t) = losses
    expected = 25 * smooth_l1(d_s, d_t) + 50 * smooth_l1(a_s, a_t)
    assert call(distiller, feat_s, feat_t, target, index) == pytest.approx(expected, rel=RTOL)


def test_pkt():
    distiller, feat_s, feat_t, target, index = case("pkt", CROSS_T)
    eps = 1e-7
    probs = []
    for f in (np_(feat_s[-1]), np_(feat_t[-1])):
        f = f / (np.linalg.norm(f, axis=1, keepdims=True) + eps)
        sim = (f @ f.T + 1) / 2
        probs.append(sim / sim.sum(axis=1, keepdims=True))
    p_s, p_t = probs
    expected = (p_t * np.log((p_t + eps) / (p_s + eps))).mean()
    assert call(distiller, feat_s, feat_t, target, index) == pytest.approx(expected, rel=RTOL)


def test_nst():
    distiller, feat_s, feat_t, target, index = case("nst", CROSS_T)

    def kernel(a, b):  # mean over samples and channel pairs of the squared inner product
        return np.mean([(a[n] @ b[n].T) ** 2 for n in range(B)])

    expected = 0.0
    for s, t in zip(feat_s[1:-1], feat_t[1:-1]):
        s, t = pool_pair(np_(s), np_(t))
        s, t = s.reshape(B, s.shape[1], -1), t.reshape(B, t.shape[1], -1)
        s = s / np.linalg.norm(s, axis=2, keepdims=True)
        t = t / np.linalg.norm(t, axis=2, keepdims=True)
        expected += kernel(t, t) + kernel(s, s) - 2 * kernel(s, t)
    assert call(distiller, feat_s, feat_t, target, index) == pytest.approx(expected, rel=RTOL)


def test_kdsvd():
    distiller, feat_s, feat_t, target, index = case("kdsvd")

    def leading(f, n):
        x = f.reshape(B, f.shape[1], -1).transpose(1, 2)
        _, s, vh = torch.linalg.svd(x, full_matrices=False)
        v = vh.transpose(1, 2)[:, :, :n]
        return s[:, :n] / s[:, :n].norm(dim=1, keepdim=True), v / v.norm(dim=1, keepdim=True)

    total, prev = 0.0, None
    for f_s, f_t in zip(feat_s[1:-1], feat_t[1:-1]):
        s_t, v_t = leading(f_t, 1)
        _, v_s = leading(f_s, 4)
        cos = v_s.transpose(1, 2) @ v_t  # (B, 4, 1): keep, per teacher vector, the most aligned student one
        best = cos.abs().argmax(dim=1)[:, 0]
        v_s = torch.stack([v_s[n, :, best[n]] * cos[n, best[n], 0].sign() for n in range(B)])[:, :, None]
        v_t, v_s = v_t * s_t[:, None, :], v_s * s_t[:, None, :]
        if prev is not None:
            rbf = [torch.exp(-(v[:, :, None, :] - p[:, None, :, :]) ** 2 / 8) for v, p in ((v_s, prev[0]), (v_t, prev[1]))]
            total += ((rbf[0] - rbf[1]) ** 2).sum().item()
        prev = (v_s, v_t)
    assert call(distiller, feat_s, feat_t, target, index) == pytest.approx(total / B, rel=RTOL)


def test_factor_transfer_and_its_paraphraser_init_loss():
    distiller, feat_s, feat_t, target, index = case("factor", CROSS_T)

    def encode(x, seq, bn):
        for i in (0, 3, 6):
            conv = seq[i]
            x = F.conv2d(x, conv.weight, conv.bias, padding=1)
            x = batchnorm_train(x, seq[i + 1]) if bn else x
            x = F.leaky_relu(x, 0.1)
        return x

    def factor(f):
        a = (f ** 2).mean(axis=1).reshape(B, -1)
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    with torch.no_grad():
        f_s = encode(feat_s[-2], distiller.translator.encoder, bn=True)
        f_t = encode(feat_t[-2], distiller.paraphraser.encoder, bn=False)
    s, t = pool_pair(np_(f_s), np_(f_t))
    expected = np.abs(factor(s) - factor(t)).mean()
    assert call(distiller, feat_s, feat_t, target, index) == pytest.approx(expected, rel=RTOL)

    with torch.no_grad():
        x = f_t
        for i in (0, 3, 6):
            conv = distiller.paraphraser.decoder[i]
            x = F.leaky_relu(F.conv_transpose2d(x, conv.weight, conv.bias, padding=1), 0.1)
    expected_init = ((x - feat_t[-2]) ** 2).mean().item()
    assert distiller.init_loss(feat_s, feat_t).item() == pytest.approx(expected_init, rel=RTOL)


def test_abound_init_loss():
    distiller, feat_s, feat_t, target, index = case("abound", CROSS_T)
    assert call(distiller, feat_s, feat_t, target, index) == 0  # the main phase adds nothing
    expected, n = 0.0, 3
    for i, (s, t) in enumerate(zip(feat_s[1:-1], feat_t[1:-1])):
        with torch.no_grad():
            s = np_(conv_reg(s, distiller.connector.connectors[i], relu=False))
        t = np_(t)
        wrong = (s + 1) ** 2 * ((s > -1) & (t <= 0)) + (s - 1) ** 2 * ((s <= 1) & (t > 0))
        expected += 2.0 ** (i - n + 1) * wrong.sum() / B / 1000 * 3
    assert distiller.init_loss(feat_s, feat_t).item() == pytest.approx(expected, rel=RTOL)


def test_fsp_init_loss():
    distiller, feat_s, feat_t, target, index = case("fsp")
    assert call(distiller, feat_s, feat_t, target, index) == 0

    def fsp(feats):
        out = []
        for bottom, top in zip(feats[:-1], feats[1:]):
            bottom, top = pool_pair(np_(bottom), np_(top))
            hw = bottom.shape[2] * bottom.shape[3]
            out.append(np.einsum("bihw,bjhw->bij", top, bottom) / hw)
        return out

    expected = sum(((s - t) ** 2).mean() for s, t in zip(fsp(feat_s[:-1]), fsp(feat_t[:-1])))
    assert distiller.init_loss(feat_s, feat_t).item() == pytest.approx(expected, rel=RTOL)


def test_crd_nce_loss():
    distiller, feat_s, feat_t, target, index = case("crd", CROSS_T)
    memory = distiller.memory
    mem_s, mem_t = np_(memory.memory_s).copy(), np_(memory.memory_t).copy()
    state = distiller.generator.get_state()
    contrast = distiller.sample_contrast_index(target, index).numpy()
    distiller.generator.set_state(state)  # the forward draws the same negatives

    def embed(f, e):
        v = np_(f) @ np_(e.linear.weight).T + np_(e.linear.bias)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    v_s, v_t = embed(feat_s[-1], distiller.embed_s), embed(feat_t[-1], distiller.embed_t)
    out_s = np.exp(np.einsum("bkd,bd->bk", mem_t[contrast], v_s) / 0.07)
    out_t = np.exp(np.einsum("bkd,bd->bk", mem_s[contrast], v_t) / 0.07)
    k, eps = 7, 1e-7
    noise = k / N_DATA

    def nce(out):
        out = out / (out.mean() * N_DATA)  # Z fixed at the first batch
        log_pos = np.log(out[:, 0] / (out[:, 0] + noise + eps))
        log_neg = np.log(noise / (out[:, 1:] + noise + eps))
        return -(log_pos.sum() + log_neg.sum()) / B

    expected = nce(out_s) + nce(out_t)
    assert call(distiller, feat_s, feat_t, target, index) == pytest.approx(expected, rel=RTOL)


# ------------------------------------------------------------------- trainable parts' shapes


def repdistiller_shapes(name, feat_s, feat_t, feat_dim=16, n_data=200):
    """The parameter (and memory) shapes that RepDistiller's train_student.py gives each method's
    modules, from its constructors (models/util.py, distiller_zoo/VID.py, crd/), written out here."""
    def conv_reg(s, t):
        (_, s_c, s_h, s_w), (_, t_c, t_h, t_w) = s, t
        if s_h == 2 * t_h:
            conv = (t_c, s_c, 3, 3)
        elif 2 * s_h == t_h:
            conv = (s_c, t_c, 4, 4)  # ConvTranspose2d stores (in, out, k, k)
        else:
            conv = (t_c, s_c, 1 + s_h - t_h, 1 + s_w - t_w)
        return {"conv.weight": conv, "conv.bias": (t_c,), "bn.weight": (t_c,), "bn.bias": (t_c,)}

    if name == "hint":
        return {f"regressor.{k}": v for k, v in conv_reg(feat_s[2].shape, feat_t[2].shape).items()}
    if name == "correlation":
        s_dim, t_dim = feat_s[-1].shape[1], feat_t[-1].shape[1]
        return {"embed_s.linear.weight": (feat_dim, s_dim), "embed_s.linear.bias": (feat_dim,),
                "embed_t.linear.weight": (feat_dim, t_dim), "embed_t.linear.bias": (feat_dim,)}
    if name == "crd":
        s_dim, t_dim = feat_s[-1].shape[1], feat_t[-1].shape[1]
        return {"embed_s.linear.weight": (feat_dim, s_dim), "embed_s.linear.bias": (feat_dim,),
                "embed_t.linear.weight": (feat_dim, t_dim), "embed_t.linear.bias": (feat_dim,),
                "memory.memory_s": (n_data, feat_dim), "memory.memory_t": (n_data, feat_dim)}
    if name == "vid":  # VIDLoss(s, t, t) per feat[1:-1]
        out = {}
        for i, (s, t) in enumerate(zip(feat_s[1:-1], feat_t[1:-1])):
            s_c, t_c = s.shape[1], t.shape[1]
            out.update({f"losses.{i}.regressor.0.weight": (t_c, s_c, 1, 1), f"losses.{i}.regressor.2.weight":
                        (t_c, t_c, 1, 1), f"losses.{i}.regressor.4.weight": (t_c, t_c, 1, 1),
                        f"losses.{i}.log_scale": (t_c,)})
        return out
    if name == "factor":  # Paraphraser(t_shape), Translator(s_shape, t_shape), k = 0.5
        t_c, s_c = feat_t[-2].shape[1], feat_s[-2].shape[1]
        f_c = t_c // 2
        out = {}
        for i, (o, n) in zip((0, 3, 6), ((t_c, t_c), (f_c, t_c), (f_c, f_c))):
            out.update({f"paraphraser.encoder.{i}.weight": (o, n, 3, 3), f"paraphraser.encoder.{i}.bias": (o,)})
        for i, (n, o) in zip((0, 3, 6), ((f_c, f_c), (f_c, t_c), (t_c, t_c))):
            out.update({f"paraphraser.decoder.{i}.weight": (n, o, 3, 3), f"paraphraser.decoder.{i}.bias": (o,)})
        for i, (o, n) in zip((0, 3, 6), ((s_c, s_c), (f_c, s_c), (f_c, f_c))):
            out.update({f"translator.encoder.{i}.weight": (o, n, 3, 3), f"translator.encoder.{i}.bias": (o,),
                        f"translator.encoder.{i + 1}.weight": (o,), f"translator.encoder.{i + 1}.bias": (o,)})
        return out
    if name == "abound":  # Connector: identity where channels and size match, else ConvReg(use_relu=False)
        out = {}
        for i, (s, t) in enumerate(zip(feat_s[1:-1], feat_t[1:-1])):
            if s.shape[1:3] != t.shape[1:3]:
                out.update({f"connector.connectors.{i}.{k}": v for k, v in conv_reg(s.shape, t.shape).items()})
        return out
    return {}  # the other methods have no trainable parts in RepDistiller


PAIRS = {"abound": ("wrn_40_2", "wrn_40_1"), "hint": ("vgg13", "MobileNetV2"), "vid": ("vgg13", "MobileNetV2"),
         "factor": ("vgg13", "MobileNetV2"), "correlation": ("resnet32x4", "ShuffleV1"),
         "crd": ("resnet32x4", "ShuffleV1")}


@pytest.mark.parametrize("name", ["hint", "correlation", "crd", "vid", "factor", "abound", "attention",
                                  "similarity", "rkd", "pkt", "nst", "kdsvd", "fsp", "kd", "dkd", "dist", "mlkd"])
def test_trainable_parts_have_repdistillers_shapes(name):
    t_arch, s_arch = PAIRS.get(name, ("resnet56", "resnet20"))
    teacher = model_dict[t_arch](num_classes=N_CLASSES).eval()
    student = model_dict[s_arch](num_classes=N_CLASSES)
    preact = name == "abound"
    with torch.no_grad():
        x = torch.randn(2, 3, 32, 32)
        feat_s, _ = student.eval()(x, is_feat=True, preact=preact)
        feat_t, _ = teacher(x, is_feat=True, preact=preact)
    opt = make_opt(feat_dim=16, init_epochs=30)
    distiller = build_distiller(name, DistillContext(feat_s, feat_t, torch.arange(200) % N_CLASSES, opt))
    state = {k: tuple(v.shape) for k, v in distiller.state_dict().items()
             if not k.endswith(("running_mean", "running_var", "num_batches_tracked", "_extra_state", "memory.z"))}
    assert state == repdistiller_shapes(name, feat_s, feat_t)
