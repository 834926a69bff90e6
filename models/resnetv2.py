"""ResNet50 for CIFAR as in CRD/RepDistiller (resnetv2.py): a 3x3 stride-1 stem and four bottleneck
stages, so a 32x32 input ends at 4x4. Module names match RepDistiller's checkpoints."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .util import init_resnet_weights


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes, planes, stride=1, is_last=False):
        super().__init__()
        self.is_last = is_last
        out_planes = self.expansion * planes
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Identity()
        if stride != 1 or in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_planes),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        preact = out + self.shortcut(x)
        out = F.relu(preact)
        return (out, preact) if self.is_last else out


def make_stage(in_planes, planes, num_blocks, stride):
    blocks = []
    for i in range(num_blocks):
        blocks.append(Bottleneck(in_planes, planes, stride if i == 0 else 1, is_last=i == num_blocks - 1))
        in_planes = planes * Bottleneck.expansion
    return nn.Sequential(*blocks)


class ResNet(nn.Module):
    def __init__(self, num_blocks, num_classes=10):
        super().__init__()
        widths = [64, 128, 256, 512]
        in_planes = [64] + [w * Bottleneck.expansion for w in widths[:-1]]
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = make_stage(in_planes[0], widths[0], num_blocks[0], stride=1)
        self.layer2 = make_stage(in_planes[1], widths[1], num_blocks[1], stride=2)
        self.layer3 = make_stage(in_planes[2], widths[2], num_blocks[2], stride=2)
        self.layer4 = make_stage(in_planes[3], widths[3], num_blocks[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(widths[3] * Bottleneck.expansion, num_classes)

        init_resnet_weights(self)

    def get_feat_modules(self):
        return nn.ModuleList([self.conv1, self.bn1, self.layer1, self.layer2, self.layer3, self.layer4])

    def get_bn_before_relu(self):
        return [self.layer1[-1].bn3, self.layer2[-1].bn3, self.layer3[-1].bn3, self.layer4[-1].bn3]

    def forward(self, x, is_feat=False, preact=False):
        f0 = F.relu(self.bn1(self.conv1(x)))
        f1, f1_pre = self.layer1(f0)
        f2, f2_pre = self.layer2(f1)
        f3, f3_pre = self.layer3(f2)
        f4, f4_pre = self.layer4(f3)
        f5 = torch.flatten(self.avgpool(f4), 1)
        logits = self.linear(f5)
        if not is_feat:
            return logits
        if preact:
            return [f0, f1_pre, f2_pre, f3_pre, f4_pre, f5], logits
        return [f0, f1, f2, f3, f4, f5], logits


def ResNet50(**kwargs):
    return ResNet([3, 4, 6, 3], **kwargs)
