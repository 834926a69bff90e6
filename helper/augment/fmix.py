"""FMix (Harris et al. 2020): mix two images through a binarised low-frequency Fourier mask."""
from typing import NamedTuple

import torch
from torch import Tensor

from helper.augment.base import AugmentedBatch, Augmentation, check_beta, partners, sample_beta, unmixed
from helper.augment.params import Param


class FMixParams(NamedTuple):
    """CPU tensors: mask (B, H, W) bool, True where the pixel is the image's own; partner (B,);
    lam (B,) float32, the exact fraction of own pixels."""
    mask: Tensor
    partner: Tensor
    lam: Tensor


def low_frequency_images(n: int, height: int, width: int, decay_power: float, generator) -> Tensor:
    """(n, H, W) float64 grey images of random phase whose spectrum decays as 1 / f^decay_power
    (FMix's make_low_freq_image: Gaussian real and imaginary parts, the frequency floored at
    1 / max(H, W), inverse real FFT), each scaled to [0, 1]."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64).view(-1, 1)
    fx = torch.fft.rfftfreq(width, dtype=torch.float64).view(1, -1)
    freqs = torch.sqrt(fx ** 2 + fy ** 2).clamp_min(1.0 / max(height, width))
    scale = freqs.pow(-decay_power)
    parts = torch.randn(n, height, width // 2 + 1, 2, generator=generator, dtype=torch.float64)
    spectrum = torch.complex(parts[..., 0], parts[..., 1]) * scale
    image = torch.fft.irfft2(spectrum, s=(height, width))
    low = image.flatten(1).min(dim=1).values.view(n, 1, 1)
    high = image.flatten(1).max(dim=1).values.view(n, 1, 1)
    return (image - low) / (high - low).clamp_min(1e-12)


def binarise(images: Tensor, lam: Tensor, round_up: Tensor) -> Tensor:
    """FMix's binarise_mask: the round(lam * H * W) brightest pixels of each image are True,
    rounding up or down as ``round_up`` says (the official code flips a fair coin)."""
    n, h, w = images.shape
    count = lam.double() * h * w
    count = torch.where(round_up, torch.ceil(count), torch.floor(count)).long()
    rank = images.flatten(1).argsort(dim=1, descending=True, stable=True).argsort(dim=1)
    return (rank < count.view(n, 1)).view(n, h, w)


class FMix(Augmentation):
    """x' = mask * x + (1 - mask) * x[partner], with a binary mask holding the round(lam * H * W)
    brightest pixels of a random low-frequency image, lam ~ Beta(alpha, alpha); lam is then the
    exact fraction of the image's own pixels. Each image draws its own mask, lam and partner (a
    different image); with batch granularity one mask and lam and a permutation, as the
    official code."""
    name, label, mixes = "fmix", "FMix", True
    params = (Param("alpha", float, 1.0, low=0.0, low_open=True, search=(0.1, 2.0),
                    help="lam ~ Beta(alpha, alpha)"),
              Param("decay_power", float, 3.0, low=0.0, low_open=True, search=(1.0, 5.0),
                    help="the spectrum decays as 1 / f^decay_power: larger, smoother masks"))

    def __init__(self, config, **options):
        super().__init__(config, **options)
        check_beta(self.alpha)

    def draw(self, batch_size: int, height: int, width: int, generator=None) -> FMixParams:
        per_sample = self.config.per_sample
        n = batch_size if per_sample else 1
        lam = sample_beta(n, self.alpha, generator, torch.float64)
        round_up = torch.rand(n, generator=generator) > 0.5
        images = low_frequency_images(n, height, width, self.decay_power, generator)
        mask = binarise(images, lam, round_up)
        partner = partners(batch_size, generator, per_sample, allow_self=True)
        own = mask.flatten(1).double().mean(dim=1).float()
        return FMixParams(mask.expand(batch_size, height, width), partner, own.expand(batch_size).contiguous())

    def __call__(self, x, generator=None, scorer=None):
        b, _, h, w = x.shape
        if b < 2:
            return unmixed(x, x.clone())
        drawn = self.draw(b, h, w, generator)
        partner = drawn.partner.to(x.device)
        view = torch.where(drawn.mask.to(x.device).unsqueeze(1), x, x[partner])
        source = torch.arange(b, device=x.device)
        return AugmentedBatch(view, source, partner, drawn.lam.to(x.device))
