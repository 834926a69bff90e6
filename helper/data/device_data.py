"""A data set on the training device, whichever kind it is: in-memory sets move there whole
(helper/data/splits.py), folder sets stream from their files (helper/data/streaming.py); the
loops see one interface."""
import torch

from dataset import load_dataset
from dataset.base import ImageDataset
from dataset.folder import FolderDataset
from helper.core.processes import Processes
from helper.core.speed import memory_format
from helper.data.splits import DeviceSplit, Normalize
from helper.data.streaming import StreamingSplit, default_workers


class DeviceData:
    """What the loops need of a data set: its train and test splits on the device, its
    normalisation, and the facts the DAs derive their sizes from."""

    def __init__(self, dataset, device, memory_format=torch.contiguous_format, num_workers=0,
                 processes=Processes()):
        self.name, self.classes = dataset.name, dataset.classes
        self.mean, self.std = dataset.mean, dataset.std
        self.train, self.test = SPLIT_BUILDERS[type(dataset)](dataset, device, num_workers, processes)
        self.streamed = isinstance(self.train, StreamingSplit)  # T. stddev caps its default groups there
        self.normalize = Normalize(dataset.mean, dataset.std, device, memory_format)

    @property
    def num_classes(self):
        return len(self.classes)

    @property
    def image_size(self):
        return self.train.image_size


def memory_splits(dataset, device, num_workers, processes):
    """An in-memory data set moves to the device whole."""
    return (DeviceSplit(dataset.train_x, dataset.train_y, device),
            DeviceSplit(dataset.test_x, dataset.test_y, device))


def streaming_splits(dataset, device, num_workers, processes):
    """A folder data set is decoded by workers, batch by batch."""
    return (StreamingSplit(dataset.train, dataset.image_size, device, num_workers, processes),
            StreamingSplit(dataset.test, dataset.image_size, device, num_workers, processes))


# the kind of data set -> how its splits reach the device
SPLIT_BUILDERS = {ImageDataset: memory_splits, FolderDataset: streaming_splits}


def load_device_data(opt, device, processes=None):
    """The data set of --dataset (optionally its stratified subsets) on `device`; its normaliser's
    output has the models' memory format (--channels_last)."""
    processes = processes or Processes()
    data = load_dataset(opt.dataset, opt.data_folder, download=opt.download)
    if opt.image_size:
        data = data.resized(opt.image_size)
    if opt.train_subset or opt.test_subset:
        # --subset_seed fixes one subset across seeds; without it the subset follows --seed, as it always did
        seed = opt.seed if opt.subset_seed is None else opt.subset_seed
        data = data.subset(opt.train_subset, opt.test_subset, seed=seed)
    workers = default_workers(processes) if opt.num_workers is None else opt.num_workers
    return DeviceData(data, device, memory_format(opt.channels_last), workers, processes)
