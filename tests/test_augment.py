"""The stronger-DA registry: each DA's defining property, checked numerically."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st, HealthCheck
from torchvision.transforms import v2
from torchvision.transforms.v2 import AutoAugmentPolicy, InterpolationMode

from helper.augment import (AUGMENTATIONS, AugmentedBatch, CutMix, DAConfig, build_augmentation, mixed_cross_entropy,
                            softmax_entropy)

NAMES = ["identity", "flip", "crop+flip", "cutout", "autoaugment", "mixup", "cutmix", "cutmix_pick"]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def noise_images(b=64, c=3, h=32, w=32, seed=123, dtype=torch.uint8):
    """Random images without zero pixels, so a zero fill is recognisable."""
    x = torch.randint(1, 256, (b, c, h, w), generator=gen(seed), dtype=torch.uint8)
    return x if dtype == torch.uint8 else x.to(dtype) / 255


def constant_images(b, h=32, w=32):
    """Image i is the constant i + 1: a pixel's value says which image it came from."""
    return (torch.arange(b, dtype=torch.uint8) + 1).view(b, 1, 1, 1).expand(b, 3, h, w).contiguous()


def mean_scorer(x):
    """Logits from each image's channel means: deterministic, so entropies are known."""
    m = x.float().mean(dim=(2, 3))
    m = m / 255 if x.dtype == torch.uint8 else m
    return torch.stack([8 * m[:, 0], 4 * m[:, 1], torch.zeros_like(m[:, 0])], dim=1)


def da(name, **kw):
    return build_augmentation(name, DAConfig(image_size=kw.pop("image_size", 32), **kw))


# ----------------------------------------------------------------------------- registry, config

def test_registry_names_and_unknown_name():
    assert list(AUGMENTATIONS)[:len(NAMES)] == NAMES, "the paper's DAs first, in its order"
    for name in NAMES:
        aug = da(name)
        assert aug.name == name
        assert aug.needs_scorer == (name == "cutmix_pick")
    with pytest.raises(ValueError) as err:
        da("blur")
    msg = str(err.value)
    assert "unknown DA 'blur'" in msg
    assert all(name in msg for name in NAMES)


def test_config_derived_facts():
    cifar, tiny = DAConfig(32), DAConfig(64)
    assert (cifar.pad, cifar.cutout_size, cifar.autoaugment_policy) == (4, 8, AutoAugmentPolicy.CIFAR10)
    assert (tiny.pad, tiny.cutout_size, tiny.autoaugment_policy) == (8, 16, AutoAugmentPolicy.IMAGENET)
    assert cifar.granularity == "sample" and cifar.mix_n_run == 2 and cifar.n_pick is None
    with pytest.raises(ValueError):
        DAConfig(32, granularity="epoch")


# ----------------------------------------------------------------------------- identity, crops

def test_identity_returns_x():
    x = noise_images(b=8)
    out = da("identity")(x, gen())
    assert torch.equal(out.x, x) and out.x.dtype == x.dtype
    assert torch.equal(out.source, torch.arange(8)) and torch.equal(out.partner, torch.arange(8))
    assert torch.equal(out.lam, torch.ones(8)) and out.lam.dtype == torch.float32 and out.logits is None


def shift_hits(out, x, pad):
    """(B, (2*pad+1)**2) bool: which zero-padded shifts of x equal out, per image."""
    _, _, h, w = x.shape
    windows = F.pad(x, (pad, pad, pad, pad)).unfold(2, h, 1).unfold(3, w, 1)  # (B, C, n, n, H, W)
    return (windows == out[:, :, None, None]).all(-1).all(-1).all(1).flatten(1)


def test_crop_flip_is_shifted_maybe_mirrored_copy():
    x = noise_images(b=64)
    out = da("crop+flip")(x, gen(4)).x
    plain, mirror = shift_hits(out, x, 4), shift_hits(out.flip(-1), x, 4)
    assert ((plain.sum(1) + mirror.sum(1)) == 1).all()
    assert plain.any(1).any() and mirror.any(1).any()
    offsets = torch.where(plain.any(1), plain.int().argmax(1), mirror.int().argmax(1))
    assert len(offsets.unique()) > 20  # each image its own offset
    assert (out == 0).any()  # zero fill


