"""Checkpoints: written atomically, read without running pickled code, architecture inferred."""
import os
import pickle
import re
import tempfile
import zipfile

import torch

from helper.core.errors import CheckpointError
from models.external import is_external


def save_checkpoint(state, path):
    """Write to a temporary file in the same folder, flush it to disk, then rename over `path`:
    a crash at any moment leaves either the old or the new checkpoint, never a torn one."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pth", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path, map_location="cpu"):
    """torch.load with weights_only=True: tensors, numbers, strings and containers only."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else "unsafe content"
        raise CheckpointError(f"refusing to load {path}: it holds objects other than tensors and "
                              f"plain data, which could run code when unpickled ({first_line})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as err:
        raise CheckpointError(f"cannot read checkpoint {path}: truncated or corrupted "
                              f"({type(err).__name__})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a checkpoint dict (found {type(state).__name__})")
    return state


def model_state(checkpoint, path):
    """The model's state_dict: our key 'model' (also CRD's), or a bare state_dict."""
    state = checkpoint.get("model", checkpoint)
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(f"{path} holds no model state_dict under 'model'")
    return state


def arch_of_folder(label, model_names):
    """The architecture a CRD run folder's name starts with (<arch>_vanilla, <arch>_<dataset>_lr_...),
    or None. Longest name first: 'resnet8x4_vanilla' must not match 'resnet8'."""
    for name in sorted(model_names, key=len, reverse=True):
        if label == name or label.startswith(name + "_"):
            return name
    return None


def infer_arch(checkpoint, path, model_names, fallback=None):
    """The architecture of a checkpoint: its 'arch' entry, else its folder name as CRD names
    folders (<arch>_vanilla, <arch>_<dataset>_lr_...), else its file name as torchvision names
    its weights, else `fallback` (--model_t). An 'arch' may be a spec (timm:<name>(...))."""
    if checkpoint.get("arch") in model_names or is_external(checkpoint.get("arch")):
        return checkpoint["arch"]
    folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
    named = arch_of_folder(folder, model_names)
    if named is not None:
        return named
    # torchvision names its weight files <arch>-<8 hex digits>.pth (resnet34-b627a593.pth)
    published = re.fullmatch(r"(\w+)-[0-9a-f]{8}\.pth", os.path.basename(path))
    if published and published.group(1) in model_names:
        return published.group(1)
    if fallback is not None:
        return fallback
    raise CheckpointError(f"cannot tell the architecture of {path}: it has no 'arch' entry, and neither "
                          f"its folder '{folder}' nor its file name starts with a model name; pass --model_t")
