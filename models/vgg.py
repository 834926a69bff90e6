"""VGG with batch norm for CIFAR as in CRD/RepDistiller: vgg8, vgg11, vgg13, vgg16, vgg19.

Five conv blocks and a single linear classifier. Each block ends at its last BatchNorm; forward
applies the ReLU itself so that the pre-activation map is available as a feature.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# Conv widths of the five blocks.
CFGS = {
    "vgg8": [[64], [128], [256], [512], [512]],
    "vgg11": [[64], [128], [256, 256], [512, 512], [512, 512]],
    "vgg13": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    "vgg16": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    "vgg19": [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
}

# CIFAR inputs skip pool3 so that block4 runs at 4x4; Tiny ImageNet's 64x64 inputs take it.
POOL3_INPUT_SIZE = 64


def make_block(widths, in_channels):
    layers = []
    for width in widths:
        layers += [nn.Conv2d(in_channels, width, kernel_size=3, padding=1), nn.BatchNorm2d(width),
                   nn.ReLU(inplace=True)]
        in_channels = width
    return nn.Sequential(*layers[:-1])


class VGG(nn.Module):
    def __init__(self, cfg, num_classes=10):
        super().__init__()
        in_channels = [3] + [widths[-1] for widths in cfg[:-1]]
        self.block0 = make_block(cfg[0], in_channels[0])
        self.block1 = make_block(cfg[1], in_channels[1])
        self.block2 = make_block(cfg[2], in_channels[2])
        self.block3 = make_block(cfg[3], in_channels[3])
        self.block4 = make_block(cfg[4], in_channels[4])
        self.pool0 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.pool3 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.pool4 = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(512, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def get_feat_modules(self):
        return nn.ModuleList([self.block0, self.pool0, self.block1, self.pool1, self.block2, self.pool2,
                              self.block3, self.pool3, self.block4, self.pool4])

    def get_bn_before_relu(self):
        return [self.block1[-1], self.block2[-1], self.block3[-1], self.block4[-1]]

    def forward(self, x, is_feat=False, preact=False):
        input_size = x.shape[2]
        f0 = F.relu(self.block0(x))
        f1_pre = self.block1(self.pool0(f0))
        f1 = F.relu(f1_pre)
        f2_pre = self.block2(self.pool1(f1))
        f2 = F.relu(f2_pre)
        f3_pre = self.block3(self.pool2(f2))
        f3 = F.relu(f3_pre)
        f4_pre = self.block4(self.pool3(f3) if input_size == POOL3_INPUT_SIZE else f3)
        f4 = F.relu(f4_pre)
        f5 = torch.flatten(self.pool4(f4), 1)
        logits = self.classifier(f5)
        if not is_feat:
            return logits
        if preact:
            return [f0, f1_pre, f2_pre, f3_pre, f4_pre, f5], logits
        return [f0, f1, f2, f3, f4, f5], logits


def vgg8_bn(**kwargs):
    return VGG(CFGS["vgg8"], **kwargs)


def vgg11_bn(**kwargs):
    return VGG(CFGS["vgg11"], **kwargs)


def vgg13_bn(**kwargs):
    return VGG(CFGS["vgg13"], **kwargs)


def vgg16_bn(**kwargs):
    return VGG(CFGS["vgg16"], **kwargs)


def vgg19_bn(**kwargs):
    return VGG(CFGS["vgg19"], **kwargs)