def test_flip_da():
    x = noise_images(b=64)
    out = da("flip")(x, gen(2)).x
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert (mirrored | (out == x).flatten(1).all(1)).all()
    assert 0 < mirrored.sum() < 64


# ----------------------------------------------------------------------------- cutout

def zero_rectangles(out):
    """Per image: the bounds (y1, y2, x1, x2) of its all-channel-zero pixels, asserting they
    form one rectangle."""
    zero = (out == 0).all(1)  # (B, H, W)
    boxes = []
    for z in zero:
        rows, cols = z.any(1), z.any(0)
        assert torch.equal(z, rows[:, None] & cols[None, :]), "zero pixels must form a rectangle"
        r, c = rows.nonzero().squeeze(1), cols.nonzero().squeeze(1)
        assert len(r) and (r.diff() == 1).all() and (c.diff() == 1).all()
        boxes.append((int(r[0]), int(r[-1]) + 1, int(c[0]), int(c[-1]) + 1))
    return boxes


@pytest.mark.parametrize("size", [32, 64])
def test_cutout_one_clipped_square_per_image(size):
    x = noise_images(b=64, h=size, w=size)
    out = da("cutout", image_size=size)(x, gen(11)).x
    side = size // 4
    zero = (out == 0).all(1, keepdim=True)
    assert torch.equal(torch.where(zero, x, out), x), "outside the hole the image is untouched"
    boxes = zero_rectangles(out)
    for y1, y2, x1, x2 in boxes:
        for lo, hi in ((y1, y2), (x1, x2)):
            assert hi - lo == side or lo == 0 or hi == size, "full side unless clipped"
            assert side // 2 <= hi - lo <= side
    assert len(set(boxes)) > 30, "each image its own hole"
    assert any(b[1] - b[0] < side or b[3] - b[2] < side for b in boxes)  # some are clipped


def test_cutout_fills_dataset_mean():
    mean = (0.5, 0.25, 0.75)
    x = noise_images(b=16)
    out = da("cutout", mean=mean)(x, gen(3)).x
    hole = (out != x).any(1)
    fill = torch.tensor([128, 64, 191], dtype=torch.uint8)  # round(255 * mean)
    for i in range(16):
        assert (out[i][:, hole[i]] == fill[:, None]).all()
    xf = noise_images(b=16, dtype=torch.float32)
    outf = da("cutout", mean=mean)(xf, gen(3)).x
    # The same holes, and the hole normalises to 0, as the original code's cutout after Normalize.
    assert torch.equal((outf != xf).any(1), hole)
    normalised = (outf - torch.tensor(mean).view(1, 3, 1, 1))
    assert torch.allclose(normalised.permute(0, 2, 3, 1)[hole], torch.zeros(1), atol=1e-7)


# ----------------------------------------------------------------------------- mixup

@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_mixup_is_convex_combination_with_another_image(dtype):
    x = noise_images(b=64, dtype=dtype)
    out = da("mixup")(x, gen(5))
    assert out.x.dtype == dtype
    assert torch.equal(out.source, torch.arange(64))
    assert not (out.partner == out.source).any(), "never mixed with itself"
    assert torch.equal(out.partner.sort().values, torch.arange(64))
    assert ((out.lam >= 0) & (out.lam <= 1)).all() and out.lam.dtype == torch.float32
    assert out.lam.std() > 0.1, "each image its own lambda"
    lam = out.lam.view(-1, 1, 1, 1)
    xf = x.double()
    expected = lam * xf + (1 - lam) * xf[out.partner]
    tol = 1e-6 if dtype == torch.float32 else 0.5 + 1e-4
    assert (out.x.double() - expected).abs().max() <= tol


# ----------------------------------------------------------------------------- cutmix

