"""Batches formed on the training device from index permutations; normalisation there too."""
import torch

EVAL_BATCH_SIZE = 256  # evaluation has no gradients: larger batches are just faster


class DeviceSplit:
    """One split of a data set moved once to the device as uint8 images and int64 labels."""

    def __init__(self, x, y, device):
        self.x = x.to(device)
        self.y = y.to(device)

    def __len__(self):
        return len(self.y)

    def batch(self, index):
        index = index.to(self.x.device, non_blocking=True)
        return self.x[index], self.y[index], index


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


def load_device_data(opt, device):
    """The data set of --dataset (optionally its stratified subsets) on `device`, and its normaliser
    (whose output has the models' memory format, --channels_last)."""
    from dataset import load_dataset
    from helper.performance import memory_format
    data = load_dataset(opt.dataset, opt.data_folder, download=opt.download)
    if opt.train_subset or opt.test_subset:
        data = data.subset(opt.train_subset, opt.test_subset, seed=opt.seed)
    normalize = Normalize(data.mean, data.std, device, memory_format(opt.channels_last))
    return (data, DeviceSplit(data.train_x, data.train_y, device),
            DeviceSplit(data.test_x, data.test_y, device), normalize)
