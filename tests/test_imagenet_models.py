"""ImageNet models: torchvision's state_dicts load with no key mapping and give identical logits;
the CRD feature interface; torchvision weight files as --path_t; --pretrained offline."""
import urllib.error

import pytest
import torch
import torchvision

from helper.core.errors import UsageError
from helper.storage.pretrained import load_model, load_pretrained
from models import model_dict

# feature shapes (without the batch) at 64x64: stem, 4 stages, pooled vector
SHAPES_64 = {
    "resnet18": [(64, 32, 32), (64, 16, 16), (128, 8, 8), (256, 4, 4), (512, 2, 2), (512,)],
    "resnet34": [(64, 32, 32), (64, 16, 16), (128, 8, 8), (256, 4, 4), (512, 2, 2), (512,)],
    "resnet50": [(64, 32, 32), (256, 16, 16), (512, 8, 8), (1024, 4, 4), (2048, 2, 2), (2048,)],
    "mobilenet_v2": [(32, 32, 32), (24, 16, 16), (32, 8, 8), (96, 4, 4), (320, 2, 2), (1280,)],
}
FILES = {"resnet18": "resnet18-f37072fd.pth", "resnet34": "resnet34-b627a593.pth",
         "resnet50": "resnet50-0676ba61.pth", "mobilenet_v2": "mobilenet_v2-b0353104.pth"}


@pytest.fixture(scope="module", params=list(SHAPES_64))
def published(request, tmp_path_factory):
    """A torchvision model with random weights and its bare state_dict saved under torchvision's name."""
    arch = request.param
    reference = getattr(torchvision.models, arch)().eval()
    with torch.no_grad():  # BatchNorm statistics that are not the identity, so loading matters
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp(arch) / FILES[arch]
    torch.save(reference.state_dict(), path)
    return arch, reference, str(path)


def test_torchvision_state_dict_loads_without_mapping_and_gives_identical_logits(published):
    arch, reference, path = published
    ours = model_dict[arch]()
    assert list(ours.state_dict()) == list(reference.state_dict())
    model, found_arch, _ = load_model(path, 1000, torch.device("cpu"))  # arch from the file name
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert found_arch == arch
        assert torch.equal(model(x), reference(x))
        feats, logits = model(x, is_feat=True)
        assert torch.allclose(logits, reference(x), rtol=1e-5, atol=1e-5)
    assert [tuple(f.shape[1:]) for f in feats] == SHAPES_64[arch]


def test_preact_features_are_the_maps_before_the_last_relu(published):
    arch, reference, _ = published
    model = model_dict[arch]().eval()
    model.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats, _ = model(x, is_feat=True)
        pres, _ = model(x, is_feat=True, preact=True)
    if arch == "mobilenet_v2":  # no ReLU closes its blocks: preact changes nothing, as in CRD
        assert all(torch.equal(f, p) for f, p in zip(feats, pres))
    else:
        assert all(torch.equal(f, p.relu()) for f, p in zip(feats[1:5], pres[1:5]))
        assert all((p < 0).any() for p in pres[1:5])
    assert len(model.get_bn_before_relu()) == 4


def test_classifier_for_another_class_count_is_a_clear_error(published):
    arch, _, path = published
    with pytest.raises(Exception, match="classifier does not fit 100 classes"):
        load_model(path, 100, torch.device("cpu"))


def test_pretrained_offline_is_one_clear_error(monkeypatch):
    from torchvision.models import ResNet34_Weights

    def offline(self, *args, **kwargs):
        raise urllib.error.URLError("no route to host")
    monkeypatch.setattr(ResNet34_Weights, "get_state_dict", offline)
    with pytest.raises(UsageError, match=r"cannot fetch torchvision's resnet34 weights from https://.*"
                                         r"resnet34-b627a593\.pth \(no route to host\).*--path_t"):
        load_pretrained("resnet34", 1000, torch.device("cpu"))
    with pytest.raises(UsageError, match="has none"):
        load_pretrained("resnet8", 1000, torch.device("cpu"))