def check_cutmix(out, x, b, h, w):
    """Pixel provenance of cutmix views of constant_images: returns the pasted boxes."""
    values = x[:, 0, 0, 0].long()
    v = out.x[:, 0].long()  # (B', H, W)
    src_val = values[out.source].view(-1, 1, 1)
    par_val = values[out.partner].view(-1, 1, 1)
    assert ((v == src_val) | (v == par_val)).all(), "every pixel comes from source or partner"
    assert not (out.partner == out.source).any()
    frac_source = (v == src_val).flatten(1).float().mean(1)
    assert torch.allclose(frac_source, out.lam, atol=1e-6), "lam is the source's pixel fraction"
    boxes = []
    for pasted in (v == par_val):
        rows, cols = pasted.any(1), pasted.any(0)
        assert torch.equal(pasted, rows[:, None] & cols[None, :]), "pasted region is a box"
        r, c = rows.nonzero().squeeze(1), cols.nonzero().squeeze(1)
        boxes.append((int(r[0]), int(r[-1]) + 1, int(c[0]), int(c[-1]) + 1) if len(r) else None)
    return boxes


def test_cutmix_box_from_partner_and_lambda_is_pixel_ratio():
    b, h, w = 64, 32, 32
    x = constant_images(b, h, w)
    out = CutMix(DAConfig(32))(x, gen(8))
    assert out.x.dtype == torch.uint8
    assert torch.equal(out.partner.sort().values, torch.arange(b))
    boxes = check_cutmix(out, x, b, h, w)
    # The drawn lambda (the generator's first draw) sets the box side; unclipped boxes have it.
    lam0 = torch.rand(b, generator=gen(8), dtype=torch.float64)
    side_h = (h * torch.sqrt(1 - lam0)).long()
    side_w = (w * torch.sqrt(1 - lam0)).long()
    unclipped = 0
    for i, box in enumerate(boxes):
        if box is None:
            assert side_h[i] == 0 or side_w[i] == 0
            continue
        y1, y2, x1, x2 = box
        assert y2 - y1 <= side_h[i] and x2 - x1 <= side_w[i]
        if 0 < y1 and y2 < h and 0 < x1 and x2 < w:
            assert (y2 - y1, x2 - x1) == (side_h[i], side_w[i])
            unclipped += 1
    assert unclipped > 5
    assert len({bx for bx in boxes if bx}) > 30 and out.lam.std() > 0.1


def test_cutmix_non_square():
    x = constant_images(8, 24, 40)
    out = CutMix(DAConfig(24))(x, gen(1))
    check_cutmix(out, x, 8, 24, 40)


# ----------------------------------------------------------------------------- cutmix_pick

class CountingScorer:
    def __init__(self):
        self.calls = []

    def __call__(self, x):
        self.calls.append(x.shape[0])
        return mean_scorer(x)


@pytest.mark.parametrize("mix_n_run,n_pick", [(2, None), (3, 10)])
def test_cutmix_pick_keeps_highest_entropy(mix_n_run, n_pick):
    b = 32
    x = constant_images(b)
    config = DAConfig(32, mix_n_run=mix_n_run, n_pick=n_pick)
    scorer = CountingScorer()
    out = build_augmentation("cutmix_pick", config)(x, gen(21), scorer)
    keep = b if n_pick is None else n_pick
    assert scorer.calls == [mix_n_run * b], "the scorer runs once, on the whole pool"
    assert out.x.shape == (keep, 3, 32, 32) and out.source.shape == out.lam.shape == (keep,)
    check_cutmix(out, x, keep, 32, 32)
    # The pool: cutmix run mix_n_run times with the same generator stream.
    cutmix, g = CutMix(config), gen(21)
    runs = [cutmix(x, g) for _ in range(mix_n_run)]
    pool = torch.cat([r.x for r in runs])
    entropy = softmax_entropy(mean_scorer(pool))
    expected = entropy.topk(keep).indices
    assert torch.equal(out.x, pool[expected])
    assert torch.equal(out.source, torch.cat([r.source for r in runs])[expected])
    assert torch.equal(out.partner, torch.cat([r.partner for r in runs])[expected])
    assert torch.equal(out.lam, torch.cat([r.lam for r in runs])[expected])
    kept_entropy = softmax_entropy(out.logits)
    dropped = torch.ones(len(pool), dtype=torch.bool)
    dropped[expected] = False
    assert kept_entropy.min() >= entropy[dropped].max()
    assert torch.equal(out.logits, mean_scorer(out.x)), "logits are the scorer's on the kept views"


def test_cutmix_pick_needs_a_scorer():
    with pytest.raises(ValueError, match="scorer"):
        da("cutmix_pick")(constant_images(4), gen())


