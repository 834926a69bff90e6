"""The DAs a pass measures: canonical names, checked against the models at hand, built once."""
from dataclasses import dataclass
from typing import List, Optional, Sequence

from helper.augment import Augmentation, DAConfig, build_augmentation, parse_da
from helper.core.errors import UsageError
from helper.core.paper import PAPER_DAS

PICK_BY_STUDENT = "cutmix_pick_S"
# The default list (any spec of the registry is accepted): the paper's DAs, the one that needs a
# student last.
DA_NAMES = tuple(n for n in PAPER_DAS if n != PICK_BY_STUDENT) + (PICK_BY_STUDENT,)


@dataclass(frozen=True)
class Scheme:
    """A DA to measure: its canonical spec (the name in the tables), the augmentation, and who
    scores its pool when it picks ("teacher", "student" or None)."""
    name: str
    augmentation: Augmentation
    scorer: Optional[str] = None

    @property
    def reuses_teacher_logits(self) -> bool:
        """The views come with the teacher's logits on them: no second forward."""
        return self.scorer == "teacher" and self.augmentation.view_logits


def scorer_of(name: str) -> Optional[str]:
    """Whose logits the DA ``name`` asks for: "teacher", "student" or None."""
    return build_augmentation(name, DAConfig(32)).scored_by


def check_da_names(names: Sequence[str], have_student: bool) -> List[str]:
    """The canonical specs of ``names``; refuses malformed specs, and a DA that picks by a
    student's entropy without a student to score with."""
    canonical = []
    for name in names:
        spec = parse_da(name, "DA")
        if not have_student and scorer_of(spec) == "student":
            raise UsageError(f"{spec} scores with a student's entropy: pass --path_s "
                             "(a student checkpoint), or leave it out of --mix_mode")
        canonical.append(spec.canonical)
    return canonical


def build_schemes(names: Sequence[str], config: DAConfig, have_student: bool = False) -> List[Scheme]:
    """The schemes called ``names`` (canonical specs; duplicates dropped, order kept)."""
    names = list(dict.fromkeys(check_da_names(names, have_student)))
    schemes = []
    for name in names:
        augmentation = build_augmentation(name, config)
        schemes.append(Scheme(name, augmentation, augmentation.scored_by))
    return schemes
