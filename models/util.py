"""Helper modules that the feature-based distillers put on top of the student or teacher
(FitNet, FT, AB, Overhaul, CRD, ...), with RepDistiller's module names."""
import math

import torch.nn as nn
import torch.nn.functional as F


def init_resnet_weights(model):
    """He (fan-out) initialisation of convolutions and unit BatchNorm, as RepDistiller's ResNets do;
    the module order fixes the random draws, so initial weights equal RepDistiller's for a seed."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

class GlobalAvgPool2d(nn.Module):
    """Average pooling whose kernel is the whole feature map.

    On 32x32 inputs the CIFAR nets end at a fixed map size, where this is bit-identical to
    RepDistiller's fixed ``AvgPool2d(k)``; on 64x64 inputs (Tiny ImageNet) it still pools globally,
    as the paper's code does with ``F.avg_pool2d(x, x.size(3))``.
    """

    def forward(self, x):
        return F.avg_pool2d(x, kernel_size=x.shape[-2:])


def conv_bn_lrelu(conv, out_channels, use_bn):
    """A conv, an optional BN, LeakyReLU(0.1). Identity stands in for a missing BN so that the
    Sequential indices (hence the state_dict keys) stay those of RepDistiller."""
    return [conv, nn.BatchNorm2d(out_channels) if use_bn else nn.Identity(), nn.LeakyReLU(0.1, inplace=True)]


class Paraphraser(nn.Module):
    """Paraphrasing Complex Network: Network Compression via Factor Transfer (FT)."""

    def __init__(self, t_shape, k=0.5, use_bn=False):
        super().__init__()
        in_channel = t_shape[1]
        out_channel = int(t_shape[1] * k)
        self.encoder = nn.Sequential(
            *conv_bn_lrelu(nn.Conv2d(in_channel, in_channel, 3, 1, 1), in_channel, use_bn),
            *conv_bn_lrelu(nn.Conv2d(in_channel, out_channel, 3, 1, 1), out_channel, use_bn),
            *conv_bn_lrelu(nn.Conv2d(out_channel, out_channel, 3, 1, 1), out_channel, use_bn),
        )
        self.decoder = nn.Sequential(
            *conv_bn_lrelu(nn.ConvTranspose2d(out_channel, out_channel, 3, 1, 1), out_channel, use_bn),
            *conv_bn_lrelu(nn.ConvTranspose2d(out_channel, in_channel, 3, 1, 1), in_channel, use_bn),
            *conv_bn_lrelu(nn.ConvTranspose2d(in_channel, in_channel, 3, 1, 1), in_channel, use_bn),
        )

    def forward(self, f_s, is_factor=False):
        factor = self.encoder(f_s)
        if is_factor:
            return factor
        return factor, self.decoder(factor)


class Translator(nn.Module):
    """The student-side encoder of Factor Transfer."""

    def __init__(self, s_shape, t_shape, k=0.5, use_bn=True):
        super().__init__()
        in_channel = s_shape[1]
        out_channel = int(t_shape[1] * k)
        self.encoder = nn.Sequential(
            *conv_bn_lrelu(nn.Conv2d(in_channel, in_channel, 3, 1, 1), in_channel, use_bn),
            *conv_bn_lrelu(nn.Conv2d(in_channel, out_channel, 3, 1, 1), out_channel, use_bn),
            *conv_bn_lrelu(nn.Conv2d(out_channel, out_channel, 3, 1, 1), out_channel, use_bn),
        )

    def forward(self, f_s):
        return self.encoder(f_s)


class Connector(nn.Module):
    """Knowledge Transfer via Distillation of Activation Boundaries Formed by Hidden Neurons (AB):
    maps each student feature to its teacher feature's shape; identity where they already match."""

    def __init__(self, s_shapes, t_shapes):
        super().__init__()
        if len(s_shapes) != len(t_shapes):
            raise ValueError("unequal length of feat list")
        self.s_shapes = s_shapes
        self.t_shapes = t_shapes
        self.connectors = nn.ModuleList([
            nn.Identity() if s[1] == t[1] and s[2] == t[2] else ConvReg(s, t, use_relu=False)
            for s, t in zip(s_shapes, t_shapes)
        ])

    def forward(self, g_s):
        return [connector(f) for connector, f in zip(self.connectors, g_s)]


class ConvReg(nn.Module):
    """Convolutional regression for FitNet: brings a student map (N, C, H, W) to the teacher's."""

    def __init__(self, s_shape, t_shape, use_relu=True):
        super().__init__()
        self.use_relu = use_relu
        _, s_c, s_h, s_w = s_shape
        _, t_c, t_h, t_w = t_shape
        if s_h == 2 * t_h:
            self.conv = nn.Conv2d(s_c, t_c, kernel_size=3, stride=2, padding=1)
        elif s_h * 2 == t_h:
            self.conv = nn.ConvTranspose2d(s_c, t_c, kernel_size=4, stride=2, padding=1)
        elif s_h >= t_h:
            self.conv = nn.Conv2d(s_c, t_c, kernel_size=(1 + s_h - t_h, 1 + s_w - t_w))
        else:
            raise ValueError(f"student size {s_h}, teacher size {t_h}")
        self.bn = nn.BatchNorm2d(t_c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.relu(x) if self.use_relu else x


class Normalize(nn.Module):
    """Divides each row by its L-``power`` norm (no epsilon, as in RepDistiller)."""

    def __init__(self, power=2):
        super().__init__()
        self.power = power

    def forward(self, x):
        norm = x.pow(self.power).sum(1, keepdim=True).pow(1.0 / self.power)
        return x.div(norm)


class Embed(nn.Module):
    """Linear embedding followed by L2 normalisation (CRD's head)."""

    def __init__(self, dim_in=1024, dim_out=128):
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)
        self.l2norm = Normalize(2)

    def forward(self, x):
        return self.l2norm(self.linear(x.view(x.shape[0], -1)))


class LinearEmbed(nn.Module):
    def __init__(self, dim_in=1024, dim_out=128):
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)

    def forward(self, x):
        return self.linear(x.view(x.shape[0], -1))
