"""distiller_zoo: the KD term by hand, one CPU training step per registered method, CRD's memory bank."""

import io
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from distiller_zoo import DISTILLERS, FT, DistillContext, build_distiller, probe_features
from distiller_zoo.KD import DistillKL
from distiller_zoo.logit import ViewLogits
from models import model_dict

N_DATA, N_CLASSES, BATCH = 200, 5, 8
TRAIN_LABELS = torch.arange(N_DATA) % N_CLASSES

# teacher -> student pairs of CRD's benchmark tables, small ones for speed. resnet56 -> resnet20 has equal
# channel counts (FSP and KD-SVD need them); AB gets a pair whose widths differ, so that its connector
# has weights to train; the methods that pool or regress between mismatched maps get CRD's
# cross-architecture pair vgg13 -> MobileNetV2.
DEFAULT_PAIR = ("resnet56", "resnet20")
CROSS_PAIR = ("vgg13", "MobileNetV2")
PAIRS = {"abound": ("wrn_40_2", "wrn_40_1"),
         **{name: CROSS_PAIR for name in ("hint", "attention", "vid", "nst", "factor")}}
INIT_PHASE = {"abound", "factor", "fsp"}
ZERO_MAIN_LOSS = {"kd", "abound", "fsp"}  # CRD adds no loss of their own in the main phase

# the authors' weights of the loss beyond CE: DKD 1 (mdistiller), DIST 2 (kd_loss_weight), MLKD 0.9
LOGIT_BETA = {"dkd": 1.0, "dist": 2.0, "mlkd": 0.9}

# the -b of each command in CRD's README / scripts/run_cifar_distill.sh (kdsvd has none there)
CRD_BETA = {"kd": 0, "hint": 100, "attention": 1000, "similarity": 3000, "correlation": 0.02, "vid": 1,
            "rkd": 1, "pkt": 30000, "abound": 1, "factor": 200, "fsp": 50, "nst": 50, "crd": 0.8}


def make_opt(**overrides):
    opt = SimpleNamespace(feat_dim=16, nce_k=64, nce_t=0.07, nce_m=0.5, hint_layer=2, init_epochs=30, seed=0,
                          kd_T=4.0, logit_stand=False, base_temp=None, dkd_alpha=1.0, dkd_beta=8.0, dkd_T=4.0,
                          dkd_warmup=20, dist_beta=1.0, dist_gamma=1.0, dist_tau=4.0)
    vars(opt).update(overrides)
    return opt


@pytest.fixture(scope="module")
def teachers():
    cache = {}

    def get(arch):
        if arch not in cache:
            with torch.random.fork_rng():  # the tests' own random draws do not depend on their order
                torch.manual_seed(1)
                cache[arch] = model_dict[arch](num_classes=N_CLASSES).eval()
        return cache[arch]

    return get


def make_case(name, teachers, **opt_overrides):
    """Teacher, fresh student, distiller (built from a 2-image sample batch as CRD does) and a batch."""
    t_arch, s_arch = PAIRS.get(name, DEFAULT_PAIR)
    teacher = teachers(t_arch)
    student = model_dict[s_arch](num_classes=N_CLASSES)
    x = torch.randn(BATCH, 3, 32, 32)
    feat_s, feat_t = probe_features(student, teacher, x[:2])
    assert student.training  # the probe leaves the student's mode as it found it
    distiller = build_distiller(name, DistillContext(feat_s, feat_t, TRAIN_LABELS, make_opt(**opt_overrides)))
    index = torch.randperm(N_DATA)[:BATCH]
    return teacher, student, distiller, x, TRAIN_LABELS[index], index


def forward_features(model, x, preact, grad=True):
    with torch.set_grad_enabled(grad):
        feats, logits = model(x, is_feat=True, preact=preact)
    return feats, logits


def grad_norms(loss, params):
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return [None if g is None else g.norm().item() for g in grads]


def test_distill_kl_matches_hand_computation():
    s = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]
    t = [[3.0, 1.0, 0.0], [0.0, 2.0, -2.0]]
    T = 4.0

    def softmax(row):
        e = [math.exp(v / T) for v in row]
        return [v / sum(e) for v in e]

    kl_rows = [sum(pt * math.log(pt / ps) for pt, ps in zip(softmax(rt), softmax(rs))) for rs, rt in zip(s, t)]
    expected = sum(kl_rows) / len(s) * T ** 2
    got = DistillKL(4)(torch.tensor(s), torch.tensor(t))
    assert got.item() == pytest.approx(expected, rel=1e-5)
    assert expected > 0


