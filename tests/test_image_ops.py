"""Batched image primitives: crop, flip, standard DA, boxes, derangements."""
import pytest
import torch
import torch.nn.functional as F

from helper.core.image_ops import (box_area, box_mask, random_crop, random_derangement, random_hflip, sample_boxes,
                                   standard_augment)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def noise_images(b=64, c=3, h=32, w=32, seed=123, dtype=torch.uint8):
    """Random images with no zero pixel, so zero padding is recognisable."""
    x = torch.randint(1, 256, (b, c, h, w), generator=gen(seed), dtype=torch.uint8)
    return x if dtype == torch.uint8 else x.to(dtype) / 255


def matching_shifts(out, x, pad):
    """(B, 2*pad+1, 2*pad+1) bool: which zero-padded shifts of x equal out, per image."""
    _, _, h, w = x.shape
    windows = F.pad(x, (pad, pad, pad, pad)).unfold(2, h, 1).unfold(3, w, 1)  # (B, C, n, n, H, W)
    return (windows == out[:, :, None, None]).all(-1).all(-1).all(1)


def test_random_crop_is_a_zero_padded_shift_per_image():
    x = noise_images()
    out = random_crop(x, 4, gen(7))
    assert out.shape == x.shape and out.dtype == x.dtype
    hits = matching_shifts(out, x, 4)
    assert (hits.flatten(1).sum(1) == 1).all(), "each image must be exactly one shifted copy"
    found = hits.flatten(1).int().argmax(1)
    dy, dx = found // 9, found % 9
    # The offsets are the generator's draws: rows then columns, uniform in [0, 2 * pad].
    expected = torch.randint(0, 9, (2, 64), generator=gen(7))
    assert torch.equal(dy, expected[0]) and torch.equal(dx, expected[1])
    # Different images get different offsets.
    assert len(set(zip(dy.tolist(), dx.tolist()))) > 20
    # Zero fill: some image shifted by a nonzero amount shows zero rows or columns.
    assert (out == 0).any()


def test_random_crop_batch_offset_and_float():
    x = noise_images(dtype=torch.float32)
    out = random_crop(x, 4, gen(3), per_sample=False)
    assert out.dtype == torch.float32
    hits = matching_shifts(out, x, 4)
    assert (hits.flatten(1).sum(1) == 1).all()
    assert (hits == hits[:1]).all(), "per_sample=False: one offset for the whole batch"
    assert torch.equal(random_crop(x, 0, gen(3)), x)


def test_random_hflip_each_image_is_itself_or_its_mirror():
    x = noise_images()
    out = random_hflip(x, gen(1))
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert (same ^ mirrored).all()
    assert same.any() and mirrored.any()
    expected = torch.rand(64, generator=gen(1)) < 0.5
    assert torch.equal(mirrored, expected)


def test_random_hflip_batch_decision():
    x = noise_images(b=16)
    decisions = set()
    for seed in range(12):
        out = random_hflip(x, gen(seed), per_sample=False)
        mirrored = (out == x.flip(-1)).flatten(1).all(1)
        assert mirrored.all() or (~mirrored).all()
        assert torch.equal(out, x) or torch.equal(out, x.flip(-1))
        decisions.add(bool(mirrored[0]))
    assert decisions == {True, False}


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_standard_augment_is_crop_then_flip(dtype):
    x = noise_images(b=32, h=32, w=32, dtype=dtype)
    out = standard_augment(x, 4, gen(5))
    assert out.shape == x.shape and out.dtype == dtype
    plain = matching_shifts(out, x, 4).flatten(1).any(1)
    mirror = matching_shifts(out.flip(-1), x, 4).flatten(1).any(1)
    assert (plain | mirror).all()
    assert plain.any() and mirror.any()
    assert torch.equal(out, standard_augment(x, 4, gen(5)))
    assert not torch.equal(out, standard_augment(x, 4, gen(6)))


def test_random_crop_non_square_and_64():
    for h, w, pad in [(24, 40, 3), (64, 64, 8)]:
        x = noise_images(b=8, h=h, w=w)
        out = random_crop(x, pad, gen(2))
        assert out.shape == x.shape
        assert (matching_shifts(out, x, pad).flatten(1).sum(1) == 1).all()


def test_sample_boxes_and_mask():
    boxes = sample_boxes(500, 32, 40, 8, 10, gen(0))
    assert boxes.dtype == torch.int64 and boxes.shape == (500, 4)
    y1, y2, x1, x2 = boxes.unbind(1)
    assert ((0 <= y1) & (y1 < y2) & (y2 <= 32) & (0 <= x1) & (x1 < x2) & (x2 <= 40)).all()
    hh, ww = y2 - y1, x2 - x1
    # Full size unless clipped at a border; at least half the box (the centre is inside).
    assert ((hh == 8) | (y1 == 0) | (y2 == 32)).all() and (hh >= 4).all()
    assert ((ww == 10) | (x1 == 0) | (x2 == 40)).all() and (ww >= 5).all()
    assert (hh < 8).any() and (hh == 8).any()
    mask = box_mask(boxes, 32, 40)
    assert mask.shape == (500, 1, 32, 40)
    assert torch.equal(mask.flatten(1).sum(1), box_area(boxes))
    # Per-sample sizes.
    sizes = torch.tensor([0, 5, 32])
    b2 = sample_boxes(3, 32, 32, sizes, sizes, gen(1))
    assert box_area(b2)[0] == 0 and box_area(b2)[2] > 0


def test_random_derangement():
    for n in range(2, 12):
        p = random_derangement(n, gen(n))
        assert torch.equal(p.sort().values, torch.arange(n))
        assert not (p == torch.arange(n)).any()
    seen = {tuple(random_derangement(3, gen(s)).tolist()) for s in range(40)}
    assert seen == {(1, 2, 0), (2, 0, 1)}
    assert torch.equal(random_derangement(1, gen()), torch.arange(1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_draws_match_cpu():
    x = noise_images(b=16)
    for fn in (lambda t, g: random_crop(t, 4, g), lambda t, g: random_hflip(t, g),
               lambda t, g: standard_augment(t, 4, g)):
        assert torch.equal(fn(x, gen(9)), fn(x.cuda(), gen(9)).cpu())
