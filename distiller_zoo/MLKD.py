"""MLKD (Jin et al., CVPR 2023): multi-level logit distillation on a weak and a strong view of each
image; here x and the stronger-DA view x'. Predictions are 'augmented' over several temperatures
T (the KD temperature and 3, 5, 2, 6: {2, ..., 6} at the default 4), and aligned at three levels:

    instance  KL_T(s || t) per sample, times T^2, averaged over the batch
    batch     ||P_t P_t^T - P_s P_s^T||^2 / B   (the B x B sample-similarity matrices)
    class     ||P_t^T P_t - P_s^T P_s||^2 / C   (the C x C class-correlation matrices)

with P = softmax(z / T). As the authors' code computes it (KD_ours.py, used for their tables):

    loss = m * sum_T (instance_T(x) + batch_T(x)) + m_c * sum_T class_T(x) + sum_T instance_T(x')

where m is the fraction of samples whose teacher confidence (max softmax at T = 1 on x) is at most
the batch's median, and m_c the fraction of classes whose summed teacher probability is at most
their median: the code multiplies the batch-averaged loss by the mask and averages, so the masks
enter through these fractions only. Two departures from that code, both visible there as slips:
its strong-view sum evaluates T = 2 and 6 on the weak view (here every T uses x'), and its
strong-view batch and class terms are computed but never added (here likewise left out).

The authors' CIFAR-100 weights: CE 0.1 on each view, 0.9 on the rest; here -r 0.1 (CE on x),
-a 0.1 --lw_mix [0,1,0] (CE on x', with the mixed labels when x' mixes images) and -b 0.9.
--logit_stand standardises the instance terms only, as the authors of logit standardisation do."""
import torch
import torch.nn.functional as F
from torch import Tensor

from .base import DistillContext, Distiller
from .KD import DistillKL
from .logit import temperature

EXTRA_TEMPERATURES = (3.0, 5.0, 2.0, 6.0)


def batch_level(p_s: Tensor, p_t: Tensor) -> Tensor:
    return (p_t @ p_t.t() - p_s @ p_s.t()).pow(2).sum() / p_s.shape[0]


def class_level(p_s: Tensor, p_t: Tensor) -> Tensor:
    return (p_t.t() @ p_t - p_s.t() @ p_s).pow(2).sum() / p_s.shape[1]


def at_most_median(values: Tensor) -> Tensor:
    """Fraction of values <= their median (numpy's linear-interpolation percentile 50)."""
    return (values <= torch.quantile(values, 0.5)).float().mean()


class MLKDDistiller(Distiller):
    needs_view = True
    couples_batch = True  # batch- and class-level matrices and the median masks span the batch
    default_beta = 0.9

    def __init__(self, temperatures: tuple, standardized: bool = False):
        super().__init__()
        self.temperatures = tuple(temperatures)
        self.instance = [DistillKL(T, standardized) for T in self.temperatures]

    def loss(self, feat_s, feat_t, logit_s, logit_t, target, index, epoch, view):
        p_t = F.softmax(logit_t, dim=1)
        sample_mask = at_most_median(p_t.max(dim=1).values)
        class_mask = at_most_median(p_t.sum(dim=0))
        weak_instance, weak_batch, weak_class, strong = 0, 0, 0, 0
        for T, kl in zip(self.temperatures, self.instance):
            q_s, q_t = F.softmax(logit_s / T, dim=1), F.softmax(logit_t / T, dim=1)
            weak_instance = weak_instance + kl(logit_s, logit_t)
            weak_batch = weak_batch + batch_level(q_s, q_t)
            weak_class = weak_class + class_level(q_s, q_t)
            strong = strong + kl(view.logit_s, view.logit_t)
        return sample_mask * (weak_instance + weak_batch) + class_mask * weak_class + strong


def build(ctx: DistillContext) -> MLKDDistiller:
    opt = ctx.opt
    return MLKDDistiller((temperature(opt, opt.kd_T), *EXTRA_TEMPERATURES), opt.logit_stand)
