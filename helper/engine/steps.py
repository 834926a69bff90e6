"""The optimisation steps that helper.engine.loop.run_epoch runs over an epoch: cross-entropy
(train_teacher.py), the paper's objective with a stronger DA (train_student.py; the objective itself
is helper/engine/objective.py), and CRD's initialisation phase."""
import torch
import torch.nn.functional as F

from distiller_zoo.logit import ViewLogits
from helper.augment import AugmentedBatch, mixed_cross_entropy
from helper.core.processes import Processes
from helper.core.speed import autocast


class CrossEntropyStep:
    """train_teacher.py's step: cross-entropy of one model; with several processes each trains on
    its shard of the same global batch."""

    def __init__(self, model, optimizer, normalize, amp=False, processes=Processes()):
        self.model, self.optimizer, self.normalize = model, optimizer, normalize
        self.amp, self.processes = amp, processes

    def prepare(self, epoch):
        self.model.train()

    def __call__(self, images, target, index):
        shard = self.processes.shard
        target = shard(target)
        with autocast(images.device, self.amp):
            logits = self.model(self.normalize(shard(images)))
            loss = F.cross_entropy(logits, target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), logits.detach(), target


class DistillStep:
    """One optimisation step of the paper's objective on a standard-augmented uint8 batch. Teacher: eval
    mode, no gradients, one forward per input (cutmix_pick's teacher logits of the picked images
    are reused as their targets); the student sees x and x' in separate forward passes.

    With several processes (helper.core.processes) `images` is the global batch: every process makes
    the same x and x' from it and trains on its shard; cutmix_pick's pool is scored shard by shard."""

    def __init__(self, student, teacher, distiller, augmentation, objective, optimizer, normalize,
                 generator, pick_by_student=False, amp=False, processes=Processes()):
        self.student, self.teacher, self.distiller = student, teacher, distiller
        self.augmentation, self.objective, self.optimizer = augmentation, objective, optimizer
        self.normalize, self.generator, self.amp = normalize, generator, amp
        self.processes = processes
        self.scorer = self._scorer(student if pick_by_student else teacher)
        self.reuse_scores = augmentation.needs_scorer and not pick_by_student and augmentation.view_logits
        self.epoch = 1  # prepare(epoch) sets it for each epoch: DKD's warm-up depends on it

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
        loss = objective.gamma * F.cross_entropy(logit_s, own_target)
        loss = loss + objective.alpha * objective.lw_clean * self._logit_loss(
            objective.kl, len(images), logit_s, logit_t, own_target, epoch)
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

    def prepare(self, epoch):
        self.student.train()
        self.teacher.eval()
        self.distiller.train()
        self.epoch = epoch

    def __call__(self, images, target, index):
        """Returns the loss, the student's logits on x and their targets (this process's shard)."""
        with autocast(images.device, self.amp):
            loss, logit_s, own_target = self.loss(images, target, index, self.epoch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.processes.average_gradients(self.distiller.parameters())
        self.optimizer.step()
        return loss.detach(), logit_s.detach(), own_target


class InitStep:
    """A step of CRD's initialisation phase (abound, factor, fsp): only `modules` train, in train
    mode; the rest of the student and the teacher stay in eval mode, as in CRD's helper/pretrain.py.
    With several processes each trains on its shard of the global batch and the modules' gradients
    are averaged (their BatchNorm layers take global-batch statistics, see Processes.global_batchnorm)."""

    def __init__(self, student, teacher, distiller, modules, optimizer, normalize, processes=Processes()):
        self.student, self.teacher, self.distiller = student, teacher, distiller
        self.modules, self.optimizer, self.normalize = modules, optimizer, normalize
        self.processes = processes

    def prepare(self, epoch):
        self.student.eval()
        self.teacher.eval()
        for module in self.modules:
            module.train()

    def __call__(self, images, target, index):
        shard = self.processes.shard
        x = self.normalize(shard(images))
        with torch.no_grad():
            feat_t, _ = self.teacher(x, is_feat=True, preact=self.distiller.preact)
        feat_s, _ = self.student(x, is_feat=True, preact=self.distiller.preact)
        loss = self.distiller.init_loss(feat_s, feat_t)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.processes.average_gradients([p for m in self.modules for p in m.parameters()])
        self.optimizer.step()
        return loss.detach(), None, shard(target)
