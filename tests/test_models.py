"""The CRD model zoo: registry, RepDistiller-compatible state_dicts, feature lists, 64x64 inputs.

The fixture ``repdistiller_state_dict_shapes.json`` was dumped from RepDistiller's own model files
(num_classes=100); our keys, their order and their shapes must equal it exactly so that the
community's teacher checkpoints load with ``strict=True``.
"""
import copy
import io
import json
import os

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from models import model_dict
from models.ShuffleNetv2 import channel_shuffle
from models.util import Connector, ConvReg, Embed, GlobalAvgPool2d, LinearEmbed, Paraphraser, Translator

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "repdistiller_state_dict_shapes.json")
ARCHS = [
    "resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet8x4",
    "resnet32x4", "ResNet50", "wrn_16_1", "wrn_16_2", "wrn_40_1", "wrn_40_2", "vgg8", "vgg11", "vgg13",
    "vgg16", "vgg19", "MobileNetV2", "ShuffleV1", "ShuffleV2",
]
SMALL_ARCHS = ["resnet8", "wrn_16_1", "vgg8", "MobileNetV2", "ShuffleV1", "ShuffleV2"]
B = 2

# Feature shapes (without the batch) at 32x32, from RepDistiller's models.
FEATURE_SHAPES_32 = {
    "resnet8x4": [(32, 32, 32), (64, 32, 32), (128, 16, 16), (256, 8, 8), (256,)],
    "resnet56": [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8), (64,)],
    "wrn_40_2": [(16, 32, 32), (32, 32, 32), (64, 16, 16), (128, 8, 8), (128,)],
    "vgg13": [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 4, 4), (512,)],
    "ResNet50": [(64, 32, 32), (256, 32, 32), (512, 16, 16), (1024, 8, 8), (2048, 4, 4), (2048,)],
    "MobileNetV2": [(16, 16, 16), (12, 16, 16), (16, 8, 8), (48, 4, 4), (160, 2, 2), (1280,)],
    "ShuffleV1": [(24, 32, 32), (240, 16, 16), (480, 8, 8), (960, 4, 4), (960,)],
    "ShuffleV2": [(24, 32, 32), (116, 16, 16), (232, 8, 8), (464, 4, 4), (1024,)],
}

FEATURE_SHAPES_64 = {
    "resnet8x4": [(32, 64, 64), (64, 64, 64), (128, 32, 32), (256, 16, 16), (256,)],
    # vgg takes its pool3 only for 64x64 inputs, so block4 runs at 4x4 as on CIFAR.
    "vgg8": [(64, 64, 64), (128, 32, 32), (256, 16, 16), (512, 8, 8), (512, 4, 4), (512,)],
    "MobileNetV2": [(16, 32, 32), (12, 32, 32), (16, 16, 16), (48, 8, 8), (160, 4, 4), (1280,)],
}

FEAT_MODULE_NAMES = {
    "resnet20": ["conv1", "bn1", "relu", "layer1", "layer2", "layer3"],
    "ResNet50": ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"],
    "wrn_16_2": ["conv1", "block1", "block2", "block3"],
    "vgg8": ["block0", "pool0", "block1", "pool1", "block2", "pool2", "block3", "pool3", "block4", "pool4"],
    "MobileNetV2": ["conv1", "blocks"],
    "ShuffleV1": ["conv1", "bn1", "layer1", "layer2", "layer3"],
    "ShuffleV2": ["conv1", "bn1", "layer1", "layer2", "layer3"],
}

BN_BEFORE_RELU_NAMES = {
    "resnet8x4": ["layer1.0.bn2", "layer2.0.bn2", "layer3.0.bn2"],
    "resnet110": ["layer1.17.bn2", "layer2.17.bn2", "layer3.17.bn2"],
    "ResNet50": ["layer1.2.bn3", "layer2.3.bn3", "layer3.5.bn3", "layer4.2.bn3"],
    "wrn_40_2": ["block2.layer.0.bn1", "block3.layer.0.bn1", "bn1"],
    "vgg13": ["block1.4", "block2.4", "block3.4", "block4.4"],
    "vgg11": ["block1.1", "block2.4", "block3.4", "block4.4"],
    "MobileNetV2": ["blocks.1.1.conv.7", "blocks.2.2.conv.7", "blocks.4.2.conv.7", "blocks.6.0.conv.7"],
}


