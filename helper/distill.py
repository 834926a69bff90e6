"""The paper's objective and one epoch of distillation with a stronger DA (train_student.py).

    loss = gamma * CE(s(x), y)
         + alpha * (lw1 * KL_T(s(x) || t(x)) + lw2 * CE_mix(s(x'), y_mix) + lw3 * KL_T(s(x') || t(x')))
         + beta * other(features)

x is the standard-augmented batch, x' its stronger-DA view; the target of x' is the teacher's
output on x' (never the mixed labels, except in the lw2 term). KL_T is the objective's logit loss:
Hinton's KL by default, a logit method's loss (DKD, DIST) with --method_as_kl."""
import torch
import torch.nn.functional as F

from distiller_zoo.KD import DistillKL
from distiller_zoo.logit import ViewLogits
from helper.augment import AugmentedBatch, mixed_cross_entropy
from helper.batches import epoch_batches
from helper.distributed import Processes
from helper.image_ops import standard_augment
from helper.loops import EpochStats, NonFiniteGuard, progress
from helper.performance import autocast


class Objective:
    """The loss weights of a run (flags -r, -a, -b, --lw_mix, --kd_T) in one place, and the logit
    loss (a distiller_zoo.logit.LogitLoss) that stands for KL_T on x and x'."""

    def __init__(self, gamma, alpha, beta, lw_mix, kd_T, logit_loss=None):
        self.gamma, self.alpha, self.beta = gamma, alpha, beta
        self.lw_clean, self.lw_mix_ce, self.lw_view = lw_mix
        self.kl = DistillKL(kd_T) if logit_loss is None else logit_loss

    @property
    def needs_view(self):
        """Whether the stronger-DA view x' enters the loss at all."""
        return self.alpha != 0 and (self.lw_mix_ce != 0 or self.lw_view != 0)


class DistillStep:
    """One optimisation step of the paper's objective on a batch of uint8 images. Teacher: eval
    mode, no gradients, one forward per input (cutmix_pick's teacher logits of the picked images
    are reused as their targets); the student sees x and x' in separate forward passes.

    With several processes (helper.distributed) `images` is the global batch: every process makes
    the same x and x' from it and trains on its shard; cutmix_pick's pool is scored shard by shard."""

    def __init__(self, student, teacher, distiller, augmentation, objective, optimizer, normalize,
                 generator, pad, pick_by_student=False, amp=False, processes=Processes()):
        self.student, self.teacher, self.distiller = student, teacher, distiller
        self.augmentation, self.objective, self.optimizer = augmentation, objective, optimizer
        self.normalize, self.generator, self.pad, self.amp = normalize, generator, pad, amp
        self.processes = processes
        self.scorer = self._scorer(student if pick_by_student else teacher)
        self.reuse_scores = augmentation.needs_scorer and not pick_by_student

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
        """The objective and the student's logits on x; gradients flow to student and distiller.
        ``epoch`` (1-based) is for losses with a warm-up (DKD)."""
        objective, distiller, normalize, shard = self.objective, self.distiller, self.normalize, self.processes.shard
        x = standard_augment(images, self.pad, self.generator).float().div_(255)
        view = None
        if objective.needs_view or distiller.needs_view:
            view = self.augmentation(x, self.generator, self.scorer if self.augmentation.needs_scorer else None)
            n_view, view = len(view.x), self._shard(view)
        x, own_target, index = shard(x), shard(target), shard(index)
        with torch.no_grad():
            feat_t, logit_t = self.teacher(normalize(x), is_feat=True, preact=distiller.preact)
        feat_s, logit_s = self.student(normalize(x), is_feat=True, preact=distiller.preact)
        loss = objective.gamma * F.cross_entropy(logit_s, own_target)
        loss = loss + objective.alpha * objective.lw_clean * self._logit_loss(
            objective.kl, len(images), logit_s, logit_t, own_target, epoch)
        view_logits = None
        if view is not None:
            logit_s_view = self.student(normalize(view.x))
            if objective.lw_view or distiller.needs_view:
                if self.reuse_scores:
                    logit_t_view = view.logits
                else:
                    with torch.no_grad():
                        logit_t_view = self.teacher(normalize(view.x))
                # x' is supervised by the teacher alone, so its target class (DKD's) is the teacher's top-1 there
                view_logits = ViewLogits(logit_s_view, logit_t_view, logit_t_view.argmax(dim=1))
            if objective.lw_view:
                loss = loss + objective.alpha * objective.lw_view * self._logit_loss(
                    objective.kl, n_view, view_logits.logit_s, view_logits.logit_t, view_logits.target, epoch)
            if objective.lw_mix_ce:
                # view.source and view.partner index the global batch, hence the global targets
                loss = loss + objective.alpha * objective.lw_mix_ce * mixed_cross_entropy(logit_s_view, target, view)
        if objective.beta:
            coupled = distiller.couples_batch
            on_x = self._whole(coupled, len(images), logit_s, logit_t, own_target)
            if view_logits is not None:
                view_logits = ViewLogits(*self._whole(coupled, n_view, view_logits.logit_s, view_logits.logit_t,
                                                      view_logits.target))
            loss = loss + objective.beta * distiller.loss(feat_s, feat_t, *on_x, index, epoch, view_logits)
        return loss, logit_s, own_target

    def __call__(self, images, target, index, epoch):
        """Returns the loss, the student's logits on x and their targets (this process's shard)."""
        with autocast(images.device, self.amp):
            loss, logit_s, own_target = self.loss(images, target, index, epoch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.processes.average_gradients(self.distiller.parameters())
        self.optimizer.step()
        return loss.detach(), logit_s.detach(), own_target


def distill_epoch(step, split, opt, generators, epoch):
    """One epoch of `step` (a DistillStep) over the shuffled training split."""
    step.student.train()
    step.teacher.eval()
    step.distiller.train()
    device = split.y.device
    stats, guard = EpochStats(device), NonFiniteGuard(device)
    batches = epoch_batches(len(split), opt.batch_size, generators["data"])
    for number, index in enumerate(progress(batches, f"epoch {epoch}/{opt.epochs}", step.processes.is_main)):
        loss, logit_s, target = step(*split.batch(index), epoch)
        guard.observe(loss, number)
        stats.update(loss, logit_s, target)
    guard.check(epoch, step.processes)
    return stats.result("train", step.processes)


def init_epoch(student, teacher, distiller, init_modules, split, optimizer, normalize, opt, generators,
               epoch, pad):
    """CRD's initialisation phase (abound, factor, fsp): only `init_modules` train, in train mode;
    the rest of the student and the teacher stay in eval mode, as in CRD's helper/pretrain.py."""
    student.eval()
    teacher.eval()
    for module in init_modules:
        module.train()
    guard = NonFiniteGuard(split.y.device)
    batches = epoch_batches(len(split), opt.batch_size, generators["data"])
    total = torch.zeros((), device=split.y.device)
    for step, index in enumerate(progress(batches, f"init {epoch}/{opt.init_epochs}")):
        images, _, _ = split.batch(index)
        x = normalize(standard_augment(images, pad, generators["augment"]))
        with torch.no_grad():
            feat_t, _ = teacher(x, is_feat=True, preact=distiller.preact)
        feat_s, _ = student(x, is_feat=True, preact=distiller.preact)
        loss = distiller.init_loss(feat_s, feat_t)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        guard.observe(loss, step)
        total += loss.detach()
    guard.check(f"init {epoch}")
    return total.item() / max(len(batches), 1)
