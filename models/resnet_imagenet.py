"""ImageNet ResNets at 224: torchvision's own modules, hence its exact state_dict keys (its
published weight files load as they are), with the CRD feature interface on top.

Features: [stem (after ReLU, before max-pool), layer1, layer2, layer3, layer4, pooled vector];
with preact=True the four layer outputs are taken before their last ReLU."""
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet as tv


def _with_preact(block, x):
    """A BasicBlock's or Bottleneck's output and its value before the final ReLU."""
    out = F.relu(block.bn1(block.conv1(x)))
    if isinstance(block, tv.Bottleneck):
        out = F.relu(block.bn2(block.conv2(out)))
        out = block.bn3(block.conv3(out))
    else:
        out = block.bn2(block.conv2(out))
    pre = out + (x if block.downsample is None else block.downsample(x))
    return F.relu(pre), pre


class ResNet(tv.ResNet):
    def _stages(self):
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def get_feat_modules(self):
        return nn.ModuleList([self.conv1, self.bn1, self.relu, self.maxpool, *self._stages()])

    def get_bn_before_relu(self):
        last = "bn3" if isinstance(self.layer1[-1], tv.Bottleneck) else "bn2"
        return [getattr(stage[-1], last) for stage in self._stages()]

    def forward(self, x, is_feat=False, preact=False):
        if not is_feat:
            return super().forward(x)
        f0 = F.relu(self.bn1(self.conv1(x)))
        out, feats, pres = self.maxpool(f0), [f0], [f0]
        for stage in self._stages():
            for block in stage[:-1]:
                out = block(out)
            out, pre = _with_preact(stage[-1], out)
            feats.append(out)
            pres.append(pre)
        pooled = torch.flatten(self.avgpool(out), 1)
        return (pres if preact else feats) + [pooled], self.fc(pooled)


def resnet18(num_classes=1000):
    return ResNet(tv.BasicBlock, [2, 2, 2, 2], num_classes=num_classes)


def resnet34(num_classes=1000):
    return ResNet(tv.BasicBlock, [3, 4, 6, 3], num_classes=num_classes)


def resnet50(num_classes=1000):
    return ResNet(tv.Bottleneck, [3, 4, 6, 3], num_classes=num_classes)