class Zoo:
    """Each architecture built once for 100 classes in eval mode, and its outputs on fixed inputs
    computed once; tests must not modify what it returns."""

    def __init__(self):
        generator = torch.Generator().manual_seed(1)
        self.inputs = {size: torch.randn(B, 3, size, size, generator=generator) for size in (32, 64)}
        self._models = {}
        self._outputs = {}

    def model(self, arch):
        if arch not in self._models:
            self._models[arch] = model_dict[arch](num_classes=100).eval()
        return self._models[arch]

    def features(self, arch, size=32, preact=False):
        """``(features, logits)`` of ``model(x, is_feat=True, preact=preact)``."""
        key = (arch, size, preact)
        if key not in self._outputs:
            with torch.no_grad():
                self._outputs[key] = self.model(arch)(self.inputs[size], is_feat=True, preact=preact)
        return self._outputs[key]


@pytest.fixture(scope="module")
def zoo():
    return Zoo()


@pytest.fixture(scope="module")
def repdistiller_shapes():
    with open(FIXTURE) as f:
        return json.load(f)


def shapes(tensors):
    return [tuple(t.shape[1:]) for t in tensors]


def qualified_names(model, modules):
    names = {id(m): name for name, m in model.named_modules()}
    return [names[id(m)] for m in modules]


def test_registry_has_every_crd_architecture(repdistiller_shapes):
    # then the ImageNet models with torchvision's keys (tests/test_imagenet_models.py)
    assert list(model_dict) == ARCHS + ["resnet18", "resnet34", "resnet50", "mobilenet_v2"]
    assert list(repdistiller_shapes) == ARCHS


@pytest.mark.parametrize("arch", ARCHS)
def test_state_dict_keys_and_shapes_equal_repdistiller(arch, zoo, repdistiller_shapes):
    expected = repdistiller_shapes[arch]
    ours = {k: list(v.shape) for k, v in zoo.model(arch).state_dict().items()}
    assert list(ours) == list(expected)
    assert ours == expected


@pytest.mark.parametrize("arch", ARCHS)
def test_logits_and_features_at_32(arch, zoo):
    with torch.no_grad():
        logits = zoo.model(arch)(zoo.inputs[32])
    feats, logits_feat = zoo.features(arch)
    assert logits.shape == (B, 100)
    assert torch.equal(logits, logits_feat)
    assert isinstance(feats, list) and len(feats) in (5, 6)
    assert all(f.shape[0] == B for f in feats)
    # The last feature is the pooled vector the classifier reads.
    assert feats[-1].dim() == 2


@pytest.mark.parametrize("arch", ARCHS)
def test_builds_for_10_classes(arch, zoo):
    model = model_dict[arch](num_classes=10).eval()
    with torch.no_grad():
        assert model(zoo.inputs[32]).shape == (B, 10)


@pytest.mark.parametrize("arch", sorted(FEATURE_SHAPES_32))
def test_feature_shapes_match_crd(arch, zoo):
    feats, _ = zoo.features(arch)
    feats_pre, _ = zoo.features(arch, preact=True)
    assert shapes(feats) == FEATURE_SHAPES_32[arch]
    assert shapes(feats_pre) == FEATURE_SHAPES_32[arch]


# How each family's post-activation feature follows from CRD's pre-activation feature, and which
# feature indices differ between the two lists.
PREACT_RULES = {
    "resnet20": (F.relu, [1, 2, 3]),
    "resnet8x4": (F.relu, [1, 2, 3]),
    "ResNet50": (F.relu, [1, 2, 3, 4]),
    "vgg8": (F.relu, [1, 2, 3, 4]),
    "ShuffleV1": (F.relu, [1, 2, 3]),
    # ShuffleV2's pre-activation is taken before the block's channel shuffle.
    "ShuffleV2": (lambda pre: channel_shuffle(F.relu(pre)), [1, 2, 3]),
}


