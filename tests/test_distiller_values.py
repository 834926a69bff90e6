"""Every CRD-family distiller's value against an independent re-derivation in float64 numpy.

Each method is built from feature lists of fixed shapes (as train_student.py builds it from a probe
batch), run in float64 on fixed random features, and its loss compared (rtol 1e-6) with the formula of
its paper as RepDistiller implements it, written here from scratch: pooling, normalisations,
reductions and weights included. Convolutions of the trainable connectors are the one place where a
reference op (torch's float64 conv) stands in for a hand loop; BatchNorm, activations and the losses
are by hand. The trainable parts must have the shapes that RepDistiller gives them."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from distiller_zoo import DistillContext, DistillKL, build_distiller

B = 6
# CRD's feature layout: [stem, block 1, block 2, block 3 (last map), pooled embedding]. Block 1 of the
# student is larger than the teacher's, block 2 smaller, block 3 equal, so that every pooling branch runs.
S_SHAPES = [(B, 3, 8, 8), (B, 4, 8, 8), (B, 6, 4, 4), (B, 8, 4, 4), (B, 8)]
T_SHAPES = [(B, 3, 8, 8), (B, 5, 4, 4), (B, 7, 8, 8), (B, 9, 4, 4), (B, 9)]
# FSP and KD-SVD need equal channel counts, and AB then has identity connectors
EQUAL_SHAPES = [(B, 3, 8, 8), (B, 4, 8, 8), (B, 6, 4, 4), (B, 8, 4, 4), (B, 8)]
N_DATA, N_CLASSES = 20, 4
LABELS = torch.arange(N_DATA) % N_CLASSES
RTOL = 1e-6


def make_opt(**overrides):
    opt = SimpleNamespace(feat_dim=4, nce_k=5, nce_t=0.07, nce_m=0.5, hint_layer=2, init_epochs=30, seed=0,
                          kd_T=4.0, logit_stand=False, base_temp=None)
    vars(opt).update(overrides)
    return opt


def features(shapes, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) for shape in shapes]


def case(name, s_shapes=S_SHAPES, t_shapes=T_SHAPES, **opt):
    """The distiller in float64 and train mode, with student and teacher features and logits."""
    feat_s, feat_t = features(s_shapes, 1), features(t_shapes, 2)
    with torch.random.fork_rng():
        torch.manual_seed(3)  # the connectors' initial weights
        distiller = build_distiller(name, DistillContext(feat_s, feat_t, LABELS, make_opt(**opt)))
    distiller.double().train()
    logit_s, logit_t = features([(B, N_CLASSES)] * 2, 4)
    return distiller, feat_s, feat_t, logit_s, logit_t


def call(distiller, feat_s, feat_t, logit_s, logit_t, target=None, index=None):
    target = LABELS[:B] if target is None else target
    index = torch.arange(B) if index is None else index
    with torch.no_grad():
        return distiller(feat_s, feat_t, logit_s, logit_t, target, index).item()


def np_(t):
    return t.detach().to(torch.float64).numpy()


# ---- numpy building blocks -------------------------------------------------------------------------

def avg_pool(a, size):
    """Adaptive average pooling to `size` when it divides the map, as in every case here."""
    b, c, h, w = a.shape
    return a.reshape(b, c, size, h // size, size, w // size).mean(axis=(3, 5))


def common_size(s, t):
    if s.shape[2] > t.shape[2]:
        return avg_pool(s, t.shape[2]), t
    if s.shape[2] < t.shape[2]:
        return s, avg_pool(t, s.shape[2])
    return s, t


def l2_rows(x, axis=-1):
    """F.normalize: x / max(||x||, 1e-12)."""
    return x / np.maximum(np.sqrt((x ** 2).sum(axis=axis, keepdims=True)), 1e-12)


def batch_norm_train(x, bn):
    """BatchNorm in train mode: the batch's mean and biased variance per channel."""
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    w, b = np_(bn.weight).reshape(1, -1, 1, 1), np_(bn.bias).reshape(1, -1, 1, 1)
    return (x - mean) / np.sqrt(var + bn.eps) * w + b


