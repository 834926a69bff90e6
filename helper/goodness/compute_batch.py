"""The compute batch (images per teacher forward) at which the teacher is fastest here: speed only,
since the sums are kept per batch."""
import torch

from helper.core.processes import Processes
from helper.core.speed import fastest_batch

# Compute batches tried at start-up: 1 to 32 batches of --batch_size per teacher forward.
COMPUTE_BATCH_FACTORS = (1, 2, 4, 8, 16, 32)


def fastest_compute_batch(forward, split, batch_size: int, processes=Processes()):
    """The compute batch at which ``forward`` (uint8 training images -> logits) is fastest on this
    device, and the images per second of each size tried: on a CPU small batches keep the caches
    warm (64-128 beat 1024 by 2.5x for a resnet56), on a GPU large ones fill it."""
    sizes = [batch_size * k for k in COMPUTE_BATCH_FACTORS]
    # one batch, repeated: a streamed set would otherwise decode thousands of images for timing alone
    base = split.batch(torch.arange(min(batch_size, len(split))))[0]
    return fastest_batch(forward, lambda n: base[torch.arange(n) % len(base)], sizes, processes)