@pytest.mark.parametrize("arch", sorted(PREACT_RULES))
def test_preact_features_are_the_pre_relu_maps(arch, zoo):
    post_of, differing = PREACT_RULES[arch]
    feats, logits = zoo.features(arch)
    feats_pre, logits_pre = zoo.features(arch, preact=True)
    assert torch.equal(logits, logits_pre)
    assert shapes(feats) == shapes(feats_pre)
    for i, (post, pre) in enumerate(zip(feats, feats_pre)):
        if i in differing:
            assert pre.min() < 0
            assert torch.equal(post_of(pre), post)
        else:
            assert torch.equal(pre, post)


def test_wrn_preact_applies_the_following_bn(zoo):
    model = zoo.model("wrn_40_2")
    feats, _ = zoo.features("wrn_40_2")
    feats_pre, _ = zoo.features("wrn_40_2", preact=True)
    with torch.no_grad():
        following_bn = [model.block2.layer[0].bn1, model.block3.layer[0].bn1, model.bn1]
        assert torch.equal(feats_pre[0], feats[0]) and torch.equal(feats_pre[4], feats[4])
        for i, bn in enumerate(following_bn, start=1):
            assert torch.equal(feats_pre[i], bn(feats[i]))


def test_mobilenetv2_has_no_preact_variant(zoo):
    feats, _ = zoo.features("MobileNetV2")
    feats_pre, _ = zoo.features("MobileNetV2", preact=True)
    assert all(torch.equal(a, b) for a, b in zip(feats, feats_pre))


@pytest.mark.parametrize("arch", ARCHS)
def test_accepts_64x64_inputs(arch, zoo):
    feats, logits = zoo.features(arch, size=64)
    assert logits.shape == (B, 100)
    assert feats[-1].shape[0] == B
    if arch in FEATURE_SHAPES_64:
        assert shapes(feats) == FEATURE_SHAPES_64[arch]


# RepDistiller's fixed-size pooling, which only fits 32x32 inputs.
REPDISTILLER_POOLING = {
    "resnet8x4": nn.AvgPool2d(8),
    "wrn_40_2": nn.AvgPool2d(8),
    "MobileNetV2": nn.AvgPool2d(2, ceil_mode=True),
    "ShuffleV1": nn.AvgPool2d(4),
    "ShuffleV2": nn.AvgPool2d(4),
}


@pytest.mark.parametrize("arch", sorted(REPDISTILLER_POOLING))
def test_global_pooling_is_bit_identical_to_repdistiller_at_32(arch, zoo):
    theirs = copy.deepcopy(zoo.model(arch))
    theirs.avgpool = REPDISTILLER_POOLING[arch]
    feats, logits = zoo.features(arch)
    with torch.no_grad():
        feats_ref, logits_ref = theirs(zoo.inputs[32], is_feat=True)
    assert torch.equal(logits, logits_ref)
    assert all(torch.equal(a, b) for a, b in zip(feats, feats_ref))


def test_global_avg_pool_equals_fixed_kernel_pool():
    x = torch.randn(3, 5, 8, 8)
    assert torch.equal(GlobalAvgPool2d()(x), nn.AvgPool2d(8)(x))
    assert GlobalAvgPool2d()(torch.randn(3, 5, 16, 16)).shape == (3, 5, 1, 1)


@pytest.mark.parametrize("arch", ["resnet8x4", "wrn_40_2", "vgg8", "MobileNetV2", "ShuffleV1", "ShuffleV2"])
def test_checkpoint_round_trip_strict(arch, zoo):
    buffer = io.BytesIO()
    torch.save({"model": zoo.model(arch).state_dict()}, buffer)
    buffer.seek(0)
    fresh = model_dict[arch](num_classes=100)
    fresh.load_state_dict(torch.load(buffer, weights_only=True)["model"], strict=True)
    _, logits = zoo.features(arch)
    with torch.no_grad():
        assert torch.equal(fresh.eval()(zoo.inputs[32]), logits)


