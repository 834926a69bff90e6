"""Building models by name and loading trained ones (ours or RepDistiller's checkpoints)."""
from helper.checkpoint import infer_arch, load_checkpoint, model_state
from helper.errors import CheckpointError, UsageError


def build_model(name, num_classes):
    from models import model_dict
    if name not in model_dict:
        raise UsageError(f"unknown model '{name}'; choose one of: {', '.join(model_dict)}")
    return model_dict[name](num_classes=num_classes)


def load_model(path, num_classes, device, fallback_arch=None):
    """A model from a checkpoint, in eval mode; its class count must equal the data set's."""
    from models import model_dict
    checkpoint = load_checkpoint(path)
    arch = infer_arch(checkpoint, path, list(model_dict), fallback_arch)
    state = model_state(checkpoint, path)
    saved_classes = checkpoint.get("num_classes")
    if saved_classes is not None and saved_classes != num_classes:
        raise UsageError(f"{path} was trained for {saved_classes} classes, but the data set has "
                         f"{num_classes}; pass the matching --dataset")
    model = build_model(arch, num_classes)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        mismatch = "size mismatch" in str(err)
        hint = (f"its classifier does not fit {num_classes} classes; pass the matching --dataset"
                if mismatch else f"its keys are not those of {arch}; pass the right architecture")
        raise CheckpointError(f"cannot load {path} as {arch}: {hint}") from None
    return model.to(device).eval(), arch, checkpoint