def leaky(x):
    return np.where(x > 0, x, 0.1 * x)


def relu(x):
    return np.maximum(x, 0)


def conv(x, layer):
    """The reference op for a (transposed) convolution with `layer`'s weights, in float64."""
    op = F.conv_transpose2d if isinstance(layer, nn.ConvTranspose2d) else F.conv2d
    bias = None if layer.bias is None else layer.bias.detach()
    out = op(torch.from_numpy(x), layer.weight.detach(), bias, stride=layer.stride, padding=layer.padding)
    return out.numpy()


def conv1x1(x, layer):
    assert layer.kernel_size == (1, 1) and layer.bias is None
    return np.einsum("oc,bchw->bohw", np_(layer.weight)[:, :, 0, 0], x)


def smooth_l1(a, b):
    z = np.abs(a - b)
    return np.where(z < 1, 0.5 * z ** 2, z - 0.5).mean()


def softmax(x, T):
    e = np.exp(x / T - (x / T).max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def assert_value(got, expected):
    assert np.isfinite(expected) and expected != 0
    assert got == pytest.approx(expected, rel=RTOL, abs=0)


def check_conv_reg(reg, s_shape, t_shape):
    """RepDistiller's ConvReg: stride-2 3x3 conv, stride-2 4x4 transposed conv, or a (1+dH)x(1+dW) conv."""
    (_, s_c, s_h, s_w), (_, t_c, t_h, t_w) = s_shape, t_shape
    if s_h == 2 * t_h:
        assert type(reg.conv) is nn.Conv2d and reg.conv.weight.shape == (t_c, s_c, 3, 3)
        assert reg.conv.stride == (2, 2) and reg.conv.padding == (1, 1)
    elif 2 * s_h == t_h:
        assert type(reg.conv) is nn.ConvTranspose2d and reg.conv.weight.shape == (s_c, t_c, 4, 4)
        assert reg.conv.stride == (2, 2) and reg.conv.padding == (1, 1)
    else:
        assert type(reg.conv) is nn.Conv2d
        assert reg.conv.weight.shape == (t_c, s_c, 1 + s_h - t_h, 1 + s_w - t_w)
    assert reg.conv.bias.shape == (t_c,) and reg.bn.weight.shape == (t_c,)


# ---- the methods -------------------------------------------------------------------------------------

@pytest.mark.parametrize("T", [4.0, 2.0])
def test_kd(T):
    distiller, _, _, s, t = case("kd")
    assert call(distiller, [], [], s, t) == 0 and not list(distiller.parameters())
    p_t, p_s = softmax(np_(t), T), softmax(np_(s), T)
    expected = (p_t * np.log(p_t / p_s)).sum(axis=1).mean() * T ** 2
    assert_value(DistillKL(T)(s, t).item(), expected)


@pytest.mark.parametrize("hint_layer", [1, 2, 3])  # student map 2x, 1/2x, 1x the teacher's side
def test_hint(hint_layer):
    distiller, fs, ft, s, t = case("hint", hint_layer=hint_layer)
    reg = distiller.regressor
    check_conv_reg(reg, S_SHAPES[hint_layer], T_SHAPES[hint_layer])
    with torch.no_grad():  # non-trivial BN affine parameters
        reg.bn.weight.uniform_(0.5, 1.5)
        reg.bn.bias.uniform_(-0.5, 0.5)
    out = relu(batch_norm_train(conv(np_(fs[hint_layer]), reg.conv), reg.bn))
    expected = ((out - np_(ft[hint_layer])) ** 2).mean()
    assert_value(call(distiller, fs, ft, s, t), expected)
    assert distiller.default_beta == 100


def test_attention():
    distiller, fs, ft, s, t = case("attention")
    expected = 0.0
    for f_s, f_t in zip(fs[1:-1], ft[1:-1]):
        a_s, a_t = common_size(np_(f_s), np_(f_t))
        am_s = l2_rows((a_s ** 2).mean(axis=1).reshape(B, -1))
        am_t = l2_rows((a_t ** 2).mean(axis=1).reshape(B, -1))
        expected += ((am_s - am_t) ** 2).mean()
    assert_value(call(distiller, fs, ft, s, t), expected)
    assert distiller.default_beta == 1000


def test_similarity():
    distiller, fs, ft, s, t = case("similarity")
    a_s, a_t = np_(fs[-2]).reshape(B, -1), np_(ft[-2]).reshape(B, -1)
    g_s, g_t = l2_rows(a_s @ a_s.T), l2_rows(a_t @ a_t.T)
    expected = ((g_t - g_s) ** 2).sum() / B ** 2
    assert_value(call(distiller, fs, ft, s, t), expected)
    assert distiller.default_beta == 3000


def test_correlation():
    distiller, fs, ft, s, t = case("correlation")
    lin_s, lin_t = distiller.embed_s.linear, distiller.embed_t.linear
    assert lin_s.weight.shape == (4, 8) and lin_t.weight.shape == (4, 9)  # (feat_dim, penultimate dim)
    e_s = np_(fs[-1]) @ np_(lin_s.weight).T + np_(lin_s.bias)
    e_t = np_(ft[-1]) @ np_(lin_t.weight).T + np_(lin_t.bias)
    delta = np.abs(e_s - e_t)
    expected = np.mean([(delta[i] * delta[i + 1]).sum() for i in range(B - 1)])
    assert_value(call(distiller, fs, ft, s, t), expected)
    assert distiller.default_beta == 0.02


def test_vid():
    distiller, fs, ft, s, t = case("vid")
    assert len(distiller.losses) == 3
    expected = 0.0
    for loss, f_s, f_t, s_shape, t_shape in zip(distiller.losses, fs[1:-1], ft[1:-1], S_SHAPES[1:-1],
                                                 T_SHAPES[1:-1]):
        s_c, t_c = s_shape[1], t_shape[1]
        c1, c2, c3 = loss.regressor[0], loss.regressor[2], loss.regressor[4]
        # RepDistiller: VIDLoss(s, t, t), three bias-free 1x1 convs s -> t -> t -> t, ReLU between
        assert [c.weight.shape for c in (c1, c2, c3)] == [(t_c, s_c, 1, 1), (t_c, t_c, 1, 1), (t_c, t_c, 1, 1)]
        var = np.log1p(np.exp(np_(loss.log_scale))) + 1e-5
        np.testing.assert_allclose(var, 5.0, rtol=1e-6)  # init_pred_var, in float32
        with torch.no_grad():
            loss.log_scale.uniform_(-1, 2)  # a trained-looking variance per channel
        var = (np.log1p(np.exp(np_(loss.log_scale))) + 1e-5).reshape(1, -1, 1, 1)
        a_s, a_t = common_size(np_(f_s), np_(f_t))
        mean = conv1x1(relu(conv1x1(relu(conv1x1(a_s, c1)), c2)), c3)
        expected += (0.5 * ((mean - a_t) ** 2 / var + np.log(var))).mean()
    assert_value(call(distiller, fs, ft, s, t), expected)
    assert distiller.default_beta == 1


def rkd_terms(e):
    diff = e[None, :, :] - e[:, None, :]  # diff[i, j] = e_j - e_i
    dist = np.sqrt((diff ** 2).sum(axis=2))
    dist = dist / dist[dist > 0].mean()
    unit = l2_rows(diff, axis=2)
    angle = np.einsum("ijd,ikd->ijk", unit, unit)  # the angle at i between j and k
    return dist, angle.reshape(-1)


def test_rkd():
    distiller, fs, ft, s, t = case("rkd")
    d_s, a_s = rkd_terms(np_(fs[-1]))
    d_t, a_t = rkd_terms(np_(ft[-1]))
    expected = 25 * smooth_l1(d_s, d_t) + 50 * smooth_l1(a_s, a_t)
    assert_value(call(distiller, fs, ft, s, t), expected)
    assert distiller.default_beta == 1


def test_pkt():
    distiller, fs, ft, s, t = case("pkt")
    eps = 1e-7

    def probabilities(f):
        f = f / (np.sqrt((f ** 2).sum(axis=1, keepdims=True)) + eps)
        sim = (f @ f.T + 1) / 2
        return sim / sim.sum(axis=1, keepdims=True)

    p_s, p_t = probabilities(np_(fs[-1])), probabilities(np_(ft[-1]))
    expected = (p_t * np.log((p_t + eps) / (p_s + eps))).mean()
    assert_value(call(distiller, fs, ft, s, t), expected)
    assert distiller.default_beta == 30000


@pytest.mark.parametrize("shapes", ["mismatched", "equal"])
def test_abound(shapes):
    s_shapes, t_shapes = (S_SHAPES, T_SHAPES) if shapes == "mismatched" else (EQUAL_SHAPES, EQUAL_SHAPES)
    distiller, fs, ft, s, t = case("abound", s_shapes, t_shapes)
    assert distiller.preact and distiller.init_epochs == 30 and distiller.default_beta == 1
    assert call(distiller, fs, ft, s, t) == 0  # the main phase adds no loss of its own
    expected, margin = 0.0, 1.0
    for i, (connector, f_s, f_t) in enumerate(zip(distiller.connector.connectors, fs[1:-1], ft[1:-1])):
        if shapes == "equal":
            assert isinstance(connector, nn.Identity)
            out = np_(f_s)
        else:
            assert not connector.use_relu
            check_conv_reg(connector, f_s.shape, f_t.shape)
            out = batch_norm_train(conv(np_(f_s), connector.conv), connector.bn)
        target = np_(f_t)
        penalty = ((out + margin) ** 2 * ((out > -margin) & (target <= 0))
                   + (out - margin) ** 2 * ((out <= margin) & (target > 0))).sum()
        expected += 2.0 ** (i - 3 + 1) * penalty / B / 1000 * 3  # weights 1/4, 1/2, 1
    with torch.no_grad():
        got = distiller.init_loss(fs, ft).item()
    assert_value(got, expected)


def test_factor():
    distiller, fs, ft, s, t = case("factor")
    para, trans = distiller.paraphraser, distiller.translator
    t_c, s_c, k_c = T_SHAPES[-2][1], S_SHAPES[-2][1], int(T_SHAPES[-2][1] * 0.5)
    enc = [para.encoder[i] for i in (0, 3, 6)]
    dec = [para.decoder[i] for i in (0, 3, 6)]
    tra = [trans.encoder[i] for i in (0, 3, 6)]
    # RepDistiller: Paraphraser(t_shape, k=0.5, use_bn=False), Translator(s_shape, t_shape, k=0.5, use_bn=True)
    assert [c.weight.shape for c in enc] == [(t_c, t_c, 3, 3), (k_c, t_c, 3, 3), (k_c, k_c, 3, 3)]
    assert [c.weight.shape for c in dec] == [(k_c, k_c, 3, 3), (k_c, t_c, 3, 3), (t_c, t_c, 3, 3)]
    assert [c.weight.shape for c in tra] == [(s_c, s_c, 3, 3), (k_c, s_c, 3, 3), (k_c, k_c, 3, 3)]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in para.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in trans.modules()) == 3
    assert distiller.default_beta == 200 and distiller.init_epochs == 30

    f_t = np_(ft[-2])
    factor_t = f_t
    for c in enc:
        factor_t = leaky(conv(factor_t, c))
    rec = factor_t
    for c in dec:
        rec = leaky(conv(rec, c))
    with torch.no_grad():
        init = distiller.init_loss(fs, ft).item()
    assert_value(init, ((rec - f_t) ** 2).mean())

    factor_s = np_(fs[-2])
    for i, c in zip((0, 3, 6), tra):
        factor_s = leaky(batch_norm_train(conv(factor_s, c), trans.encoder[i + 1]))
    a_s, a_t = common_size(factor_s, factor_t)
    fac_s = l2_rows((a_s ** 2).mean(axis=1).reshape(B, -1))
    fac_t = l2_rows((a_t ** 2).mean(axis=1).reshape(B, -1))
    assert_value(call(distiller, fs, ft, s, t), np.abs(fac_s - fac_t).mean())