@pytest.mark.parametrize("arch", sorted(FEAT_MODULE_NAMES))
def test_get_feat_modules(arch, zoo):
    model = zoo.model(arch)
    feat_modules = model.get_feat_modules()
    assert isinstance(feat_modules, nn.ModuleList)
    assert qualified_names(model, feat_modules) == FEAT_MODULE_NAMES[arch]


@pytest.mark.parametrize("arch", sorted(BN_BEFORE_RELU_NAMES))
def test_get_bn_before_relu(arch, zoo):
    model = zoo.model(arch)
    bns = model.get_bn_before_relu()
    assert all(isinstance(bn, nn.BatchNorm2d) for bn in bns)
    assert qualified_names(model, bns) == BN_BEFORE_RELU_NAMES[arch]


@pytest.mark.parametrize("arch", ["ShuffleV1", "ShuffleV2"])
def test_shufflenets_have_no_bn_before_relu(arch, zoo):
    with pytest.raises(NotImplementedError):
        zoo.model(arch).get_bn_before_relu()


@pytest.mark.parametrize("arch", SMALL_ARCHS)
def test_backward_through_features_in_training_mode(arch):
    model = model_dict[arch](num_classes=10).train()
    feats, logits = model(torch.randn(B, 3, 32, 32), is_feat=True, preact=True)
    (logits.sum() + sum(f.pow(2).mean() for f in feats)).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_construction_prints_nothing(capsys):
    model_dict["MobileNetV2"](num_classes=10)
    assert capsys.readouterr().out == ""


# ----- helper modules of the distillers (models/util.py) -----

def test_conv_reg_maps_student_to_teacher_shape():
    cases = [((B, 16, 32, 32), (B, 32, 16, 16)), ((B, 16, 8, 8), (B, 32, 16, 16)),
             ((B, 16, 8, 8), (B, 32, 6, 6)), ((B, 16, 8, 8), (B, 64, 8, 8))]
    for s_shape, t_shape in cases:
        reg = ConvReg(s_shape, t_shape)
        assert reg(torch.randn(s_shape)).shape == t_shape
    with pytest.raises(ValueError):
        ConvReg((B, 16, 4, 4), (B, 16, 16, 16))


def test_connectors_map_every_feature():
    s_shapes = [(B, 16, 32, 32), (B, 32, 16, 16), (B, 64, 8, 8)]
    t_shapes = [(B, 32, 16, 16), (B, 32, 16, 16), (B, 128, 8, 8)]
    g_s = [torch.randn(s) for s in s_shapes]
    connector = Connector(s_shapes, t_shapes)
    assert isinstance(connector.connectors[1], nn.Identity)
    assert [f.shape for f in connector(g_s)] == [torch.Size(t) for t in t_shapes]


def test_paraphraser_and_translator():
    paraphraser = Paraphraser((B, 64, 8, 8), k=0.5)
    factor, rec = paraphraser(torch.randn(B, 64, 8, 8))
    assert factor.shape == (B, 32, 8, 8) and rec.shape == (B, 64, 8, 8)
    assert paraphraser(torch.randn(B, 64, 8, 8), is_factor=True).shape == (B, 32, 8, 8)
    # RepDistiller's keys: no BN by default, so only the convolutions at indices 0, 3, 6 hold weights.
    assert [k for k in paraphraser.state_dict() if k.startswith("encoder")] == [
        f"encoder.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]
    translator = Translator((B, 32, 8, 8), (B, 64, 8, 8))
    assert translator(torch.randn(B, 32, 8, 8)).shape == (B, 32, 8, 8)
    assert "encoder.1.running_mean" in translator.state_dict()


def test_embeddings():
    x = torch.randn(4, 64, 2, 2)
    out = Embed(256, 32)(x)
    assert out.shape == (4, 32)
    assert torch.allclose(out.norm(dim=1), torch.ones(4), atol=1e-5)
    linear = LinearEmbed(256, 32)
    assert torch.allclose(linear(x), x.flatten(1) @ linear.linear.weight.T + linear.linear.bias)
