"""The paper's objective and one epoch of distillation with a stronger DA (train_student.py).

    loss = gamma * CE(s(x), y)
         + alpha * (lw1 * KL_T(s(x) || t(x)) + lw2 * CE_mix(s(x'), y_mix) + lw3 * KL_T(s(x') || t(x')))
         + beta * other(features)

x is the standard-augmented batch, x' its stronger-DA view; the target of x' is the teacher's
output on x' (never the mixed labels, except in the lw2 term)."""
import torch
import torch.nn.functional as F

from distiller_zoo.KD import DistillKL
from helper.augment import mixed_cross_entropy
from helper.batches import epoch_batches
from helper.image_ops import standard_augment
from helper.loops import EpochStats, NonFiniteGuard, progress


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


def distill_epoch(student, teacher, distiller, augmentation, objective, split, optimizer,
                  normalize, opt, generators, epoch, pad, pick_by_student=False):
    """One epoch of the paper's objective. Teacher: eval mode, no gradients, one forward per input
    (cutmix_pick's teacher logits of the picked images are reused as their targets)."""
    student.train()
    teacher.eval()
    distiller.train()
    device = split.y.device
    stats, guard = EpochStats(device), NonFiniteGuard(device)
    zero = torch.zeros((), device=device)

    def score_with(model):
        def scorer(images):
            with torch.no_grad():
                return model(normalize(images))
        return scorer

    scorer = score_with(student if pick_by_student else teacher)
    reuse_scores = augmentation.needs_scorer and not pick_by_student
    batches = epoch_batches(len(split), opt.batch_size, generators["data"])
    for step, index in enumerate(progress(batches, f"epoch {epoch}/{opt.epochs}")):
        images, target, index = split.batch(index)
        x = standard_augment(images, pad, generators["augment"]).float().div_(255)
        with torch.no_grad():
            feat_t, logit_t = teacher(normalize(x), is_feat=True, preact=distiller.preact)
        feat_s, logit_s = student(normalize(x), is_feat=True, preact=distiller.preact)
        loss = objective.gamma * F.cross_entropy(logit_s, target)
        loss = loss + objective.alpha * objective.lw_clean * objective.kl(logit_s, logit_t)
        if objective.needs_view:
            view = augmentation(x, generators["augment"], scorer if augmentation.needs_scorer else None)
            logit_s_view = student(normalize(view.x))
            if objective.lw_view:
                if reuse_scores:
                    logit_t_view = view.logits
                else:
                    with torch.no_grad():
                        logit_t_view = teacher(normalize(view.x))
                loss = loss + objective.alpha * objective.lw_view * objective.kl(logit_s_view, logit_t_view)
            if objective.lw_mix_ce:
                loss = loss + objective.alpha * objective.lw_mix_ce * mixed_cross_entropy(logit_s_view, target, view)
        other = distiller(feat_s, feat_t, logit_s, logit_t, target, index) if objective.beta else zero
        loss = loss + objective.beta * other
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        guard.observe(loss, step)
        stats.update(loss, logit_s, target)
    guard.check(epoch)
    return stats.result("train")


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
