"""ShuffleNet (v1) of CRD/RepDistiller, groups=3, for 32x32 inputs (1x1 stem, no stem pooling).

Module names match RepDistiller's checkpoints.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .util import GlobalAvgPool2d

STEM_CHANNELS = 24


def channel_shuffle(x, groups):
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class Bottleneck(nn.Module):
    """Grouped 1x1, shuffle, depthwise 3x3, grouped 1x1. A stride-2 block concatenates an
    average-pooled shortcut; a stride-1 block adds the identity."""

    def __init__(self, in_planes, out_planes, stride, groups, is_last=False):
        super().__init__()
        self.is_last = is_last
        self.stride = stride
        mid_planes = out_planes // 4
        # The 24-channel stem output is too narrow to be split into groups.
        self.groups1 = 1 if in_planes == STEM_CHANNELS else groups
        self.conv1 = nn.Conv2d(in_planes, mid_planes, kernel_size=1, groups=self.groups1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_planes)
        self.conv2 = nn.Conv2d(mid_planes, mid_planes, kernel_size=3, stride=stride, padding=1,
                               groups=mid_planes, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_planes)
        self.conv3 = nn.Conv2d(mid_planes, out_planes, kernel_size=1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = channel_shuffle(out, self.groups1)
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.stride == 2:
            preact = torch.cat([out, F.avg_pool2d(x, 3, stride=2, padding=1)], 1)
        else:
            preact = out + x
        out = F.relu(preact)
        return (out, preact) if self.is_last else out


def make_stage(in_planes, out_planes, num_blocks, groups):
    blocks = []
    for i in range(num_blocks):
        # The first block concatenates its input, so its branch only adds out_planes - in_planes.
        branch_planes = out_planes - in_planes if i == 0 else out_planes
        blocks.append(Bottleneck(in_planes, branch_planes, stride=2 if i == 0 else 1, groups=groups,
                                 is_last=i == num_blocks - 1))
        in_planes = out_planes
    return nn.Sequential(*blocks)


class ShuffleNet(nn.Module):
    def __init__(self, out_planes, num_blocks, groups, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, STEM_CHANNELS, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS)
        self.layer1 = make_stage(STEM_CHANNELS, out_planes[0], num_blocks[0], groups)
        self.layer2 = make_stage(out_planes[0], out_planes[1], num_blocks[1], groups)
        self.layer3 = make_stage(out_planes[1], out_planes[2], num_blocks[2], groups)
        self.avgpool = GlobalAvgPool2d()  # RepDistiller: avg_pool2d(4), which rejects 64x64 inputs
        self.linear = nn.Linear(out_planes[2], num_classes)

    def get_feat_modules(self):
        return nn.ModuleList([self.conv1, self.bn1, self.layer1, self.layer2, self.layer3])

    def get_bn_before_relu(self):
        raise NotImplementedError('ShuffleNet currently is not supported for "Overhaul" teacher')

    def forward(self, x, is_feat=False, preact=False):
        f0 = F.relu(self.bn1(self.conv1(x)))
        f1, f1_pre = self.layer1(f0)
        f2, f2_pre = self.layer2(f1)
        f3, f3_pre = self.layer3(f2)
        f4 = torch.flatten(self.avgpool(f3), 1)
        logits = self.linear(f4)
        if not is_feat:
            return logits
        if preact:
            return [f0, f1_pre, f2_pre, f3_pre, f4], logits
        return [f0, f1, f2, f3, f4], logits


def ShuffleV1(**kwargs):
    return ShuffleNet(out_planes=[240, 480, 960], num_blocks=[4, 8, 4], groups=3, **kwargs)
