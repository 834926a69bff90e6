"""Images per second of the streaming ImageFolder loader against torchvision's ImageFolder +
DataLoader with the original code's PIL transforms, at the same number of workers, in one run.

    python scripts/benchmark_loader.py --images /data/imagenet/train --workers 8 --out save/loader.json
    python scripts/benchmark_loader.py --workers 2          # a synthetic tree, see below

Ours: helper.data.streaming.StreamingSplit.epoch (decode, RandomResizedCrop(224) + flip per image, uint8
batches), as the training loop receives them (the normalisation then runs on the device); and
"ours_cpu_normalize", the same followed by the normalisation to float in the main process, as a
CPU-only run does it. Theirs: ImageFolder with Compose([RandomResizedCrop(224), RandomHorizontalFlip(),
ToTensor(), Normalize(mean, std)]) and the default collate. Both at --batch_size, shuffled, with
--workers worker processes; each pass is timed from its first batch to its last (worker start-up
excluded), alternately ours and theirs, --repeats times; the median is kept. Peak memory: the
main process's peak RSS and the largest worker's (getrusage).

Without --images it builds a tree of --n_images JPEGs of --width x --height (ImageNet's typical
size) from the Tiny ImageNet sample in ../shared/data, upscaled, in a temporary folder.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from dataset.folder import IMAGENET_MEAN, IMAGENET_STD, FolderSplit, class_folders, images_in  # noqa: E402
from helper.core.seeds import make_generators  # noqa: E402
from helper.data.splits import Normalize  # noqa: E402
from helper.data.streaming import StreamingSplit  # noqa: E402

SAMPLE = os.path.join(os.path.dirname(ROOT), "shared", "data", "tinyimagenet-sample", "tiny-imagenet-200", "train")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default=None, help="a folder of <class>/<image> files (default: synthetic)")
    parser.add_argument("--n_images", type=int, default=512, help="images per pass (the first of --images)")
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, metavar="FILE.json")
    return parser.parse_args(argv)


def synthetic_tree(root, n_images, width, height):
    """n_images JPEGs (quality 90) upscaled from the sample's images, in class folders."""
    from PIL import Image
    sources = [os.path.join(d, "images", f) for d in sorted(os.path.join(SAMPLE, c) for c in os.listdir(SAMPLE))
               for f in sorted(os.listdir(os.path.join(d, "images")))]
    for i in range(n_images):
        source = sources[i % len(sources)]
        folder = os.path.join(root, os.path.basename(os.path.dirname(os.path.dirname(source))))
        os.makedirs(folder, exist_ok=True)
        with Image.open(source) as img:
            img.convert("RGB").resize((width, height), Image.BICUBIC).save(
                os.path.join(folder, f"{i}.JPEG"), quality=90)
    return root


def file_list(root, n_images):
    classes = class_folders(root)
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = images_in(os.path.join(root, name))
        paths += files
        labels += [label] * len(files)
    keep = torch.randperm(len(paths), generator=torch.Generator().manual_seed(0))[:n_images].sort().values
    return FolderSplit([paths[i] for i in keep], torch.tensor(labels)[keep])


def timed_pass(batches, consume):
    """Seconds from the first batch to the end, and the images seen after the first batch."""
    iterator = iter(batches)
    consume(next(iterator))
    start, seen = time.perf_counter(), 0
    for batch in iterator:
        seen += consume(batch)
    return time.perf_counter() - start, seen


def ours(files, opt, epoch, normalize=None):
    split = StreamingSplit(files, opt.image_size, torch.device("cpu"), opt.workers)
    generators = make_generators(epoch)
    return timed_pass(split.epoch(opt.batch_size, generators), lambda b: len(normalize(b[0]) if normalize else b[0]))


def ours_cpu_normalize(files, opt, epoch):
    return ours(files, opt, epoch, Normalize(IMAGENET_MEAN, IMAGENET_STD, torch.device("cpu")))


def theirs(files, opt, epoch):
    from torchvision import datasets, transforms
    transform = transforms.Compose([transforms.RandomResizedCrop(opt.image_size), transforms.RandomHorizontalFlip(),
                                    transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    dataset = datasets.ImageFolder(os.path.dirname(os.path.dirname(files.paths[0])), transform=transform)
    wanted = set(files.paths)
    subset = torch.utils.data.Subset(dataset, [i for i, (p, _) in enumerate(dataset.samples) if p in wanted])
    loader = torch.utils.data.DataLoader(subset, batch_size=opt.batch_size, shuffle=True, num_workers=opt.workers,
                                         generator=torch.Generator().manual_seed(epoch))
    return timed_pass(loader, lambda b: len(b[0]))


def peak_rss_mb():
    return {"main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "largest_worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def main(argv=None):
    opt = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = opt.images or synthetic_tree(os.path.join(tmp, "train"), opt.n_images, opt.width, opt.height)
        files = file_list(root, opt.n_images)
        runs = {"ours": ours, "ours_cpu_normalize": ours_cpu_normalize, "torchvision": theirs}
        rates = {name: [] for name in runs}
        for repeat in range(opt.repeats):
            for name, run in runs.items():
                seconds, seen = run(files, opt, repeat)
                rates[name].append(seen / seconds)
    median = {name: statistics.median(r) for name, r in rates.items()}
    record = {"images_per_second": median, "speedup": median["ours"] / median["torchvision"],
              "speedup_cpu_normalize": median["ours_cpu_normalize"] / median["torchvision"],
              "all_rates": rates, "peak_rss_mb": peak_rss_mb(), "workers": opt.workers,
              "batch_size": opt.batch_size, "image_size": opt.image_size, "n_images": len(files),
              "source": opt.images or f"synthetic {opt.width}x{opt.height} JPEGs", "cpu": platform.processor(),
              "cores": os.cpu_count(), "torch": torch.__version__}
    print(f"{len(files)} images, {opt.workers} workers, batch {opt.batch_size}: ours {median['ours']:.0f} img/s "
          f"({median['ours_cpu_normalize']:.0f} with the normalisation on the CPU), torchvision ImageFolder "
          f"{median['torchvision']:.0f} img/s; speed-up {record['speedup']:.2f}x "
          f"({record['speedup_cpu_normalize']:.2f}x); "
          f"peak RSS main {record['peak_rss_mb']['main']:.0f} MB, largest worker "
          f"{record['peak_rss_mb']['largest_worker']:.0f} MB")
    if opt.out:
        os.makedirs(os.path.dirname(os.path.abspath(opt.out)), exist_ok=True)
        with open(opt.out, "w") as f:
            json.dump(record, f, indent=2)
    return record


if __name__ == "__main__":
    main()
