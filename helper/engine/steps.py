"""The optimisation steps that helper.engine.loop.run_epoch runs over an epoch: cross-entropy
(train_teacher.py), the paper's objective with a stronger DA (train_student.py; the objective itself
is helper/engine/objective.py), and CRD's initialisation phase.

A step is called as ``step(images, target, index, epoch)`` on a standard-augmented uint8 batch
(``epoch`` is 1-based, for losses with a warm-up) and returns a StepResult of this process's shard;
``step.train_modes()`` sets the train/eval modes of its models before an epoch."""
from dataclasses import dataclass
from typing import Dict, NamedTuple, Optional

import torch
import torch.nn.functional as F

from distiller_zoo.logit import ViewLogits
from helper.augment import AugmentedBatch, mixed_cross_entropy
from helper.core.speed import autocast
from helper.engine.runtime import Runtime

# The terms of the paper's objective, as steps name them and run logs record them (train_<name>).
TERMS = ("ce", "kl_x", "kl_view", "mixed_ce", "method")


class StepResult(NamedTuple):
    """The loss and the student's logits on x (None where there are none to score), their targets,
    and the unweighted loss terms the step computed, by name (see TERMS); all detached."""
    loss: torch.Tensor
    logits: Optional[torch.Tensor]
    target: torch.Tensor
    terms: Dict[str, torch.Tensor]


@dataclass(frozen=True)
class Networks:
    """The models of a distillation step: the student (wrapped for data parallelism, if it is), the
    teacher, and the --distill method's module (trainable parts, if any)."""
    student: torch.nn.Module
    teacher: torch.nn.Module
    distiller: torch.nn.Module