def test_softmax_entropy_known_values():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1000.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(softmax_entropy(logits), torch.tensor([math.log(4), 0.0]))


# ----------------------------------------------------------------------------- autoaugment

def reference_autoaugment(img, policy, params, i):
    """torchvision's own AutoAugment op application, for image i with its drawn parameters."""
    tv = v2.AutoAugment(policy)
    h, w = img.shape[-2:]
    for stage, (op, _, bin_) in enumerate(tv._policies[int(params.subpolicy[i])]):
        if not params.applied[i, stage]:
            continue
        magnitudes_fn, signed = tv._AUGMENTATION_SPACE[op]
        magnitudes = magnitudes_fn(10, h, w)
        magnitude = 0.0 if magnitudes is None else float(magnitudes[bin_])
        if signed and magnitudes is not None and params.negative[i, stage]:
            magnitude = -magnitude
        img = tv._apply_image_or_video_transform(img, op, magnitude, InterpolationMode.NEAREST,
                                                 tv._fill)
    return img


@pytest.mark.parametrize("size,dtype", [(32, torch.uint8), (32, torch.float32), (64, torch.uint8)])
def test_autoaugment_per_image_subpolicy_matches_torchvision(size, dtype):
    b = 48
    x = noise_images(b=b, h=size, w=size, dtype=dtype)
    aug = da("autoaugment", image_size=size)
    params = aug.draw(b, gen(13))
    assert len(params.subpolicy.unique()) > 12, "each image draws its own sub-policy"
    assert params.applied.any() and not params.applied.all()
    out = aug(x, gen(13))
    assert out.x.dtype == dtype and out.x.shape == x.shape
    policy = AutoAugmentPolicy.CIFAR10 if size == 32 else AutoAugmentPolicy.IMAGENET
    for i in range(b):
        expected = reference_autoaugment(x[i:i + 1], policy, params, i)
        assert torch.equal(out.x[i:i + 1], expected), f"image {i}"
    changed = (out.x != x).flatten(1).any(1)
    assert changed.sum() > b // 3
    if dtype == torch.float32:
        assert out.x.min() >= 0 and out.x.max() <= 1


def test_autoaugment_draw_frequencies():
    """Sub-policies uniform, each op fires with its policy probability, signs are fair coins."""
    aug = da("autoaugment")
    n = 40000
    params = aug.draw(n, gen(0))
    counts = torch.bincount(params.subpolicy, minlength=25).float()
    assert (counts / n - 1 / 25).abs().max() < 0.01
    probability = torch.tensor([[p for _, p, _ in s] for s in v2.AutoAugment(
        AutoAugmentPolicy.CIFAR10)._policies])[params.subpolicy]
    for stage in range(2):
        for p in probability[:, stage].unique():
            fired = params.applied[probability[:, stage] == p, stage].float().mean()
            assert abs(fired - p) < 0.03
    assert (params.negative.float().mean(0) - 0.5).abs().max() < 0.01


def test_autoaugment_batch_granularity_is_one_draw():
    b = 16
    x = noise_images(b=b)
    aug = da("autoaugment", granularity="batch")
    for seed in range(4):
        params = aug.draw(b, gen(seed))
        assert (params.subpolicy == params.subpolicy[0]).all()
        assert (params.applied == params.applied[:1]).all()
        assert (params.negative == params.negative[:1]).all()
        out = aug(x, gen(seed)).x
        assert torch.equal(out, reference_autoaugment(x, AutoAugmentPolicy.CIFAR10, params, 0))


# ----------------------------------------------------------------------------- batch granularity

def test_batch_granularity_one_draw_per_batch():
    x = noise_images(b=32)
    crop = da("crop+flip", granularity="batch")(x, gen(3)).x
    plain, mirror = shift_hits(crop, x, 4), shift_hits(crop.flip(-1), x, 4)
    assert (plain == plain[:1]).all() and (mirror == mirror[:1]).all()
    assert (plain.any(1) | mirror.any(1)).all()

    flip = da("flip", granularity="batch")(x, gen(3)).x
    assert torch.equal(flip, x) or torch.equal(flip, x.flip(-1))

    cut = da("cutout", granularity="batch")(x, gen(3)).x
    assert len(set(zero_rectangles(cut))) == 1

    mix = da("mixup", granularity="batch")(x, gen(3))
    assert (mix.lam == mix.lam[0]).all()
    assert torch.equal(mix.partner.sort().values, torch.arange(32))  # a randperm

    xc = constant_images(32)
    cm = da("cutmix", granularity="batch")(xc, gen(3))
    assert (cm.lam == cm.lam[0]).all()
    boxes = check_cutmix(cm, xc, 32, 32, 32)
    assert len(set(boxes)) == 1


