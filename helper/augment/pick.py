"""The paper's entropy picking over any DA (the original code's DA_pick), and cutmix_pick, the
name it always had: run the DA n_run times on the batch (a pool of n_run * B views), score
the pool with ONE scorer call, keep the n_pick (default B) views of highest softmax entropy."""
import torch

from helper.augment.base import SCORERS, Augmentation, AugmentedBatch, softmax_entropy
from helper.augment.mix import CutMix
from helper.augment.params import Param
from helper.core.errors import UsageError


class Pick(Augmentation):
    """``pick(DA, n_run=2, n_pick=B, by=teacher|student)``.

    ``scorer`` maps images (the pixel space of x) to logits; the caller closes over the
    normalisation and the model named by ``scored_by`` under no_grad. The kept views come in
    order of decreasing entropy, with the scorer's logits (so that a teacher's need no second
    forward). The wrapped DA gets the same scorer."""
    name, label = "pick", "Pick"
    takes_da, view_logits = True, True
    params = (Param("n_run", int, 2, low=1, high=16, search=(2, 4), help="runs of the DA in the pool"),
              Param("n_pick", int, None, low=1, derived="the batch size", help="views kept"),
              # tune_da.py scores DAs from the teacher alone, so it does not search the student
              Param("by", str, "teacher", choices=SCORERS, search=("teacher",),
                    help="whose softmax entropy ranks the pool"))

    def __init__(self, config, da: Augmentation, **options):
        super().__init__(config, **options)
        self.da = da
        self.mixes = da.mixes
        self.scored_by = self.pick_by()
        if da.scored_by not in (None, self.scored_by):
            raise UsageError(f"{self.name} picks by the {self.scored_by}'s entropy around a DA that scores "
                             f"with the {da.scored_by}: use one model for both")

    def pick_by(self) -> str:
        return self.by

    def __call__(self, x, generator=None, scorer=None):
        if scorer is None:
            raise ValueError(f"{self.name} needs a scorer: a callable mapping images to logits")
        runs = [self.da(x, generator, scorer) for _ in range(self.n_run)]
        pool = torch.cat([r.x for r in runs])
        logits = scorer(pool)
        if logits.dim() != 2 or logits.shape[0] != pool.shape[0]:
            raise ValueError(f"the scorer returned logits of shape {tuple(logits.shape)} for "
                             f"{pool.shape[0]} images; expected ({pool.shape[0]}, K)")
        n_pick = x.shape[0] if self.n_pick is None else self.n_pick
        keep = softmax_entropy(logits).topk(min(n_pick, pool.shape[0])).indices
        return AugmentedBatch(pool[keep], torch.cat([r.source for r in runs])[keep],
                              torch.cat([r.partner for r in runs])[keep],
                              torch.cat([r.lam for r in runs])[keep], logits[keep])


class CutMixPick(Pick):
    """cutmix_pick, the paper's CutMixPick: pick(cutmix) with ``--mix_n_run`` runs, ``--n_pick``
    kept, by the entropy ``--cutmix_pick_criterion`` names (DAConfig.pick_by)."""
    name, label = "cutmix_pick", "CutMixPick"
    takes_da = False
    params = ()

    def __init__(self, config, **options):
        super().__init__(config, CutMix(config), **options)
        self.n_run, self.n_pick = config.mix_n_run, config.n_pick

    def pick_by(self) -> str:
        return self.config.pick_by


class CutMixPickT(CutMixPick):
    """cutmix_pick by the teacher's entropy, as eval_da_goodness.py and the tables name it."""
    name, label = "cutmix_pick_T", "CutMixPick (T. ent.)"

    def pick_by(self) -> str:
        return "teacher"


class CutMixPickS(CutMixPick):
    """cutmix_pick by the student's entropy."""
    name, label = "cutmix_pick_S", "CutMixPick (S. ent.)"

    def pick_by(self) -> str:
        return "student"