def fsp_matrices(feats):
    out = []
    for bottom, top in zip(feats[:-1], feats[1:]):
        bottom, top = common_size(bottom, top)
        hw = bottom.shape[2] * bottom.shape[3]
        out.append(np.einsum("bihw,bjhw->bij", top, bottom) / hw)
    return out


def test_fsp():
    distiller, fs, ft, s, t = case("fsp", EQUAL_SHAPES, EQUAL_SHAPES)
    assert call(distiller, fs, ft, s, t) == 0 and distiller.init_epochs == 30 and distiller.default_beta == 50
    g_s = fsp_matrices([np_(f) for f in fs[:-1]])
    g_t = fsp_matrices([np_(f) for f in ft[:-1]])
    assert [g.shape for g in g_s] == [(B, 4, 3), (B, 6, 4), (B, 8, 6)]  # (C_top, C_bottom)
    expected = sum(((a - b) ** 2).mean() for a, b in zip(g_s, g_t))
    with torch.no_grad():
        assert_value(distiller.init_loss(fs, ft).item(), expected)


def test_nst():
    distiller, fs, ft, s, t = case("nst")

    def kernel_mean(a, b):
        return (np.einsum("bip,bjp->bij", a, b) ** 2).mean()

    expected = 0.0
    for f_s, f_t in zip(fs[1:-1], ft[1:-1]):
        a_s, a_t = common_size(np_(f_s), np_(f_t))
        a_s = l2_rows(a_s.reshape(B, a_s.shape[1], -1))
        a_t = l2_rows(a_t.reshape(B, a_t.shape[1], -1))
        expected += kernel_mean(a_t, a_t) + kernel_mean(a_s, a_s) - 2 * kernel_mean(a_s, a_t)
    assert_value(call(distiller, fs, ft, s, t), expected)
    assert distiller.default_beta == 50


