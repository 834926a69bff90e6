"""The modern DAs per sample: each image its own draw, one draw with batch granularity, and for a
given draw exactly torchvision's functional op (or a hand computation) image by image."""
import json
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from torchvision.transforms import v2
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

import eval_da_goodness
from helper.augment import DAConfig, build_augmentation
from helper.augment.base import sample_beta
from helper.augment.fmix import binarise, low_frequency_images
from helper.augment.randaugment import NUM_BINS
from helper.core.errors import UsageError
from helper.storage.checkpoint import save_checkpoint
from models import model_dict

NEW = ["randaugment", "trivialaugment", "augmix", "random_erasing", "gridmask", "fmix", "resizemix"]
MIXING = ("fmix", "resizemix")


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def noise_images(b=32, h=32, w=32, seed=123, dtype=torch.uint8):
    x = torch.randint(1, 256, (b, 3, h, w), generator=gen(seed), dtype=torch.uint8)
    return x if dtype == torch.uint8 else x.to(dtype) / 255


def da(spec, **config):
    return build_augmentation(spec, DAConfig(config.pop("image_size", 32), **config))


def rows_distinct(*tensors):
    """How many distinct per-image draws a tuple of (B, ...) tensors holds."""
    flat = torch.cat([t.reshape(t.shape[0], -1).double() for t in tensors], dim=1)
    return len(torch.unique(flat, dim=0))


# ----------------------------------------------------------------------------- auto-augment family

def reference_ops(img, space_owner, ops, interpolation):
    """torchvision's own op application, one (op name, magnitude) after the other."""
    for op, magnitude in ops:
        img = space_owner._apply_image_or_video_transform(img, op, magnitude, interpolation, space_owner._fill)
    return img


def drawn_ops(space, num_bins, h, w, op_ids, bins, negatives):
    """(op, signed magnitude) of one image's draws, as torchvision computes magnitudes."""
    names, out = list(space), []
    for op_id, bin_, negative in zip(op_ids.tolist(), bins.tolist(), negatives.tolist()):
        magnitudes_fn, signed = space[names[op_id]]
        magnitudes = magnitudes_fn(num_bins, h, w)
        magnitude = 0.0 if magnitudes is None else float(magnitudes[bin_])
        out.append((names[op_id], -magnitude if signed and magnitudes is not None and negative else magnitude))
    return out


@pytest.mark.parametrize("name,reference", [("randaugment(num_ops=3,magnitude=12)", v2.RandAugment()),
                                            ("trivialaugment", v2.TrivialAugmentWide())])
@pytest.mark.parametrize("size,dtype", [((32, 32), torch.uint8), ((32, 32), torch.float32), ((24, 40), torch.uint8)])
def test_rand_and_trivial_augment_equal_torchvision_image_by_image(name, reference, size, dtype):
    b, (h, w) = 40, size
    x = noise_images(b, h, w, dtype=dtype)
    aug = da(name, image_size=min(h, w))
    drawn = aug.draw(b, gen(7))
    assert rows_distinct(drawn.op, drawn.bin, drawn.negative) > 30, "each image draws its own ops"
    if name.startswith("randaugment"):
        assert drawn.op.shape == (b, 3) and (drawn.bin == 12).all()
    out = aug(x, gen(7)).x
    assert out.dtype == dtype and out.shape == x.shape
    for i in range(b):
        ops = drawn_ops(reference._AUGMENTATION_SPACE, NUM_BINS, h, w, drawn.op[i], drawn.bin[i], drawn.negative[i])
        expected = reference_ops(x[i:i + 1], reference, ops, InterpolationMode.NEAREST)
        assert torch.equal(out[i:i + 1], expected), (i, ops)


def test_draw_frequencies_of_rand_and_trivial_augment():
    n = 20000
    ra = da("randaugment").draw(n, gen(0))
    assert (torch.bincount(ra.op.flatten(), minlength=14).float() / (2 * n) - 1 / 14).abs().max() < 0.01
    ta = da("trivialaugment").draw(n, gen(1))
    assert (torch.bincount(ta.bin.flatten(), minlength=NUM_BINS).float() / n - 1 / NUM_BINS).abs().max() < 0.01
    assert abs(ta.negative.float().mean() - 0.5) < 0.02


