"""Models of other libraries, named by a spec ``<library>:<name>`` with optional keyword arguments
in the DA-spec style: ``timm:vit_tiny_patch16_224(img_size=32,patch_size=4)``,
``torchvision:mobilenet_v3_small``. Values are ints, floats, true/false or words; nothing is eval'd.

What the data set gives: ``num_classes`` always, and its image size to models whose constructor
takes one (timm's ``img_size``, torchvision's ``image_size``: ViTs and the like), unless the spec
sets it. The spec is what checkpoints record as ``'arch'``, so it rebuilds the model alone.

``ExternalModel`` gives the library's model the zoo's calling convention (``model(x)``: logits;
``model(x, is_feat=True)``: ``(features, logits)``) without changing its state_dict keys, so a
state_dict saved from the library itself loads as it is. Adding a library is one ``Library``
subclass and one entry in ``LIBRARIES``.
"""
import re
from collections import OrderedDict

import torch
from torch import nn

from helper.core.call_syntax import format_value, parse_call
from helper.core.errors import NoFeaturesError, UsageError

SEPARATOR = ":"


class Library:
    """How one library builds a model by name and exposes its intermediate features."""
    size_kwarg = None  # the constructor argument that sets the input size, where a model has one

    def names(self):
        raise NotImplementedError

    def create(self, name, kwargs, pretrained):
        raise NotImplementedError

    def weight_classes(self, name):
        """The class count of the library's own weights for ``name``."""
        raise NotImplementedError

    def features(self, model, x):
        """``(feature maps + [pre-logit vector], logits)`` in one pass, or None where it has none."""
        return None


class Timm(Library):
    size_kwarg = "img_size"

    def names(self):
        import timm
        return timm.list_models()

    def create(self, name, kwargs, pretrained):
        import timm
        if not timm.is_model(name):
            raise UsageError(f"timm has no model '{name}'; timm.list_models('*{name.split('_')[0]}*') "
                             "lists those it has")
        return timm.create_model(name, pretrained=pretrained, **kwargs)

    def weight_classes(self, name):
        from timm.models import get_pretrained_cfg
        cfg = get_pretrained_cfg(name)
        return None if cfg is None else cfg.num_classes

    def features(self, model, x):
        if not hasattr(model, "forward_intermediates"):
            return None
        final, maps = model.forward_intermediates(x)
        return list(maps) + [model.forward_head(final, pre_logits=True)], model.forward_head(final)