class CrossEntropyStep:
    """train_teacher.py's step: cross-entropy of one model; with several processes each trains on
    its shard of the same global batch."""

    def __init__(self, model, optimizer, runtime: Runtime):
        self.model, self.optimizer, self.runtime = model, optimizer, runtime

    def train_modes(self):
        self.model.train()

    def __call__(self, images, target, index, epoch):
        shard = self.runtime.processes.shard
        target = shard(target)
        with autocast(images.device, self.runtime.amp):
            logits = self.model(self.runtime.normalize(shard(images)))
            loss = F.cross_entropy(logits, target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        loss = loss.detach()
        return StepResult(loss, logits.detach(), target, {"ce": loss})


class DistillStep:
    """One optimisation step of the paper's objective on a standard-augmented uint8 batch. Teacher: eval
    mode, no gradients, one forward per input (cutmix_pick's teacher logits of the picked images
    are reused as their targets); the student sees x and x' in separate forward passes.

    With several processes (helper.core.processes) `images` is the global batch: every process makes
    the same x and x' from it and trains on its shard; cutmix_pick's pool is scored shard by shard."""

    def __init__(self, networks: Networks, objective, augmentation, optimizer, runtime: Runtime, generator,
                 pick_by_student=False):
        self.student, self.teacher, self.distiller = networks.student, networks.teacher, networks.distiller
        self.augmentation, self.objective, self.optimizer = augmentation, objective, optimizer
        self.runtime, self.generator = runtime, generator
        self.normalize, self.processes = runtime.normalize, runtime.processes
        self.scorer = self._scorer(self.student if pick_by_student else self.teacher)
        self.reuse_scores = augmentation.needs_scorer and not pick_by_student and augmentation.view_logits

    def _scorer(self, model):
        def scorer(images):
            with torch.no_grad():
                return self.processes.gather(model(self.normalize(self.processes.shard(images))), len(images))
        return scorer

    def _shard(self, view):
        shard = self.processes.shard
        return AugmentedBatch(shard(view.x), shard(view.source), shard(view.partner), shard(view.lam),
                              None if view.logits is None else shard(view.logits))

    def _whole(self, coupled, total, *tensors):
        """For a loss that couples the batch's samples, every process's rows of each tensor (this
        process's keep their gradient; the gather's backward sums them over processes, which
        DistributedDataParallel's averaging turns into the one-process gradient)."""
        if not coupled:
            return tensors
        return tuple(self.processes.gather_with_grad(t, total) for t in tensors)

    def _logit_loss(self, loss, total, logit_s, logit_t, target, epoch):
        return loss(*self._whole(loss.couples_batch, total, logit_s, logit_t, target), epoch)

    def loss(self, images, target, index, epoch):
        """The objective, the student's logits on x, their targets and the loss terms (unweighted, by
        name); gradients flow to student and distiller. ``epoch`` (1-based) is for losses with a
        warm-up (DKD)."""
        objective, distiller, normalize, shard = self.objective, self.distiller, self.normalize, self.processes.shard
        x = images.float().div_(255)
        distiller_view = distiller.needs_view and objective.beta != 0  # MLKD's strong view
        view = None
        if objective.needs_view or distiller_view:
            view = self.augmentation(x, self.generator, self.scorer if self.augmentation.needs_scorer else None)
            n_view, view = len(view.x), self._shard(view)
        x, own_target, index = shard(x), shard(target), shard(index)
        with torch.no_grad():
            feat_t, logit_t = self.teacher(normalize(x), is_feat=True, preact=distiller.preact)
        feat_s, logit_s = self.student(normalize(x), is_feat=True, preact=distiller.preact)
        terms = {"ce": F.cross_entropy(logit_s, own_target)}
        loss = objective.gamma * terms["ce"]
        terms["kl_x"] = self._logit_loss(objective.kl, len(images), logit_s, logit_t, own_target, epoch)
        loss = loss + objective.alpha * objective.lw_clean * terms["kl_x"]
        view_logits = None
        if view is not None:
            logit_s_view = self.student(normalize(view.x))
            if objective.lw_view or distiller_view:
                if self.reuse_scores:
                    logit_t_view = view.logits
                else:
                    with torch.no_grad():
                        logit_t_view = self.teacher(normalize(view.x))
                # x' is supervised by the teacher alone, so its target class (DKD's) is the teacher's top-1 there
                view_logits = ViewLogits(logit_s_view, logit_t_view, logit_t_view.argmax(dim=1))
            if objective.lw_view:
                terms["kl_view"] = self._logit_loss(objective.kl, n_view, view_logits.logit_s, view_logits.logit_t,
                                                    view_logits.target, epoch)
                loss = loss + objective.alpha * objective.lw_view * terms["kl_view"]
            if objective.lw_mix_ce:
                # view.source and view.partner index the global batch, hence the global targets
                terms["mixed_ce"] = mixed_cross_entropy(logit_s_view, target, view)
                loss = loss + objective.alpha * objective.lw_mix_ce * terms["mixed_ce"]
        if objective.beta:
            coupled = distiller.couples_batch
            on_x = self._whole(coupled, len(images), logit_s, logit_t, own_target)
            if view_logits is not None:
                view_logits = ViewLogits(*self._whole(coupled, n_view, view_logits.logit_s, view_logits.logit_t,
                                                      view_logits.target))
            terms["method"] = distiller.loss(feat_s, feat_t, *on_x, index, epoch, view_logits)
            loss = loss + objective.beta * terms["method"]
        return loss, logit_s, own_target, terms

    def train_modes(self):
        self.student.train()
        self.teacher.eval()
        self.distiller.train()

    def __call__(self, images, target, index, epoch):
        with autocast(images.device, self.runtime.amp):
            loss, logit_s, own_target, terms = self.loss(images, target, index, epoch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.processes.average_gradients(self.distiller.parameters())
        self.optimizer.step()
        return StepResult(loss.detach(), logit_s.detach(), own_target, {k: v.detach() for k, v in terms.items()})


class InitStep:
    """A step of CRD's initialisation phase (abound, factor, fsp): only `modules` train, in train
    mode; the rest of the student and the teacher stay in eval mode, as in CRD's helper/pretrain.py.
    With several processes each trains on its shard of the global batch and the modules' gradients
    are averaged (their BatchNorm layers take global-batch statistics, see Processes.global_batchnorm)."""

    def __init__(self, networks: Networks, modules, optimizer, runtime: Runtime):
        self.student, self.teacher, self.distiller = networks.student, networks.teacher, networks.distiller
        self.modules, self.optimizer, self.runtime = modules, optimizer, runtime

    def train_modes(self):
        self.student.eval()
        self.teacher.eval()
        for module in self.modules:
            module.train()

    def __call__(self, images, target, index, epoch):
        shard = self.runtime.processes.shard
        x = self.runtime.normalize(shard(images))
        with torch.no_grad():
            feat_t, _ = self.teacher(x, is_feat=True, preact=self.distiller.preact)
        feat_s, _ = self.student(x, is_feat=True, preact=self.distiller.preact)
        loss = self.distiller.init_loss(feat_s, feat_t)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.runtime.processes.average_gradients([p for m in self.modules for p in m.parameters()])
        self.optimizer.step()
        return StepResult(loss.detach(), None, shard(target), {})
