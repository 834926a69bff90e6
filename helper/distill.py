"""The paper's objective and one epoch of distillation with a stronger DA (train_student.py).

    loss = gamma * CE(s(x), y)
         + alpha * (lw1 * KL_T(s(x) || t(x)) + lw2 * CE_mix(s(x'), y_mix) + lw3 * KL_T(s(x') || t(x')))
         + beta * other(features)

x is the standard-augmented batch, x' its stronger-DA view; the target of x' is the teacher's
output on x' (never the mixed labels, except in the lw2 term)."""
import torch
import torch.nn.functional as F

from distiller_zoo.KD import DistillKL
from helper.augment import AugmentedBatch, mixed_cross_entropy
from helper.batches import epoch_batches
from helper.distributed import Processes
from helper.image_ops import standard_augment
from helper.loops import EpochStats, NonFiniteGuard, progress
from helper.performance import autocast


class Objective:
    """The loss weights of a run (flags -r, -a, -b, --lw_mix, --kd_T) in one place."""

    def __init__(self, gamma, alpha, beta, lw_mix, kd_T):
        self.gamma, self.alpha, self.beta = gamma, alpha, beta
        self.lw_clean, self.lw_mix_ce, self.lw_view = lw_mix
        self.kl = DistillKL(kd_T)

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

    def loss(self, images, target, index):
        """The objective and the student's logits on x; gradients flow to student and distiller."""
        objective, normalize, shard = self.objective, self.normalize, self.processes.shard
        x = standard_augment(images, self.pad, self.generator).float().div_(255)
        view = None
        if objective.needs_view:
            view = self._shard(self.augmentation(x, self.generator,
                                                 self.scorer if self.augmentation.needs_scorer else None))
        x, own_target, index = shard(x), shard(target), shard(index)
        with torch.no_grad():
            feat_t, logit_t = self.teacher(normalize(x), is_feat=True, preact=self.distiller.preact)
        feat_s, logit_s = self.student(normalize(x), is_feat=True, preact=self.distiller.preact)
        loss = objective.gamma * F.cross_entropy(logit_s, own_target)
        loss = loss + objective.alpha * objective.lw_clean * objective.kl(logit_s, logit_t)
        if view is not None:
            logit_s_view = self.student(normalize(view.x))
            if objective.lw_view:
                if self.reuse_scores:
                    logit_t_view = view.logits
                else:
                    with torch.no_grad():
                        logit_t_view = self.teacher(normalize(view.x))
                loss = loss + objective.alpha * objective.lw_view * objective.kl(logit_s_view, logit_t_view)
            if objective.lw_mix_ce:
                # view.source and view.partner index the global batch, hence the global targets
                loss = loss + objective.alpha * objective.lw_mix_ce * mixed_cross_entropy(logit_s_view, target, view)
        if objective.beta:
            loss = loss + objective.beta * self.distiller(feat_s, feat_t, logit_s, logit_t, own_target, index)
        return loss, logit_s, own_target

    def __call__(self, images, target, index):
        """Returns the loss, the student's logits on x and their targets (this process's shard)."""
        with autocast(images.device, self.amp):
            loss, logit_s, own_target = self.loss(images, target, index)
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
        loss, logit_s, target = step(*split.batch(index))
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
