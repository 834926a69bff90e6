"""A split streamed from image files, behind DeviceSplit's interface: DataLoader workers decode
and apply the standard DA, batches reach the device as uint8, pinned and copied without blocking.

Randomness: each batch draws one seed from the caller's generator, in order, in the main
process; each image's crop and flip follow from that seed and its position in the batch
(dataset/jpeg.py), so neither the number of workers nor of processes changes a pixel."""
import os

import torch
from torch.utils.data import DataLoader

from dataset.jpeg import CorruptImageError, ImageFiles, as_is, sample_seed
from helper.core.processes import Processes
from helper.data.splits import epoch_batches

SEED_BOUND = 2 ** 40
PREFETCH_BATCHES = 4  # per worker: enough to cover a slow file without holding many batches


def default_workers(processes=Processes()):
    """The cores this process may use, shared among the processes of its machine."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, cores // local) if processes.enabled else cores


class StreamingSplit:
    def __init__(self, files, image_size, device, num_workers, processes=Processes()):
        self.files = ImageFiles(files.paths, files.labels, image_size)
        self.labels, self.image_size, self.device = files.labels, image_size, device
        self.num_workers, self.processes = num_workers, processes

    def __len__(self):
        return len(self.labels)

    def probe(self, n):
        """The first n images (test view) on the device, for the distillers' feature probe."""
        return self.batch(torch.arange(min(n, len(self))))[0]

    def batch(self, index, generator=None):
        """The images of `index` decoded in this process: standard-augmented with a generator."""
        return next(iter(Stream(self, [index], generator, workers=0)))

    def batches(self, indices, generator=None):
        """The batches of a list of index tensors (this process's own), decoded ahead by the workers."""
        return Stream(self, list(indices), generator, workers=self.num_workers)

    def global_batches(self, indices, generator=None):
        """batches() of a list that every process holds alike: each decodes its shard of every
        batch and the shards are gathered."""
        return Stream(self, list(indices), generator, workers=self.num_workers, processes=self.processes)

    def epoch(self, batch_size, generators):
        """One shuffled pass of standard-augmented global batches; with several processes each
        decodes its shard of every batch and the shards are gathered, so all hold the batch."""
        return self.global_batches(epoch_batches(len(self), batch_size, generators["data"]), generators["augment"])


class Stream:
    """Batches of a StreamingSplit with their count (for progress bars)."""

    def __init__(self, split, batches, generator, workers, processes=Processes()):
        self.split, self.batches, self.workers, self.processes = split, batches, workers, processes
        self.seeds = (torch.randint(SEED_BOUND, (len(batches),), generator=generator).tolist()
                      if generator is not None else [None] * len(batches))

    def __len__(self):
        return len(self.batches)

    def _jobs(self):
        for index, seed in zip(self.batches, self.seeds):
            positions = self.processes.shard(torch.arange(len(index)))
            yield [(int(index[p]), None if seed is None else sample_seed(seed, int(p))) for p in positions]

    def __iter__(self):
        device = self.split.device
        loader = DataLoader(self.split.files, batch_size=None, sampler=self._jobs(), collate_fn=as_is,
                            num_workers=self.workers, pin_memory=device.type == "cuda",
                            prefetch_factor=PREFETCH_BATCHES if self.workers else None)
        for result, index in zip(loader, self.batches):
            if isinstance(result, CorruptImageError):
                raise result
            images, target, _ = (t.to(device, non_blocking=True) for t in result)
            total = len(index)
            yield (self.processes.gather(images, total), self.processes.gather(target, total),
                   index.to(device, non_blocking=True))
