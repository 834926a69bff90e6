"""CIFAR ResNets of CRD/RepDistiller: resnet8 ... resnet110, resnet8x4, resnet32x4.

Three stages of basic blocks at 32x32, 16x16 and 8x8 (for a 32x32 input). Module names match
RepDistiller's so that its checkpoints load with ``load_state_dict(strict=True)``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .util import GlobalAvgPool2d, init_resnet_weights


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions plus a shortcut; the last block of a stage also returns its pre-ReLU sum."""

    def __init__(self, in_planes, planes, stride=1, downsample=None, is_last=False):
        super().__init__()
        self.is_last = is_last
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        preact = out + shortcut
        out = F.relu(preact)
        return (out, preact) if self.is_last else out


def make_stage(in_planes, planes, num_blocks, stride):
    downsample = None
    if stride != 1 or in_planes != planes:
        downsample = nn.Sequential(
            nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(planes),
        )
    blocks = [BasicBlock(in_planes, planes, stride, downsample, is_last=num_blocks == 1)]
    blocks += [BasicBlock(planes, planes, is_last=i == num_blocks - 1) for i in range(1, num_blocks)]
    return nn.Sequential(*blocks)


class ResNet(nn.Module):
    def __init__(self, depth, num_filters, num_classes=10):
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"depth must be 6n+2 (e.g. 20, 32, 56, 110), got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, num_filters[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(num_filters[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_stage(num_filters[0], num_filters[1], n, stride=1)
        self.layer2 = make_stage(num_filters[1], num_filters[2], n, stride=2)
        self.layer3 = make_stage(num_filters[2], num_filters[3], n, stride=2)
        self.avgpool = GlobalAvgPool2d()  # RepDistiller: AvgPool2d(8), which rejects 64x64 inputs
        self.fc = nn.Linear(num_filters[3], num_classes)

        init_resnet_weights(self)

    def get_feat_modules(self):
        return nn.ModuleList([self.conv1, self.bn1, self.relu, self.layer1, self.layer2, self.layer3])

    def get_bn_before_relu(self):
        return [self.layer1[-1].bn2, self.layer2[-1].bn2, self.layer3[-1].bn2]

    def forward(self, x, is_feat=False, preact=False):
        f0 = self.relu(self.bn1(self.conv1(x)))
        f1, f1_pre = self.layer1(f0)
        f2, f2_pre = self.layer2(f1)
        f3, f3_pre = self.layer3(f2)
        f4 = torch.flatten(self.avgpool(f3), 1)
        logits = self.fc(f4)
        if not is_feat:
            return logits
        if preact:
            return [f0, f1_pre, f2_pre, f3_pre, f4], logits
        return [f0, f1, f2, f3, f4], logits


def resnet8(**kwargs):
    return ResNet(8, [16, 16, 32, 64], **kwargs)


def resnet14(**kwargs):
    return ResNet(14, [16, 16, 32, 64], **kwargs)


def resnet20(**kwargs):
    return ResNet(20, [16, 16, 32, 64], **kwargs)


def resnet32(**kwargs):
    return ResNet(32, [16, 16, 32, 64], **kwargs)


def resnet44(**kwargs):
    return ResNet(44, [16, 16, 32, 64], **kwargs)


def resnet56(**kwargs):
    return ResNet(56, [16, 16, 32, 64], **kwargs)


def resnet110(**kwargs):
    return ResNet(110, [16, 16, 32, 64], **kwargs)


def resnet8x4(**kwargs):
    return ResNet(8, [32, 64, 128, 256], **kwargs)


def resnet32x4(**kwargs):
    return ResNet(32, [32, 64, 128, 256], **kwargs)
