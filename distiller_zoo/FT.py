"""FT (Kim et al., 2018): a paraphraser (autoencoder) trained on the teacher's last feature map in the
initialisation phase yields teacher 'factors'; a translator on the student learns to match them."""

import torch
import torch.nn.functional as F
from torch import Tensor

from models.util import Paraphraser, Translator

from .base import DistillContext, Distiller, pool_to_common_size, set_trainable

CIFAR_RESNETS = frozenset({"resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
                           "resnet8x4", "resnet32x4", "wrn_16_1", "wrn_16_2", "wrn_40_1", "wrn_40_2"})


def factor(f: Tensor, p: int = 2) -> Tensor:
    return F.normalize(f.pow(p).mean(1).flatten(1))


def factor_loss(f_s: Tensor, f_t: Tensor) -> Tensor:
    f_s, f_t = pool_to_common_size(f_s, f_t)
    return (factor(f_s) - factor(f_t)).abs().mean()  # L1 between the normalised factors


class FTDistiller(Distiller):
    """FT on feat[-2], the last feature map before pooling."""

    default_beta = 200.0

    def __init__(self, s_shape, t_shape, init_epochs: int):
        super().__init__()
        self.init_epochs = init_epochs
        self.paraphraser = Paraphraser(t_shape)
        self.translator = Translator(s_shape, t_shape)
        set_trainable(self.paraphraser, False)  # trained only in the initialisation phase

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        set_trainable(self.paraphraser, False)
        with torch.no_grad():
            factor_t = self.paraphraser(feat_t[-2], is_factor=True)
        return factor_loss(self.translator(feat_s[-2]), factor_t)

    def init_modules(self, student):
        set_trainable(self.paraphraser, True)
        return [self.paraphraser]

    def init_learning_rate(self, opt):
        # CRD's helper/pretrain.py: lr 0.01 for factor when the student is one of its CIFAR (wide)
        # ResNets, named one by one there, so that other ResNets (ResNet50, ImageNet ones) keep --learning_rate
        return 0.01 if opt.model_s in CIFAR_RESNETS else opt.learning_rate

    def init_loss(self, feat_s, feat_t):
        f_t = feat_t[-2]
        _, reconstruction = self.paraphraser(f_t)
        return F.mse_loss(reconstruction, f_t)


def build(ctx: DistillContext) -> FTDistiller:
    return FTDistiller(ctx.feat_s[-2].shape, ctx.feat_t[-2].shape, ctx.opt.init_epochs)
