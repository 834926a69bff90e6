"""A data set on the training device: splits as uint8 tensors, batches formed from index
permutations, the standard DA and the normalisation run there."""
import torch

from helper.core.image_ops import crop_padding, standard_augment

EVAL_BATCH_SIZE = 256  # evaluation has no gradients: larger batches are just faster


class DeviceSplit:
    """One split of a data set moved once to the device as uint8 images and int64 labels."""

    def __init__(self, x, y, device, pad=None):
        self.x = x.to(device)
        self.y = y.to(device)
        self.pad = crop_padding(x.shape[-1]) if pad is None else pad

    def __len__(self):
        return len(self.y)

    @property
    def device(self):
        return self.y.device

    @property
    def labels(self):
        """All labels, on the CPU (CRD's class-aware negatives)."""
        return self.y.cpu()

    @property
    def image_size(self):
        return self.x.shape[-1]

    def probe(self, n):
        """The first n images, for the distillers' feature probe."""
        return self.x[:n]

    def batches(self, indices, generator=None):
        """self.batch of each index tensor in turn."""
        return (self.batch(index, generator) for index in indices)

    # the whole split is on every process: a batch every process asks for is simply its batch
    global_batches = batches

    def batch(self, index, generator=None):
        """Images, labels and indices of `index`; with a generator the images are standard-augmented."""
        index = index.to(self.x.device, non_blocking=True)
        images = self.x[index]
        if generator is not None:
            images = standard_augment(images, self.pad, generator)
        return images, self.y[index], index

    def epoch(self, batch_size, generators):
        """One shuffled pass of standard-augmented batches: generators["data"] orders the samples,
        generators["augment"] draws the crops and flips."""
        return Epoch(self, epoch_batches(len(self), batch_size, generators["data"]), generators["augment"])


class Epoch:
    """The batches of one pass over a split, with their count for progress bars."""

    def __init__(self, split, batches, generator):
        self.split, self.batches, self.generator = split, batches, generator

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        for index in self.batches:
            yield self.split.batch(index, self.generator)


def epoch_batches(n, batch_size, generator=None):
    """Index tensors (CPU) covering 0..n-1: shuffled with `generator`, in order without one.

    As CRD's loader (drop_last=False) the last batch may be short; a last batch of a single
    sample is dropped, since BatchNorm cannot train on one sample."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches.pop()
    return batches


class Normalize:
    """uint8 or [0, 1] float images -> float tensors standardised per channel, in the memory
    format the models use."""

    def __init__(self, mean, std, device, memory_format=torch.contiguous_format):
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)
        self.memory_format = memory_format

    def __call__(self, x):
        x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
        return ((x - self.mean) / self.std).contiguous(memory_format=self.memory_format)
