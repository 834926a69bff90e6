"""MobileNetV2 of CRD/RepDistiller (from "Knowledge Distillation via Route Constrained
Optimization"); ``mobile_half`` (expansion 6, width 0.5) is CRD's "MobileNetV2".

Module names match RepDistiller's checkpoints.
"""
import math

import torch
import torch.nn as nn

from .util import GlobalAvgPool2d

# (output channels, blocks, stride of the first block) per stage; the first stage does not expand.
STAGES = [(16, 1, 1), (24, 2, 1), (32, 3, 2), (64, 4, 2), (96, 3, 1), (160, 3, 2), (320, 1, 1)]


def conv_bn_relu(in_channels, out_channels, kernel_size, stride):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class InvertedResidual(nn.Module):
    """1x1 expansion, 3x3 depthwise, linear 1x1 projection; residual when the shape is kept."""

    def __init__(self, in_channels, out_channels, stride, expansion):
        super().__init__()
        hidden = in_channels * expansion
        self.use_res_connect = stride == 1 and in_channels == out_channels
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, 1, 1, 0, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, expansion, width_mult, num_classes=100):
        super().__init__()
        in_channels = int(32 * width_mult)
        self.conv1 = conv_bn_relu(3, in_channels, kernel_size=3, stride=2)
        self.blocks = nn.ModuleList()
        for stage, (channels, num_blocks, stride) in enumerate(STAGES):
            out_channels = int(channels * width_mult)
            stage_expansion = 1 if stage == 0 else expansion
            layers = []
            for i in range(num_blocks):
                block_stride = stride if i == 0 else 1
                layers.append(InvertedResidual(in_channels, out_channels, block_stride, stage_expansion))
                in_channels = out_channels
            self.blocks.append(nn.Sequential(*layers))
        self.last_channel = int(1280 * width_mult) if width_mult > 1.0 else 1280
        self.conv2 = conv_bn_relu(in_channels, self.last_channel, kernel_size=1, stride=1)
        self.classifier = nn.Sequential(nn.Linear(self.last_channel, num_classes))
        # RepDistiller: AvgPool2d(2, ceil_mode=True) for its default input_size=32, which rejects 64x64.
        self.avgpool = GlobalAvgPool2d()

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def get_feat_modules(self):
        return nn.ModuleList([self.conv1, self.blocks])

    def get_bn_before_relu(self):
        return [self.blocks[i][-1].conv[-1] for i in (1, 2, 4, 6)]

    def forward(self, x, is_feat=False, preact=False):
        """``preact`` is accepted for a uniform interface; as in CRD it changes nothing here."""
        f0 = self.conv1(x)
        f1 = self.blocks[1](self.blocks[0](f0))
        f2 = self.blocks[2](f1)
        f3 = self.blocks[4](self.blocks[3](f2))
        f4 = self.blocks[6](self.blocks[5](f3))
        f5 = torch.flatten(self.avgpool(self.conv2(f4)), 1)
        logits = self.classifier(f5)
        if not is_feat:
            return logits
        return [f0, f1, f2, f3, f4, f5], logits


def mobile_half(num_classes=100):
    return MobileNetV2(expansion=6, width_mult=0.5, num_classes=num_classes)
