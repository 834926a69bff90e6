"""ImageNet MobileNetV2 at 224: torchvision's module, hence its exact state_dict keys, with the
CRD feature interface on top.

Features: the stem, then the outputs of the blocks at strides 4, 8, 16 and 32 (24, 32, 96 and 320
channels), then the pooled 1280-vector. As in CRD's MobileNetV2, preact changes nothing."""
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import mobilenetv2 as tv

# features[i] ends a stage of the feature list: stem, stride 4, 8, 16, 32, then the 1x1 conv to 1280
STAGE_ENDS = (0, 3, 6, 13, 17, 18)


class MobileNetV2(tv.MobileNetV2):
    def get_feat_modules(self):
        return nn.ModuleList([self.features])

    def get_bn_before_relu(self):
        # the projection BatchNorm closing the last block of each stride
        return [self.features[i].conv[-1] for i in STAGE_ENDS[1:5]]

    def forward(self, x, is_feat=False, preact=False):
        if not is_feat:
            return super().forward(x)
        feats, start = [], 0
        for end in STAGE_ENDS:
            for block in self.features[start:end + 1]:
                x = block(x)
            feats.append(x)
            start = end + 1
        pooled = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return feats[:-1] + [pooled], self.classifier(pooled)


def mobilenet_v2(num_classes=1000):
    return MobileNetV2(num_classes=num_classes)
