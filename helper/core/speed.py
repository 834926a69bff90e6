"""Speed settings of a run: memory format, mixed precision, compilation, cuDNN autotuning, and
the batch size at which a model's inference is fastest on this device."""
import contextlib
import time

import torch

from helper.core.processes import Processes


def configure_backend(device):
    """Let cuDNN autotune its convolutions for the fixed input shapes."""
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


def synchronize(device):
    """Wait for the device's queued work, so that a timer counts it (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(forward, images, min_seconds=0.2):
    """The rate of `forward(images)` after one untimed call: repeated until `min_seconds` pass."""
    device = images.device
    forward(images)
    synchronize(device)
    start, calls = time.perf_counter(), 0
    while True:
        forward(images)
        calls += 1
        synchronize(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return calls * len(images) / elapsed


@torch.inference_mode()
def fastest_batch(forward, make_images, sizes, processes=Processes(), min_seconds=0.2):
    """The size in `sizes` (increasing) at which `forward` pushes the most images per second, and
    {size: images/s} of those tried. Rates fall off past the best size (caches on the CPU, memory
    on a GPU), so the search stops after two sizes in a row below 0.9 of the best. With several
    processes the rates are summed over them, so that every process makes the same choice;
    `forward` must then make no collective call, since each process times its own number of calls."""
    rates, best, worse = {}, None, 0
    for size in sizes:
        images = make_images(size)
        rate = processes.sum(torch.tensor([images_per_second(forward, images, min_seconds)],
                                          dtype=torch.float64, device=images.device)).item()
        rates[size] = rate
        if best is None or rate > rates[best]:
            best, worse = size, 0
        elif rate < 0.9 * rates[best]:
            worse += 1
            if worse == 2:
                break
    return best, rates