def augmix_reference(img, drawn, i, h, w):
    """torchvision's AugMix.forward for one image with the given draws (its formula, its ops)."""
    tv = v2.AugMix()
    mix = drawn.m[i, 0].reshape(1, 1, 1, 1) * img
    for chain in range(drawn.weights.shape[1]):
        depth = int(drawn.depth[i, chain])
        ops = drawn_ops(tv._AUGMENTATION_SPACE, 10, h, w, drawn.op[i, chain, :depth], drawn.bin[i, chain, :depth],
                        drawn.negative[i, chain, :depth])
        mix.add_(drawn.weights[i, chain].reshape(1, 1, 1, 1) * reference_ops(img, tv, ops, InterpolationMode.BILINEAR))
    return (mix.clamp(0, 1) if img.is_floating_point() else mix).to(img.dtype)  # our clamp of float rounding


@pytest.mark.parametrize("spec,dtype", [("augmix", torch.uint8), ("augmix(severity=5,width=2,depth=2,alpha=0.5)",
                                                                   torch.float32)])
def test_augmix_equals_torchvision_image_by_image(spec, dtype):
    b = 24
    x = noise_images(b, dtype=dtype)
    aug = da(spec)
    drawn = aug.draw(b, gen(3))
    assert rows_distinct(drawn.m) == b and rows_distinct(drawn.op) == b
    assert torch.allclose(drawn.m.sum(1), torch.ones(b)) and (drawn.bin < aug.severity).all()
    if aug.depth > 0:
        assert (drawn.depth == aug.depth).all()
    else:
        assert set(drawn.depth.unique().tolist()) == {1, 2, 3}
    out = aug(x, gen(3)).x
    for i in range(b):
        assert torch.equal(out[i:i + 1], augmix_reference(x[i:i + 1], drawn, i, 32, 32)), i


# ----------------------------------------------------------------------------- erasing, grid

@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_random_erasing_equals_torchvision_erase_image_by_image(dtype):
    b, h, w = 64, 32, 32
    x = noise_images(b, h, w, dtype=dtype)
    aug = da("random_erasing(p=0.7,fill=zero)")
    drawn = aug.draw(b, h, w, gen(5))
    applied = drawn.applied
    assert 0.5 < applied.float().mean() < 0.9 and rows_distinct(drawn.top, drawn.left, drawn.height) > 40
    area = (drawn.height * drawn.width).double()[applied] / (h * w)
    assert (area > 0.01).all() and (area < 0.4).all()
    assert ((drawn.height < h) & (drawn.width < w)).all()
    out = aug(x, gen(5)).x
    for i in range(b):
        expected = x[i:i + 1]
        if applied[i]:
            expected = TF.erase(expected, int(drawn.top[i]), int(drawn.left[i]), int(drawn.height[i]),
                                int(drawn.width[i]), torch.zeros((), dtype=dtype))
        assert torch.equal(out[i:i + 1], expected), i


def test_random_erasing_fills():
    x = noise_images(16)
    mean = (0.5, 0.25, 0.0)
    out = da("random_erasing(p=1)", mean=mean)(x, gen(2)).x
    changed = out != x
    assert changed.any(1).flatten(1).any(1).all(), "p=1 erases every image"
    hole = changed.any(1)
    painted = out.permute(0, 2, 3, 1)[hole]
    assert (painted == torch.tensor([128, 64, 0], dtype=torch.uint8)).all()
    noise = da("random_erasing(p=1,fill=random)")(x, gen(2)).x
    assert len(noise.permute(0, 2, 3, 1)[hole].unique()) > 200
    assert torch.equal(da("random_erasing(p=0)")(x, gen(2)).x, x)


def test_gridmask_against_a_hand_built_grid():
    b, h, w = 48, 32, 32
    x = noise_images(b, h, w)
    aug = da("gridmask(d_min=6,d_max=12,ratio=0.5,p=0.75,fill=zero)")
    drawn = aug.draw(b, gen(4))
    assert set(drawn.d.unique().tolist()) <= set(range(6, 13)) and len(drawn.d.unique()) > 4
    assert rows_distinct(drawn.d, drawn.offset_y, drawn.offset_x) > 40
    assert torch.equal(drawn.kept, torch.ceil(drawn.d * 0.5).long())
    out = aug(x, gen(4)).x
    for i in range(b):
        d, kept, oy, ox = (int(t[i]) for t in drawn[:4])
        expected = x[i].clone()
        if drawn.applied[i]:
            for y in range(h):
                for xx in range(w):
                    if (y - oy) % d >= kept and (xx - ox) % d >= kept:
                        expected[:, y, xx] = 0
        assert torch.equal(out[i], expected), i
    assert 0.6 < drawn.applied.float().mean() < 0.9


