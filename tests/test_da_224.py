"""The stronger DAs at ImageNet's 224: crop+flip pads 28, cutout's hole is 56, AutoAugment uses
the IMAGENET policy, all derived from the image size."""
import torch
from torchvision.transforms import AutoAugmentPolicy

from dataset.folder import IMAGENET_MEAN
from helper.augment import DAConfig, build_augmentation


def test_sizes_at_224_are_the_original_codes():
    config = DAConfig(224, mean=IMAGENET_MEAN)
    assert (config.pad, config.cutout_size, config.autoaugment_policy) == (28, 56, AutoAugmentPolicy.IMAGENET)


def test_cutout_paints_a_56_square_of_the_mean_inside_a_224_image():
    x = torch.zeros(8, 3, 224, 224, dtype=torch.uint8)
    view = build_augmentation("cutout", DAConfig(224, mean=(0.5, 0.5, 0.5)))(x, torch.Generator().manual_seed(0), None)
    painted = (view.x[:, 0] != 0).sum(dim=(1, 2))
    assert painted.max() == 56 * 56 and (painted > 0).all()  # clipped at the border, else whole
