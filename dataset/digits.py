"""scikit-learn's bundled handwritten digits as 32x32 RGB: the offline default data set."""
import torch
import torch.nn.functional as F

from .base import ImageDataset, channel_stats

TEST_FRACTION = 0.2
SPLIT_SEED = 0  # the split is part of the data set's definition, not of a run's seed


def load_digits(data_folder=None, download=False):
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    # 8x8 grey levels 0..16 -> 32x32 uint8 RGB, so CIFAR models and DA parameters apply as they are.
    grey = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    big = F.interpolate(grey, size=(32, 32), mode="bilinear", align_corners=False)
    images = (big.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    train_idx, test_idx = train_test_split(torch.arange(len(labels)).numpy(), test_size=TEST_FRACTION,
                                           stratify=labels.numpy(), random_state=SPLIT_SEED)
    train_idx, test_idx = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
    mean, std = channel_stats(images[train_idx])
    return ImageDataset("digits", images[train_idx], labels[train_idx], images[test_idx],
                        labels[test_idx], [str(d) for d in range(10)], mean, std)
