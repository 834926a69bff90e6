"""The interface every distillation method of the zoo implements, plus small shared helpers."""
from argparse import Namespace
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helper.core.modes import eval_mode
from helper.core.processes import Processes


@dataclass(frozen=True)
class DistillContext:
    """Everything a builder may use to size and initialise its method.

    feat_s, feat_t: the student's and teacher's feature lists (``model(x, is_feat=True)``) on a
        probe batch, for the shapes of connectors and embeddings.
    train_labels: (N,) int64 labels of the training split, on the CPU (CRD's class-aware negatives).
    opt: the options of train_student.py (feat_dim, nce_k, hint_layer, init_epochs, kd_T, seed, ...).
    processes: the training processes, for state that every process must hold alike (CRD's memory).
    """
    feat_s: list
    feat_t: list
    train_labels: Tensor
    opt: Namespace
    processes: Processes = Processes()


@torch.no_grad()
def probe_features(student: nn.Module, teacher: nn.Module, images: Tensor) -> tuple[list, list]:
    """Feature lists of both models on a normalised probe batch, as CRD takes them for the shapes;
    the student is probed in eval mode so that its BatchNorm statistics do not move."""
    with eval_mode(student):
        feat_s, _ = student(images, is_feat=True)
    feat_t, _ = teacher(images, is_feat=True)
    return feat_s, feat_t


class Distiller(nn.Module):
    """The 'other' loss of a distillation method (weighted by -b/--beta in train_student.py).

    Its parameters are the method's trainable modules (regressors, embeddings, connectors): the loop
    puts ``distiller.parameters()`` into the optimizer and ``distiller.state_dict()`` (buffers such as
    CRD's memory bank included) into the checkpoint. Modules that CRD trains only in its
    initialisation phase (AB's connector, FT's paraphraser) are frozen (``requires_grad=False``)
    during the main phase, so an optimizer that holds them never moves them.
    """

    preact: bool = False  # features are taken with model(x, is_feat=True, preact=self.preact)
    init_epochs: int = 0  # > 0: CRD's initialisation phase runs first (abound, factor, fsp: --init_epochs)
    default_beta: float = 0.0  # the -b weight CRD's README commands use for this method
    needs_view: bool = False  # loss() needs the logits on the stronger-DA view x' (MLKD's strong view)
    couples_batch: bool = False  # loss() mixes the batch's samples: several processes give it the global batch

    def forward(self, feat_s: list[Tensor], feat_t: list[Tensor], logit_s: Tensor, logit_t: Tensor,
                target: Tensor, index: Tensor) -> Tensor:
        """Scalar loss. ``target``: (B,) labels; ``index``: (B,) dataset indices of the batch."""
        raise NotImplementedError

    def kl_loss(self):
        """The LogitLoss that --method_as_kl puts in place of KL_T on x and x'; None: not a logit method."""
        return None

    def loss(self, feat_s: list[Tensor], feat_t: list[Tensor], logit_s: Tensor, logit_t: Tensor, target: Tensor,
             index: Tensor, epoch: int, view) -> Tensor:
        """What the training step calls: forward() plus what a few methods also need, the 1-based
        ``epoch`` (DKD's warm-up) and ``view``, the ViewLogits of x' (None unless needs_view or x'
        was made anyway). Feature methods implement forward() only."""
        return self(feat_s, feat_t, logit_s, logit_t, target, index)

    def init_modules(self, student: nn.Module) -> list[nn.Module]:
        """What the initialisation phase trains (only for methods with ``init_epochs > 0``). As in
        CRD, these modules are in train mode during the phase and the rest of the student in eval."""
        raise NotImplementedError(f"{type(self).__name__} has no initialisation phase")

    def init_learning_rate(self, opt) -> float:
        """The initialisation phase's learning rate; CRD uses --learning_rate except where noted."""
        return opt.learning_rate

    def init_loss(self, feat_s: list[Tensor], feat_t: list[Tensor]) -> Tensor:
        """The initialisation phase's loss."""
        raise NotImplementedError(f"{type(self).__name__} has no initialisation phase")


def set_trainable(module: nn.Module, trainable: bool) -> list[nn.Parameter]:
    """Switch a module between trained and frozen; returns its parameters."""
    params = list(module.parameters())
    for p in params:
        p.requires_grad_(trainable)
        if not trainable:
            # a gradient left over from the init phase would otherwise let momentum/weight decay move it
            p.grad = None
    return params


def pool_to_common_size(f_s: Tensor, f_t: Tensor) -> tuple[Tensor, Tensor]:
    """Average-pool the larger of two feature maps to the other's spatial size, as CRD does."""
    if f_s.shape[2:] == f_t.shape[2:]:
        return f_s, f_t
    if f_s.shape[2] > f_t.shape[2]:
        return F.adaptive_avg_pool2d(f_s, f_t.shape[2:]), f_t
    return f_s, F.adaptive_avg_pool2d(f_t, f_s.shape[2:])