def test_registry_names_and_unknown_name():
    assert set(DISTILLERS) == {"kd", "hint", "attention", "similarity", "correlation", "vid", "rkd", "pkt",
                               "abound", "factor", "fsp", "nst", "crd", "kdsvd", "dkd", "dist", "mlkd"}
    with pytest.raises(ValueError, match="unknown distiller 'nope'") as err:
        build_distiller("nope", DistillContext([], [], TRAIN_LABELS, make_opt()))
    for name in DISTILLERS:
        assert name in str(err.value)


@pytest.mark.parametrize("name", ["fsp", "kdsvd"])
def test_channel_mismatch_is_refused(name, teachers):
    teacher, student = teachers("wrn_40_2"), model_dict["wrn_40_1"](num_classes=N_CLASSES).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        feat_s, _ = student(x, is_feat=True)
        feat_t, _ = teacher(x, is_feat=True)
    with pytest.raises(ValueError, match="equal channel counts"):
        build_distiller(name, DistillContext(feat_s, feat_t, TRAIN_LABELS, make_opt()))


@pytest.mark.parametrize("name", list(DISTILLERS))
def test_one_training_step(name, teachers):
    teacher, student, distiller, x, target, index = make_case(name, teachers)
    assert distiller.preact == (name == "abound")
    assert (distiller.init_epochs > 0) == (name in INIT_PHASE)
    assert distiller.default_beta == {**CRD_BETA, **LOGIT_BETA}.get(name, 1.0)

    feat_s, logit_s = forward_features(student, x, distiller.preact)
    feat_t, logit_t = forward_features(teacher, x, distiller.preact, grad=False)
    view = None
    if distiller.needs_view:
        _, logit_s_view = forward_features(student, x.flip(3), False)
        _, logit_t_view = forward_features(teacher, x.flip(3), False, grad=False)
        view = ViewLogits(logit_s_view, logit_t_view, logit_t_view.argmax(1))
    loss = distiller.loss(feat_s, feat_t, logit_s, logit_t, target, index, 21, view)
    assert loss.dim() == 0 and torch.isfinite(loss)

    trainable = [p for p in distiller.parameters() if p.requires_grad]
    if name in ZERO_MAIN_LOSS:
        assert loss.item() == 0 and not trainable
    else:
        student_norms = grad_norms(loss, list(student.parameters()))
        assert sum(n for n in student_norms if n is not None) > 0
        named = [(n, p) for n, p in distiller.named_parameters() if p.requires_grad]
        for (pname, _), norm in zip(named, grad_norms(loss, trainable) if trainable else []):
            assert norm is not None and math.isfinite(norm), pname
            # a bias that feeds a batch norm (ConvReg, Translator) has an analytically zero gradient
            assert norm > 0 or pname.endswith("bias"), pname
    if name in {"hint", "correlation", "vid", "factor", "crd"}:
        assert trainable, "this method trains modules of its own"

    frozen = [p for p in distiller.parameters() if not p.requires_grad]
    before_s = [p.detach().clone() for p in student.parameters()]
    before_d = [p.detach().clone() for p in distiller.parameters()]
    optimizer = torch.optim.SGD(list(student.parameters()) + list(distiller.parameters()), lr=0.05,
                                momentum=0.9, weight_decay=5e-4)
    total = F.cross_entropy(logit_s, target) + distiller.default_beta * loss
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    assert any(not torch.equal(b, p) for b, p in zip(before_s, student.parameters()))
    for b, p in zip(before_d, distiller.parameters()):
        changed = not torch.equal(b, p)
        assert changed == p.requires_grad
    assert all(p.grad is None for p in frozen)


@pytest.mark.parametrize("name", sorted(INIT_PHASE))
def test_init_phase(name, teachers):
    teacher, student, distiller, x, target, index = make_case(name, teachers)
    params = [p for m in distiller.init_modules(student) for p in m.parameters()]
    assert params and all(p.requires_grad for p in params)
    feat_s, _ = forward_features(student, x, distiller.preact)
    feat_t, _ = forward_features(teacher, x, distiller.preact, grad=False)
    loss = distiller.init_loss(feat_s, feat_t)
    assert loss.dim() == 0 and torch.isfinite(loss) and loss.item() > 0
    norms = grad_norms(loss, params)
    assert all(n is not None and math.isfinite(n) for n in norms)
    assert sum(norms) > 0
    own = {id(p) for p in distiller.parameters()}
    for p, n in zip(params, norms):
        if id(p) in own:  # the connector / paraphraser: every weight is trained
            assert n > 0

    optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4)
    before = [p.detach().clone() for p in params]
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, params))

    if name == "abound":
        assert any(id(p) in own for p in params), "the connector is trained in the init phase"
    if name in {"abound", "factor"}:
        # back in the main phase the init-trained module is frozen again
        feat_s, logit_s = forward_features(student, x, distiller.preact)
        distiller(feat_s, feat_t, logit_s, logit_s.detach(), target, index)
        assert all(not p.requires_grad and p.grad is None for p in params if id(p) in own)


