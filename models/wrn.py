"""Wide ResNets of CRD/RepDistiller: wrn_16_1, wrn_16_2, wrn_40_1, wrn_40_2 (WRN-depth-width).

Pre-activation blocks (BN-ReLU-conv). Module names match RepDistiller's checkpoints.
"""
import math

import torch
import torch.nn as nn

from .util import GlobalAvgPool2d


class BasicBlock(nn.Module):
    def __init__(self, in_planes, out_planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.convShortcut = None
        if in_planes != out_planes:
            self.convShortcut = nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)

    def forward(self, x):
        act = self.relu1(self.bn1(x))
        # A widening block projects the activated input; otherwise the raw input is the shortcut.
        shortcut = x if self.convShortcut is None else self.convShortcut(act)
        out = self.conv2(self.relu2(self.bn2(self.conv1(act))))
        return shortcut + out


class NetworkBlock(nn.Module):
    """One stage; the wrapper exists only to give RepDistiller's ``blockN.layer.i`` key names."""

    def __init__(self, num_layers, in_planes, out_planes, stride):
        super().__init__()
        self.layer = nn.Sequential(*[
            BasicBlock(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1)
            for i in range(num_layers)
        ])

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, depth, widen_factor, num_classes=10):
        super().__init__()
        if (depth - 4) % 6 != 0:
            raise ValueError(f"depth must be 6n+4 (e.g. 16, 40), got {depth}")
        n = (depth - 4) // 6
        channels = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(3, channels[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.block1 = NetworkBlock(n, channels[0], channels[1], stride=1)
        self.block2 = NetworkBlock(n, channels[1], channels[2], stride=2)
        self.block3 = NetworkBlock(n, channels[2], channels[3], stride=2)
        self.bn1 = nn.BatchNorm2d(channels[3])
        self.relu = nn.ReLU(inplace=True)
        # RepDistiller: avg_pool2d(8), which on 64x64 inputs silently returns 4 rows per image.
        self.avgpool = GlobalAvgPool2d()
        self.fc = nn.Linear(channels[3], num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def get_feat_modules(self):
        return nn.ModuleList([self.conv1, self.block1, self.block2, self.block3])

    def get_bn_before_relu(self):
        return [self.block2.layer[0].bn1, self.block3.layer[0].bn1, self.bn1]

    def forward(self, x, is_feat=False, preact=False):
        f0 = self.conv1(x)
        f1 = self.block1(f0)
        f2 = self.block2(f1)
        f3 = self.block3(f2)
        f4 = torch.flatten(self.avgpool(self.relu(self.bn1(f3))), 1)
        logits = self.fc(f4)
        if not is_feat:
            return logits
        if preact:
            # As in RepDistiller: the BN that follows each stage is applied to its output once more.
            # In training mode this updates that BN's running statistics a second time.
            f1 = self.block2.layer[0].bn1(f1)
            f2 = self.block3.layer[0].bn1(f2)
            f3 = self.bn1(f3)
        return [f0, f1, f2, f3, f4], logits


def wrn_40_2(**kwargs):
    return WideResNet(depth=40, widen_factor=2, **kwargs)


def wrn_40_1(**kwargs):
    return WideResNet(depth=40, widen_factor=1, **kwargs)


def wrn_16_2(**kwargs):
    return WideResNet(depth=16, widen_factor=2, **kwargs)


def wrn_16_1(**kwargs):
    return WideResNet(depth=16, widen_factor=1, **kwargs)