def right_singular(f, n):
    """Leading right-singular vectors (B, C, n) of each (HW x C) map, largest |component| positive."""
    x = f.reshape(f.shape[0], f.shape[1], -1).transpose(0, 2, 1)
    _, _, vh = np.linalg.svd(x, full_matrices=False)
    v = vh.transpose(0, 2, 1)[:, :, :n]
    peak = np.take_along_axis(v, np.abs(v).argmax(axis=1)[:, None, :], axis=1)
    return v * np.where(peak < 0, -1.0, 1.0)


def test_kdsvd():
    distiller, fs, ft, s, t = case("kdsvd", EQUAL_SHAPES, EQUAL_SHAPES)
    assert not list(distiller.parameters())

    def rbf(v, prev):  # (B, C, C_prev, k)
        return np.exp(-(v[:, :, None, :] - prev[:, None, :, :]) ** 2 / 8)

    expected, prev_s, prev_t = 0.0, None, None
    for f_s, f_t in zip(fs[1:-1], ft[1:-1]):
        v_t = right_singular(np_(f_t), 1)  # k = 1: its normalised singular value is 1
        v_s = right_singular(np_(f_s), 4)  # k + 3 student vectors to align from
        cosine = np.einsum("bcn,bck->bnk", v_s, v_t)[:, :, 0]
        best = np.abs(cosine).argmax(axis=1)
        rows = np.arange(B)
        v_s = (v_s[rows, :, best] * np.sign(cosine[rows, best])[:, None])[:, :, None]
        if prev_s is not None:
            expected += ((rbf(v_s, prev_s) - rbf(v_t, prev_t)) ** 2).sum()
        prev_s, prev_t = v_s, v_t
    assert_value(call(distiller, fs, ft, s, t), expected / B)


