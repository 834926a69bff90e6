"""DIST (Huang et al., NeurIPS 2022): distil relations, not the probabilities themselves. With
y = softmax(z / tau), the inter-class relation is 1 - the mean over samples of the Pearson
correlation between the student's and the teacher's rows of y, the intra-class relation the same
over classes (columns of y, across the batch); the loss is tau^2 (beta inter + gamma intra).

Authors' CIFAR-100 defaults (image_classification_sota, dist_cifar.yaml: kd 'dist_t4'): beta 1,
gamma 1, tau 4, CE weight 1, DIST weight 2."""
from torch import Tensor

from helper.core.errors import UsageError

from .base import DistillContext
from .logit import LogitDistiller, LogitLoss

PEARSON_EPS = 1e-8  # the authors' constant in the cosine's denominator


def pearson_rows(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of each row of a with the same row of b."""
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + PEARSON_EPS)


class DISTLoss(LogitLoss):
    couples_batch = True  # the intra-class relation correlates each class over the batch

    def __init__(self, beta: float, gamma: float, tau: float):
        super().__init__()
        self.beta, self.gamma, self.T = beta, gamma, tau

    def forward(self, logit_s, logit_t, target, epoch):
        y_s, y_t = (logit_s / self.T).softmax(dim=1), (logit_t / self.T).softmax(dim=1)
        inter = 1 - pearson_rows(y_s, y_t).mean()
        intra = 1 - pearson_rows(y_s.t(), y_t.t()).mean()
        return self.T ** 2 * (self.beta * inter + self.gamma * intra)


def add_args(group):
    group.add_argument("--dist_beta", type=float, default=1.0, help="DIST: weight of the inter-class relation")
    group.add_argument("--dist_gamma", type=float, default=1.0, help="DIST: weight of the intra-class relation")
    group.add_argument("--dist_tau", type=float, default=4.0, help="DIST temperature")


def build(ctx: DistillContext) -> LogitDistiller:
    opt = ctx.opt
    if opt.logit_stand:
        raise UsageError("--logit_stand is defined for the KL losses (kd, dkd, mlkd), not for dist's correlations")
    return LogitDistiller(DISTLoss(opt.dist_beta, opt.dist_gamma, opt.dist_tau), default_beta=2.0)
