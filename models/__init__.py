"""The CRD/RepDistiller model zoo. ``model_dict[name](num_classes=C)`` builds a model whose
state_dict keys and shapes are those of RepDistiller, so its teacher checkpoints load as they are.

The ImageNet models (resnet18, resnet34, resnet50, mobilenet_v2) have torchvision's keys instead,
so its published weights load as they are.

Every model returns logits from ``model(x)`` and ``(features, logits)`` from
``model(x, is_feat=True, preact=False)``; see each file for the feature list.
"""
from .mobilenetv2 import mobile_half
from .mobilenetv2_imagenet import mobilenet_v2
from .resnet import (resnet8, resnet8x4, resnet14, resnet20, resnet32, resnet32x4, resnet44, resnet56,
                     resnet110)
from .resnet_imagenet import resnet18, resnet34, resnet50
from .resnetv2 import ResNet50
from .ShuffleNetv1 import ShuffleV1
from .ShuffleNetv2 import ShuffleV2
from .vgg import vgg8_bn, vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn
from .wrn import wrn_16_1, wrn_16_2, wrn_40_1, wrn_40_2

model_dict = {
    "resnet8": resnet8,
    "resnet14": resnet14,
    "resnet20": resnet20,
    "resnet32": resnet32,
    "resnet44": resnet44,
    "resnet56": resnet56,
    "resnet110": resnet110,
    "resnet8x4": resnet8x4,
    "resnet32x4": resnet32x4,
    "ResNet50": ResNet50,
    "wrn_16_1": wrn_16_1,
    "wrn_16_2": wrn_16_2,
    "wrn_40_1": wrn_40_1,
    "wrn_40_2": wrn_40_2,
    "vgg8": vgg8_bn,
    "vgg11": vgg11_bn,
    "vgg13": vgg13_bn,
    "vgg16": vgg16_bn,
    "vgg19": vgg19_bn,
    "MobileNetV2": mobile_half,
    "ShuffleV1": ShuffleV1,
    "ShuffleV2": ShuffleV2,
    # ImageNet at 224, torchvision's state_dict keys
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "mobilenet_v2": mobilenet_v2,
}
