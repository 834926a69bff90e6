"""Speed settings of a run: memory format, mixed precision, compilation, cuDNN autotuning."""
import contextlib

import torch


def configure_backend(device, opt):
    """Resolve --channels_last (default: on CUDA only) and let cuDNN autotune its convolutions
    for the fixed input shapes."""
    if opt.channels_last is None:
        # On the CPU, channels-last convolutions gave float32 gradients ~2e-3 off in relative terms
        # (measured against float64 on resnet8), where the default layout is accurate to ~1e-6.
        opt.channels_last = device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def memory_format(channels_last):
    return torch.channels_last if channels_last else torch.contiguous_format


def prepare_model(model, channels_last=True, compile_model=False):
    """The model in the run's memory format, optionally compiled in place (nn.Module.compile keeps
    the state_dict keys, so checkpoints stay loadable by RepDistiller's code and ours)."""
    model = model.to(memory_format=memory_format(channels_last))
    if compile_model:
        model.compile()
    return model


def autocast(device, enabled):
    """bfloat16 autocast when enabled, on CUDA or on the CPU (where torch supports it too, though
    most CPUs run it slower than float32)."""
    if enabled:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
