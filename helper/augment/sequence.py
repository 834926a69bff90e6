"""``DA1+DA2``: apply DAs one after the other, each on the views of the previous one."""
import torch

from helper.augment.base import Augmentation, AugmentedBatch
from helper.core.errors import UsageError


def compose(first: AugmentedBatch, second: AugmentedBatch) -> AugmentedBatch:
    """The provenance of ``second``'s views (made from ``first``'s) in terms of the original
    batch. At most one of the two mixes, so each view still names two images: where the second
    mixed, its partner; else the first's."""
    source = first.source[second.source]
    mixed_second = second.partner != second.source
    partner = torch.where(mixed_second, first.source[second.partner], first.partner[second.source])
    lam = second.lam * first.lam[second.source]
    return AugmentedBatch(second.x, source, partner, lam, second.logits)


class Sequence(Augmentation):
    name, label = "+", "+"

    def __init__(self, config, parts):
        super().__init__(config)
        self.parts = list(parts)
        spec = "+".join(p.name for p in self.parts)
        if sum(p.mixes for p in self.parts) > 1:
            raise UsageError(f"'{spec}' mixes images in more than one of its DAs; a view's labels name "
                             "two images, so let one DA of a sequence mix")
        scorers = {p.scored_by for p in self.parts} - {None}
        if len(scorers) > 1:
            raise UsageError(f"'{spec}' scores with both the teacher and the student; use one model")
        self.mixes = any(p.mixes for p in self.parts)
        self.scored_by = next(iter(scorers), None)
        self.view_logits = self.parts[-1].view_logits  # earlier logits are of images changed since

    def __call__(self, x, generator=None, scorer=None):
        view = self.parts[0](x, generator, scorer)
        for part in self.parts[1:]:
            view = compose(view, part(view.x, generator, scorer))
        return view