def test_same_seed_same_views_and_per_call_variation():
    for dtype in (torch.uint8, torch.float32):
        x = noise_images(b=16, dtype=dtype)
        for name in NAMES:
            aug = da(name)
            a, b = aug(x, gen(42), mean_scorer), aug(x, gen(42), mean_scorer)
            for field in ("x", "source", "partner", "lam"):
                assert torch.equal(getattr(a, field), getattr(b, field)), (name, field)
            if name != "identity":
                c = aug(x, gen(43), mean_scorer)
                assert not torch.equal(a.x, c.x), name


def test_mixed_cross_entropy_equals_ce_against_soft_labels():
    y = torch.tensor([0, 1, 2, 3])
    batch = AugmentedBatch(torch.zeros(4, 3, 2, 2), torch.arange(4), torch.tensor([1, 0, 3, 2]),
                           torch.tensor([1.0, 0.25, 0.5, 0.0]))
    soft = torch.tensor([[1.0, 0, 0, 0], [0.75, 0.25, 0, 0], [0, 0, 0.5, 0.5], [0, 0, 1.0, 0]])
    logits = torch.randn(4, 4, generator=gen())
    expected = -(soft * F.log_softmax(logits, 1)).sum(1).mean()
    assert torch.allclose(mixed_cross_entropy(logits, y, batch), expected, atol=1e-6)


# ----------------------------------------------------------------------------- properties

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NAMES), b=st.integers(2, 6),
       shape=st.sampled_from([(32, 32), (64, 64), (24, 40)]),
       dtype=st.sampled_from([torch.uint8, torch.float32]),
       granularity=st.sampled_from(["sample", "batch"]), seed=st.integers(0, 2 ** 31 - 1))
def test_every_da_keeps_shape_dtype_range_and_is_reproducible(name, b, shape, dtype, granularity, seed):
    h, w = shape
    x = torch.randint(0, 256, (b, 3, h, w), generator=gen(seed), dtype=torch.uint8)
    x = x if dtype == torch.uint8 else x.float() / 255
    aug = build_augmentation(name, DAConfig(image_size=min(h, w), granularity=granularity))
    out = aug(x, gen(seed), mean_scorer)
    again = aug(x, gen(seed), mean_scorer)
    assert out.x.shape == x.shape and out.x.dtype == dtype
    if dtype == torch.float32:
        assert not torch.isnan(out.x).any()
        assert out.x.min() >= 0 and out.x.max() <= 1
    for field in ("x", "source", "partner", "lam"):
        assert torch.equal(getattr(out, field), getattr(again, field))
    assert out.source.dtype == out.partner.dtype == torch.int64 and out.lam.dtype == torch.float32
    assert out.source.shape == out.partner.shape == out.lam.shape == (b,)
    assert ((0 <= out.partner) & (out.partner < b)).all() and ((0 <= out.lam) & (out.lam <= 1)).all()
    if name in ("mixup", "cutmix", "cutmix_pick") and granularity == "sample":
        assert not (out.partner == out.source).any()
    if name == "cutmix_pick":
        assert torch.equal(out.logits, mean_scorer(out.x))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_draws_match_cpu():
    x = noise_images(b=16)
    for name in NAMES:
        aug = da(name)
        cpu = aug(x, gen(5), mean_scorer)
        cuda = aug(x.cuda(), gen(5), mean_scorer)
        assert cuda.x.device.type == "cuda"
        for field in ("source", "partner", "lam"):
            assert torch.equal(getattr(cpu, field), getattr(cuda, field).cpu()), (name, field)
        assert (cpu.x.int() - cuda.x.cpu().int()).abs().max() <= 1, name