def test_gridmask_default_periods_follow_the_image_size():
    assert da("gridmask").periods() == (8, 16) and da("gridmask", image_size=64).periods() == (16, 32)
    with pytest.raises(UsageError, match="gridmask needs d_min <= d_max, got 20 > 10 on 32x32 images"):
        da("gridmask(d_min=20,d_max=10)")
    with pytest.raises(UsageError, match="got 8 > 4"):
        da("gridmask(d_max=4)")


# ----------------------------------------------------------------------------- mixing

def test_fmix_mask_is_low_frequency_and_binarised_to_lam():
    images = low_frequency_images(200, 32, 32, 3.0, gen(0))
    assert images.shape == (200, 32, 32)
    assert torch.allclose(images.flatten(1).min(1).values, torch.zeros(200, dtype=torch.float64))
    assert torch.allclose(images.flatten(1).max(1).values, torch.ones(200, dtype=torch.float64))
    # neighbouring pixels of a 1/f^3 image are far more alike than of white noise
    neighbour = (images[:, :, 1:] - images[:, :, :-1]).abs().mean()
    assert neighbour < 0.05
    smooth = low_frequency_images(50, 32, 32, 5.0, gen(1))
    assert (smooth[:, :, 1:] - smooth[:, :, :-1]).abs().mean() < neighbour
    hand = torch.tensor([[[0.1, 0.9], [0.5, 0.3]]], dtype=torch.float64)
    # 0.6 * 4 pixels = 2.4: the 3 (rounded up) or 2 (down) brightest
    assert binarise(hand, torch.tensor([0.6]), torch.tensor([True])).tolist() == [[[False, True], [True, True]]]
    assert binarise(hand, torch.tensor([0.6]), torch.tensor([False])).tolist() == [[[False, True], [True, False]]]


def test_fmix_views_lam_and_partners():
    b = 32
    x = (torch.arange(b, dtype=torch.uint8) + 1).view(b, 1, 1, 1).expand(b, 3, 32, 32).contiguous()
    aug = da("fmix(alpha=0.5,decay_power=2.5)")
    drawn = aug.draw(b, 32, 32, gen(8))
    out = aug(x, gen(8))
    assert not (out.partner == out.source).any() and torch.equal(out.partner, drawn.partner)
    own = (out.x[:, 0] == (out.source + 1).view(b, 1, 1)).flatten(1).float().mean(1)
    other = (out.x[:, 0] == (out.partner + 1).view(b, 1, 1)).flatten(1).float().mean(1)
    assert torch.equal(own, out.lam) and torch.allclose(own + other, torch.ones(b))
    assert rows_distinct(drawn.mask) == b and out.lam.std() > 0.2
    batch = da("fmix", granularity="batch").draw(b, 32, 32, gen(8))
    assert rows_distinct(batch.mask) == 1 and (batch.lam == batch.lam[0]).all()
    assert torch.equal(batch.partner.sort().values, torch.arange(b))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_resizemix_pastes_torchvisions_resize_of_the_partner(dtype):
    b, h, w = 32, 32, 40
    x = noise_images(b, h, w, dtype=dtype)
    aug = da("resizemix(scale=(0.2,0.7))")
    drawn = aug.draw(b, h, w, gen(9))
    assert rows_distinct(drawn.top, drawn.left, drawn.height) > 25
    out = aug(x, gen(9))
    assert not (out.partner == out.source).any()
    for i in range(b):
        top, left, ph, pw, p = (int(t[i]) for t in drawn)
        assert (ph, pw) == (int(drawn.height[i]), int(drawn.width[i])) and 0.2 * h - 1 <= ph <= 0.7 * h
        expected = x[i].clone()
        expected[:, top:top + ph, left:left + pw] = TF.resize(x[p:p + 1], [ph, pw], antialias=True)[0]
        assert torch.equal(out.x[i], expected), i
        assert out.lam[i] == pytest.approx(1 - ph * pw / (h * w))


# ----------------------------------------------------------------------------- granularity, params

@pytest.mark.parametrize("name", NEW)
def test_batch_granularity_is_one_draw_and_sample_is_many(name):
    b = 32
    per_sample, per_batch = da(name), da(name, granularity="batch")
    args = (b, 32, 32) if name in ("random_erasing", "fmix", "resizemix") else (b,)
    one, many = per_batch.draw(*args, gen(1)), per_sample.draw(*args, gen(1))
    fields = [f for f in one._fields if f != "partner"]
    assert rows_distinct(*(getattr(one, f) for f in fields)) == 1
    assert rows_distinct(*(getattr(many, f) for f in fields)) > b // 2
    if name in MIXING:
        assert torch.equal(one.partner.sort().values, torch.arange(b)), "the original code's permutation"