def test_kdsvd_does_not_depend_on_the_svd_sign_choice(monkeypatch):
    distiller, fs, ft, s, t = case("kdsvd", EQUAL_SHAPES, EQUAL_SHAPES)
    got = call(distiller, fs, ft, s, t)
    svd = torch.linalg.svd
    signs = torch.Generator().manual_seed(5)

    def other_valid_svd(x, full_matrices=True):
        """The same decomposition with the signs of some singular-vector pairs flipped."""
        u, sv, vh = svd(x, full_matrices=full_matrices)
        flip = torch.randint(0, 2, sv.shape, generator=signs, dtype=x.dtype) * 2 - 1
        return u * flip[:, None, :], sv, vh * flip[:, :, None]

    monkeypatch.setattr(torch.linalg, "svd", other_valid_svd)
    assert call(distiller, fs, ft, s, t) == pytest.approx(got, rel=1e-9)


def crd_scores(memory, v, idx, T):
    return np.exp(np.einsum("bkd,bd->bk", memory[idx], v) / T)


def nce(p, n_data):
    k = p.shape[1] - 1
    noise = k / n_data
    return -(np.log(p[:, 0] / (p[:, 0] + noise + 1e-7)).sum()
             + np.log(noise / (p[:, 1:] + noise + 1e-7)).sum()) / len(p)


