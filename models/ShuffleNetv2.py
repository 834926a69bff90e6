"""ShuffleNetV2 (1x) of CRD/RepDistiller, for 32x32 inputs (1x1 stem, no stem pooling).

Module names match RepDistiller's checkpoints.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .util import GlobalAvgPool2d

STEM_CHANNELS = 24


def channel_shuffle(x, groups=2):
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class BasicBlock(nn.Module):
    """Keeps half the channels and transforms the other half (1x1, depthwise 3x3, 1x1)."""

    def __init__(self, channels, is_last=False):
        super().__init__()
        self.is_last = is_last
        half = channels // 2
        self.conv1 = nn.Conv2d(half, half, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, half, kernel_size=3, stride=1, padding=1, groups=half, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv3 = nn.Conv2d(half, half, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(half)

    def forward(self, x):
        kept, branch = x.chunk(2, dim=1)
        branch = F.relu(self.bn1(self.conv1(branch)))
        branch = self.bn3(self.conv3(self.bn2(self.conv2(branch))))
        out = channel_shuffle(torch.cat([kept, F.relu(branch)], 1))
        if not self.is_last:
            return out
        # As in RepDistiller, the pre-activation feature is taken before the channel shuffle.
        return out, torch.cat([kept, branch], 1)


class DownBlock(nn.Module):
    """Stride-2 block: two branches, each producing half of the output channels."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        mid = out_channels // 2
        # left branch
        self.conv1 = nn.Conv2d(in_channels, in_channels, kernel_size=3, stride=2, padding=1,
                               groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv2 = nn.Conv2d(in_channels, mid, kernel_size=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        # right branch
        self.conv3 = nn.Conv2d(in_channels, mid, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv4 = nn.Conv2d(mid, mid, kernel_size=3, stride=2, padding=1, groups=mid, bias=False)
        self.bn4 = nn.BatchNorm2d(mid)
        self.conv5 = nn.Conv2d(mid, mid, kernel_size=1, bias=False)
        self.bn5 = nn.BatchNorm2d(mid)

    def forward(self, x):
        left = F.relu(self.bn2(self.conv2(self.bn1(self.conv1(x)))))
        right = F.relu(self.bn3(self.conv3(x)))
        right = F.relu(self.bn5(self.conv5(self.bn4(self.conv4(right)))))
        return channel_shuffle(torch.cat([left, right], 1))


def make_stage(in_channels, out_channels, num_blocks):
    blocks = [DownBlock(in_channels, out_channels)]
    blocks += [BasicBlock(out_channels, is_last=i == num_blocks - 1) for i in range(num_blocks)]
    return nn.Sequential(*blocks)


class ShuffleNetV2(nn.Module):
    def __init__(self, out_channels, num_blocks, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, STEM_CHANNELS, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS)
        self.layer1 = make_stage(STEM_CHANNELS, out_channels[0], num_blocks[0])
        self.layer2 = make_stage(out_channels[0], out_channels[1], num_blocks[1])
        self.layer3 = make_stage(out_channels[1], out_channels[2], num_blocks[2])
        self.conv2 = nn.Conv2d(out_channels[2], out_channels[3], kernel_size=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels[3])
        self.avgpool = GlobalAvgPool2d()  # RepDistiller: avg_pool2d(4), which rejects 64x64 inputs
        self.linear = nn.Linear(out_channels[3], num_classes)

    def get_feat_modules(self):
        return nn.ModuleList([self.conv1, self.bn1, self.layer1, self.layer2, self.layer3])

    def get_bn_before_relu(self):
        raise NotImplementedError('ShuffleNetV2 currently is not supported for "Overhaul" teacher')

    def forward(self, x, is_feat=False, preact=False):
        f0 = F.relu(self.bn1(self.conv1(x)))
        f1, f1_pre = self.layer1(f0)
        f2, f2_pre = self.layer2(f1)
        f3, f3_pre = self.layer3(f2)
        f4 = torch.flatten(self.avgpool(F.relu(self.bn2(self.conv2(f3)))), 1)
        logits = self.linear(f4)
        if not is_feat:
            return logits
        if preact:
            return [f0, f1_pre, f2_pre, f3_pre, f4], logits
        return [f0, f1, f2, f3, f4], logits


def ShuffleV2(**kwargs):
    return ShuffleNetV2(out_channels=(116, 232, 464, 1024), num_blocks=(3, 7, 3), **kwargs)