def crd_batch(teachers, seed=0):
    teacher, student, distiller, x, target, index = make_case("crd", teachers, seed=seed)
    feat_s, logit_s = forward_features(student, x, False)
    feat_t, logit_t = forward_features(teacher, x, False, grad=False)
    return distiller, (feat_s, feat_t, logit_s, logit_t, target, index)


def test_crd_memory_bank_momentum_update(teachers):
    distiller, batch = crd_batch(teachers)
    feat_s, feat_t, _, _, _, index = batch
    state = distiller.state_dict()
    for key in ("memory.memory_s", "memory.memory_t", "memory.z", "_extra_state"):
        assert key in state
    assert state["memory.memory_s"].shape == (N_DATA, 16)
    assert distiller.memory.z.lt(0).all()

    mem_s, mem_t = distiller.memory.memory_s.clone(), distiller.memory.memory_t.clone()
    with torch.no_grad():
        v_s, v_t = distiller.embed_s(feat_s[-1]), distiller.embed_t(feat_t[-1])
    distiller(*batch)
    others = torch.ones(N_DATA, dtype=torch.bool)
    others[index] = False
    m = 0.5
    for old, new, v in ((mem_s, distiller.memory.memory_s, v_s), (mem_t, distiller.memory.memory_t, v_t)):
        expected = F.normalize(m * old[index] + (1 - m) * v, dim=1)
        torch.testing.assert_close(new[index], expected)
        assert torch.equal(new[others], old[others])
    assert distiller.memory.z.gt(0).all()  # the normalisation constants are fixed at the first batch


def test_crd_negatives_come_from_other_classes(teachers):
    distiller, (*_, target, index) = crd_batch(teachers)
    idx = distiller.sample_contrast_index(target, index)
    assert idx.shape == (BATCH, 1 + 64)
    assert torch.equal(idx[:, 0], index)
    assert (TRAIN_LABELS[idx[:, 1:]] != target[:, None]).all()
    assert all(len(row.unique()) == 64 for row in idx[:, 1:])  # 160 candidates >= K: no repeats

    # more negatives than a class has candidates: drawn with replacement, still from other classes
    distiller.nce_k = 500
    idx = distiller.sample_contrast_index(target, index)
    assert idx.shape == (BATCH, 501)
    assert (TRAIN_LABELS[idx[:, 1:]] != target[:, None]).all()


def test_crd_state_dict_round_trip_reproduces_next_loss(teachers):
    distiller, batch = crd_batch(teachers)
    distiller(*batch)  # sets Z, moves the memory and the generator away from their initial state
    buffer = io.BytesIO()
    torch.save(distiller.state_dict(), buffer)  # as a checkpoint stores it
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    fresh, _ = crd_batch(teachers, seed=123)
    assert not torch.equal(fresh.generator.get_state(), distiller.generator.get_state())
    fresh.load_state_dict(saved)
    assert torch.equal(fresh.generator.get_state(), distiller.generator.get_state())

    feat_s, feat_t, logit_s, logit_t, target, index = batch
    next_batch = ([f.detach() for f in feat_s], feat_t, logit_s.detach(), logit_t, target, index.flip(0))
    expected = distiller(*next_batch)
    got = fresh(*next_batch)
    assert torch.equal(got, expected)
    assert torch.equal(fresh.memory.memory_s, distiller.memory.memory_s)


def test_factor_init_learning_rate_follows_crd():
    distiller = FT.FTDistiller((2, 8, 4, 4), (2, 8, 4, 4), init_epochs=1)
    assert distiller.init_learning_rate(make_opt(model_s="resnet8x4", learning_rate=0.05)) == 0.01
    assert distiller.init_learning_rate(make_opt(model_s="wrn_16_2", learning_rate=0.05)) == 0.01
    assert distiller.init_learning_rate(make_opt(model_s="vgg8", learning_rate=0.05)) == 0.05