def test_crd_two_steps():
    distiller, fs, ft, s, t = case("crd")
    assert distiller.default_beta == 0.8
    emb_s, emb_t = distiller.embed_s.linear, distiller.embed_t.linear
    assert emb_s.weight.shape == (4, 8) and emb_t.weight.shape == (4, 9)
    mem = distiller.memory
    bound = 1 / np.sqrt(4 / 3)
    for m in (mem.memory_s, mem.memory_t):
        assert m.shape == (N_DATA, 4) and m.abs().max() <= bound
    mem_s, mem_t = np_(mem.memory_s).copy(), np_(mem.memory_t).copy()
    v_s = l2_rows(np_(fs[-1]) @ np_(emb_s.weight).T + np_(emb_s.bias))
    v_t = l2_rows(np_(ft[-1]) @ np_(emb_t.weight).T + np_(emb_t.bias))

    z = None
    for step, index in enumerate((torch.tensor([0, 5, 10, 15, 1, 6]), torch.tensor([2, 7, 12, 17, 0, 5]))):
        target = LABELS[index]
        state = distiller.generator.get_state()
        idx = distiller.sample_contrast_index(target, index)
        distiller.generator.set_state(state)
        idx_np = idx.numpy()
        assert (idx_np[:, 0] == index.numpy()).all()
        assert (LABELS[idx[:, 1:]] != target[:, None]).all()
        out_s = crd_scores(mem_t, v_s, idx_np, 0.07)  # student anchor against the teacher's memory
        out_t = crd_scores(mem_s, v_t, idx_np, 0.07)
        if z is None:  # set at the first batch from its mean score, then fixed
            z = out_s.mean() * N_DATA, out_t.mean() * N_DATA
        expected = nce(out_s / z[0], N_DATA) + nce(out_t / z[1], N_DATA)
        assert_value(call(distiller, fs, ft, s, t, target, index), expected)
        rows = index.numpy()
        mem_s[rows] = l2_rows(0.5 * mem_s[rows] + 0.5 * v_s)
        mem_t[rows] = l2_rows(0.5 * mem_t[rows] + 0.5 * v_t)
        np.testing.assert_allclose(np_(mem.memory_s), mem_s, rtol=1e-12)
        np.testing.assert_allclose(np_(mem.memory_t), mem_t, rtol=1e-12)
        np.testing.assert_allclose(np_(mem.z), z, rtol=1e-12)



@pytest.mark.parametrize("model_s, lr", [("resnet8x4", 0.01), ("wrn_40_1", 0.01), ("resnet110", 0.01),
                                         ("ResNet50", 0.05), ("resnet18", 0.05), ("vgg8", 0.05)])
def test_factor_init_learning_rate_only_for_crds_cifar_resnets(model_s, lr):
    distiller, *_ = case("factor")
    assert distiller.init_learning_rate(make_opt(model_s=model_s, learning_rate=0.05)) == lr