def test_beta_draws_for_alpha_other_than_one():
    for alpha in (0.2, 0.5, 2.0):
        lam = sample_beta(40000, alpha, gen(0), torch.float64)
        assert abs(lam.mean() - 0.5) < 0.01 and abs(lam.var() - 1 / (4 * (2 * alpha + 1))) < 0.005
    assert torch.equal(sample_beta(5, 1.0, gen(3)), torch.rand(5, generator=gen(3)))
    x = noise_images(1000)
    extreme = {alpha: ((lam < 0.05) | (lam > 0.95)).float().mean()
               for alpha in (0.2, 1.0) for lam in [da(f"cutmix(alpha={alpha})")(x, gen(0)).lam]}
    assert extreme[0.2] > extreme[1.0] + 0.1, "alpha < 1 favours extreme boxes"


@pytest.mark.parametrize("spec", ["randaugment(num_ops=0)", "random_erasing(p=0)", "gridmask(p=0)"])
def test_parameters_that_leave_images_alone(spec):
    x = noise_images(8)
    assert torch.equal(da(spec)(x, gen(0)).x, x)


# ----------------------------------------------------------------------------- properties

@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NEW), b=st.integers(2, 5), shape=st.sampled_from([(32, 32), (64, 64), (24, 40)]),
       dtype=st.sampled_from([torch.uint8, torch.float32]), granularity=st.sampled_from(["sample", "batch"]),
       seed=st.integers(0, 2 ** 31 - 1))
def test_every_new_da_keeps_shape_dtype_range_and_is_reproducible(name, b, shape, dtype, granularity, seed):
    h, w = shape
    x = torch.randint(0, 256, (b, 3, h, w), generator=gen(seed), dtype=torch.uint8)
    x = x if dtype == torch.uint8 else x.float() / 255
    aug = build_augmentation(name, DAConfig(image_size=min(h, w), granularity=granularity))
    out, again = aug(x, gen(seed)), aug(x, gen(seed))
    assert out.x.shape == x.shape and out.x.dtype == dtype
    if dtype == torch.float32:
        assert not torch.isnan(out.x).any() and out.x.min() >= 0 and out.x.max() <= 1
    for field in ("x", "source", "partner", "lam"):
        assert torch.equal(getattr(out, field), getattr(again, field))
    assert out.source.dtype == out.partner.dtype == torch.int64 and out.lam.dtype == torch.float32
    assert ((0 <= out.lam) & (out.lam <= 1)).all() and out.lam.shape == (b,)
    if name in MIXING and granularity == "sample":
        assert not (out.partner == out.source).any()
    if name not in MIXING:
        assert torch.equal(out.partner, out.source) and (out.lam == 1).all()


# ----------------------------------------------------------------------------- T. stddev of a spec

def test_eval_da_goodness_scores_parameterised_modern_das(tmp_path):
    model = model_dict["resnet8"](num_classes=10)
    ckpt = str(tmp_path / "resnet8.pth")
    save_checkpoint({"model": model.state_dict(), "arch": "resnet8", "num_classes": 10, "dataset": "digits",
                     "epoch": 0, "accuracy": 0.0}, ckpt)
    out = tmp_path / "goodness.json"
    eval_da_goodness.main(["--dataset", "digits", "--train_subset", "60", "--test_subset", "20", "--path_t", ckpt,
                           "--mix_mode", "randaugment(num_ops=2,magnitude=9)", "augmix(width=2)",
                           "pick(fmix,n_run=2,by=teacher)", "--n_groups", "2", "--group_batches", "2",
                           "--batch_size", "8", "--n_bootstrap", "20", "--device", "cpu", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert set(saved["results"]) == {"randaugment", "augmix(width=2)", "pick(fmix)"}
    assert saved["da_specs"]["augmix(width=2)"] == {"name": "augmix", "params": {
        "severity": 3, "width": 2, "depth": -1, "alpha": 1.0}}
    assert all(math.isfinite(r["t_stddev"]) for r in saved["results"].values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_draws_match_cpu():
    x = noise_images(16)
    for name in NEW:
        aug = da(name)
        cpu, cuda = aug(x, gen(5)), aug(x.cuda(), gen(5))
        assert cuda.x.device.type == "cuda"
        for field in ("source", "partner", "lam"):
            assert torch.equal(getattr(cpu, field), getattr(cuda, field).cpu()), (name, field)
        assert (cpu.x.int() - cuda.x.cpu().int()).abs().max() <= 1, name