class Torchvision(Library):
    size_kwarg = "image_size"

    def names(self):
        from torchvision import models
        return models.list_models(module=models)

    def create(self, name, kwargs, pretrained):
        from torchvision import models
        if name not in self.names():
            raise UsageError(f"torchvision has no classification model '{name}'; choose one of: "
                             f"{', '.join(self.names())}")
        weights = models.get_model_weights(name).DEFAULT if pretrained else None
        return models.get_model(name, weights=weights, progress=False, **kwargs)

    def weight_classes(self, name):
        from torchvision import models
        return len(models.get_model_weights(name).DEFAULT.meta["categories"])

    def features(self, model, x):
        """The last map of each resolution among the trunk's blocks, then the input of the last
        Linear, caught by hooks around one ordinary forward pass, so the logits are ``model(x)``."""
        blocks, linears = _trunk_blocks(model), [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not blocks or not linears:
            return None
        maps, pre_logits = [], []
        hooks = [block.register_forward_hook(lambda module, args, output: maps.append(output)) for block in blocks]
        hooks.append(linears[-1].register_forward_pre_hook(lambda module, args: pre_logits.append(args[0])))
        try:
            logits = model(x)
        finally:
            for hook in hooks:
                hook.remove()
        if not all(isinstance(m, torch.Tensor) and m.dim() == 4 for m in maps):
            return None
        last_of_each_size = [m for m, after in zip(maps, maps[1:] + [None]) if after is None or
                             m.shape[-2:] != after.shape[-2:]]
        return last_of_each_size + pre_logits, logits


def _trunk_blocks(model):
    """The blocks of a torchvision CNN's trunk, input to output: ResNets' layer1..4, RegNets'
    trunk_output, MNASNets' layers, the others' ``features``. None for models whose maps are tokens
    or channels-last (ViT, Swin), which would be misread as NCHW."""
    from torchvision.models import SwinTransformer
    if isinstance(model, SwinTransformer):
        return []
    layers = [getattr(model, f"layer{i}", None) for i in range(1, 5)]
    if all(layers):
        return layers
    trunk = next((getattr(model, name) for name in ("trunk_output", "features", "layers") if hasattr(model, name)),
                 None)
    return list(trunk.children()) if isinstance(trunk, nn.Sequential) else []


LIBRARIES = {"timm": Timm(), "torchvision": Torchvision()}


class ModelSpec:
    """A parsed spec; ``str()`` is its canonical form (no spaces, arguments as given)."""

    def __init__(self, library, name, kwargs):
        self.library, self.name, self.kwargs = library, name, tuple(kwargs)

    def __str__(self):
        args = ",".join(f"{key}={format_value(value)}" for key, value in self.kwargs)
        return f"{self.library}{SEPARATOR}{self.name}" + (f"({args})" if args else "")


def is_external(name):
    return isinstance(name, str) and SEPARATOR in name


def parse_model_spec(text, flag="model"):
    """The ModelSpec of ``<library>:<name>(key=value, ...)``, or a one-line UsageError."""
    library, _, call = text.partition(SEPARATOR)
    library = library.strip()
    if library not in LIBRARIES:
        raise UsageError(f"{flag} '{text}': unknown library '{library}'; choose one of: {', '.join(LIBRARIES)}")
    name, kwargs = parse_call(call, f"{flag} '{text}':")
    reserved = {"num_classes", "pretrained", "weights"} & {key for key, _ in kwargs}
    if reserved:
        raise UsageError(f"{flag} '{text}': {', '.join(sorted(reserved))} comes from the data set and "
                         "--pretrained, not from the spec")
    return ModelSpec(library, name, kwargs)


def folder_label(name):
    """``name`` with only letters, digits, '_', '-', '.' and '=' kept: a spec as part of a folder name."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", name).strip("-")


def build_external(text, num_classes, image_size=None, pretrained=False):
    """The model of spec ``text`` for ``num_classes`` classes and ``image_size`` inputs, wrapped
    in ExternalModel. With ``pretrained``: the library's own weights (which must be for as many
    classes), fetched by the library's own mechanism; offline, a one-line UsageError."""
    spec = parse_model_spec(text)
    library = LIBRARIES[spec.library]
    kwargs = dict(spec.kwargs)
    if pretrained:
        classes = library.weight_classes(spec.name)
        if classes != num_classes:
            raise UsageError(f"{spec.library}'s weights for {spec.name} are for {classes} classes, the data set "
                             f"has {num_classes}; use the matching --dataset or train a teacher")
    kwargs["num_classes"] = num_classes
    sized = image_size is not None and library.size_kwarg not in kwargs
    try:
        try:
            model = library.create(spec.name, dict(kwargs, **{library.size_kwarg: image_size}) if sized else kwargs,
                                   pretrained)
        except TypeError as err:
            if not (sized and library.size_kwarg in str(err)):
                raise
            model = library.create(spec.name, kwargs, pretrained)  # a model of fixed input size (CNNs)
    except TypeError as err:
        raise UsageError(f"cannot build {text}: {err}") from None
    except OSError as err:  # the hub's and urllib's network errors
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"cannot fetch {spec.library}'s weights for {spec.name} ({first[:160]}); offline, "
                         "pass a weight file (a state_dict of this model) as --path_t instead") from None
    return ExternalModel(str(spec), model, library)


class MissingFeatures(list):
    """The features of a model that exposes none: an empty list (so that whatever only passes them
    on, as the logit methods do, works) that is an error as soon as a method indexes them."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec

    def __getitem__(self, index):
        raise NoFeaturesError(f"{self.spec} exposes no intermediate features")


class ExternalModel(nn.Module):
    """A library's model with the zoo's calling convention. Its state_dict keys are the library's
    own: the hooks drop and restore the prefix of the attribute that holds it."""

    def __init__(self, spec, net, library):
        super().__init__()
        self.spec, self.net, self.library = spec, net, library
        self.register_state_dict_post_hook(_drop_prefix)
        self.register_load_state_dict_pre_hook(_add_prefix)

    def forward(self, x, is_feat=False, preact=False):
        if not is_feat:
            return self.net(x)
        if preact:
            raise UsageError(f"{self.spec} gives post-activation features only; use a method that does not need "
                             "pre-activation ones (abound does)")
        extracted = self.library.features(self.net, x)
        return extracted if extracted is not None else (MissingFeatures(self.spec), self.net(x))


_INNER = "net."


def _drop_prefix(module, state_dict, prefix, local_metadata):
    inner = prefix + _INNER
    items = [(prefix + key[len(inner):] if key.startswith(inner) else key, value) for key, value in state_dict.items()]
    state_dict.clear()
    state_dict.update(OrderedDict(items))


def _add_prefix(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
    for key in [k for k in state_dict if k.startswith(prefix) and not k.startswith(prefix + _INNER)]:
        state_dict[prefix + _INNER + key[len(prefix):]] = state_dict.pop(key)
