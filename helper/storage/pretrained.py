"""Building models by name or spec and loading trained ones (ours, RepDistiller's checkpoints,
torchvision's or timm's weight files, or a library's weights fetched with --pretrained)."""
from helper.core.errors import CheckpointError, UsageError
from helper.storage.checkpoint import infer_arch, load_checkpoint, model_state
from models.external import build_external, is_external


def build_model(name, num_classes, image_size=None):
    """The zoo's model ``name``, or the model of a spec ``timm:<name>(...)`` / ``torchvision:<name>(...)``
    (which takes the data set's ``image_size`` where it has an input size)."""
    from models import model_dict
    if is_external(name):
        return build_external(name, num_classes, image_size)
    if name not in model_dict:
        raise UsageError(f"unknown model '{name}'; choose one of: {', '.join(model_dict)}, "
                         "or a spec timm:<name>(key=value,...) or torchvision:<name>(...)")
    return model_dict[name](num_classes=num_classes)


def load_model(path, num_classes, device, fallback_arch=None, image_size=None):
    """A model from a checkpoint, in eval mode; its class count must equal the data set's."""
    from models import model_dict
    checkpoint = load_checkpoint(path)
    arch = infer_arch(checkpoint, path, list(model_dict), fallback_arch)
    state = model_state(checkpoint, path)
    saved_classes = checkpoint.get("num_classes")
    if saved_classes is not None and saved_classes != num_classes:
        raise UsageError(f"{path} was trained for {saved_classes} classes, but the data set has "
                         f"{num_classes}; pass the matching --dataset")
    model = build_model(arch, num_classes, image_size)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        mismatch = "size mismatch" in str(err)
        hint = (f"its classifier does not fit {num_classes} classes; pass the matching --dataset"
                if mismatch else f"its keys are not those of {arch}; pass the right architecture")
        raise CheckpointError(f"cannot load {path} as {arch}: {hint}") from None
    return model.to(device).eval(), arch, checkpoint


def load_pretrained(arch, num_classes, device, image_size=None):
    """The library's own weights of a spec (timm: the Hugging Face hub; torchvision: its DEFAULT
    weights), or for a zoo name torchvision's ImageNet weights through its weights API (downloaded
    once into the torch hub cache): IMAGENET1K_V1, the weights the original code's pretrained=True loaded."""
    if is_external(arch):
        model = build_external(arch, num_classes, image_size, pretrained=True)
        return model.to(device).eval(), arch, {"arch": arch, "num_classes": num_classes}
    from torchvision.models import get_model_weights
    from models.mobilenetv2_imagenet import MobileNetV2
    from models.resnet_imagenet import ResNet
    model = build_model(arch, num_classes)
    if not isinstance(model, (ResNet, MobileNetV2)):
        raise UsageError(f"--pretrained takes torchvision's ImageNet weights; --model_t {arch} has none "
                         "(use resnet18, resnet34, resnet50 or mobilenet_v2)")
    weights = get_model_weights(arch).IMAGENET1K_V1
    if num_classes != len(weights.meta["categories"]):
        raise UsageError(f"torchvision's {arch} weights are for {len(weights.meta['categories'])} classes, "
                         f"the data set has {num_classes}; use --dataset imagenet or train a teacher")
    try:
        state = weights.get_state_dict(progress=False)
    except OSError as err:  # URLError and HTTPError included
        raise UsageError(f"cannot fetch torchvision's {arch} weights from {weights.url} "
                         f"({getattr(err, 'reason', err)}); on an offline machine copy that file here "
                         "and pass it as --path_t") from None
    model.load_state_dict(state)
    return model.to(device).eval(), arch, {"arch": arch, "num_classes": num_classes}


def load_teacher(opt, num_classes, device, image_size=None):
    """The teacher of --path_t, or the library's weights for --model_t with --pretrained."""
    if opt.pretrained:
        return load_pretrained(opt.model_t, num_classes, device, image_size)
    return load_model(opt.path_t, num_classes, device, fallback_arch=opt.model_t, image_size=image_size)
