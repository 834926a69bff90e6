"""tune_da.py's search space, read from the DAs' declarations (``search_space``) and nothing else.

A *template* is a DA spec whose parameters that are not given are searched: ``cutmix`` searches
alpha, ``randaugment(num_ops=2)`` the magnitude only, ``pick(cutmix)`` n_run and cutmix's alpha
(``by`` is searched over its declared search choices: the teacher alone). Several templates make a
choice among them, one more categorical dimension ("da"). A parameter is searched over its
declared search interval (or choices); one whose interval is unbounded keeps its default.

    spec = render(parse_da("pick(cutmix)"), optuna_suggest(trial))   # "pick(cutmix(alpha=0.73),n_run=3)"

Dimension names are the path of DA names down the spec, then the parameter: ``cutmix.alpha``,
``pick/cutmix.alpha``, ``pick.n_run``; a name repeated in a sequence gets ``#2``, ``#3``.
"""
import math
from typing import Any, Callable, Dict, List, Optional, Sequence

from helper.augment import SEQUENCE, DASpec, parse_da, search_space

CHOICE = "da"  # the dimension that chooses among several templates

Suggest = Callable[[str, Dict[str, Any]], Any]  # (dimension name, search_space entry) -> value or None


def bounds(entry: Dict[str, Any]):
    """The closed interval an int/float/pair entry is searched on, or None when unbounded."""
    low, high = entry.get("low"), entry.get("high")
    if low is None or high is None:
        return None
    if entry.get("low_open"):
        low = low + 1 if entry["type"] == "int" else math.nextafter(low, math.inf)
    return low, high


def optuna_suggest(trial) -> Suggest:
    """Values drawn from an optuna trial (define-by-run: only the chosen template's dimensions)."""
    def suggest(name, entry):
        if "choices" in entry:
            choices = entry["choices"]
            return choices[0] if len(choices) == 1 else trial.suggest_categorical(name, choices)
        interval = bounds(entry)
        if interval is None:
            return None
        if entry["type"] == "int":
            return trial.suggest_int(name, *interval)
        if entry["type"] == "pair":  # two draws, ordered: the declared pairs are (low, high) ranges
            return tuple(sorted(trial.suggest_float(f"{name}[{i}]", *interval) for i in range(2)))
        return trial.suggest_float(name, *interval)
    return suggest


def searched(entry: Dict[str, Any]) -> bool:
    """Whether tune_da.py varies this parameter (several choices, or a bounded interval)."""
    return len(entry["choices"]) > 1 if "choices" in entry else bounds(entry) is not None


def format_value(entry: Dict[str, Any], value) -> str:
    if entry["type"] == "pair":
        return "(" + ",".join(repr(float(v)) for v in value) + ")"
    return repr(float(value)) if entry["type"] == "float" else str(value)


def render(template: DASpec, suggest: Suggest, prefix: str = "", label: str = "") -> str:
    """The spec text of ``template`` with its free parameters set by ``suggest``. A sequence is
    transparent in the names; label: this node's name when a sequence repeats a DA."""
    if template.name == SEQUENCE:
        counts: Dict[str, int] = {}
        parts = []
        for part in template.parts:
            counts[part.name] = counts.get(part.name, 0) + 1
            suffix = "" if counts[part.name] == 1 else f"#{counts[part.name]}"
            parts.append(render(part, suggest, prefix, prefix + part.name + suffix))
        return SEQUENCE.join(parts)
    here = label or prefix + template.name
    given = dict(template.options)
    args = [render(part, suggest, here + "/") for part in template.parts]
    for name, entry in search_space(template.name).items():
        value = given[name] if name in given else suggest(f"{here}.{name}", entry)
        if value is not None:
            args.append(f"{name}={format_value(entry, value)}")
    return template.name + (f"({','.join(args)})" if args else "")


def dimensions(template: DASpec) -> List[str]:
    """What a template searches, one line each: ``cutmix.alpha: float in [0.1, 2.0]``."""
    lines = []

    def record(name, entry):
        if searched(entry):
            space = "|".join(entry["choices"]) if "choices" in entry else "in [{}, {}]".format(*bounds(entry))
            lines.append(f"{name}: {entry['type']} {space}")
        elif "choices" in entry:
            return entry["choices"][0]
        return None
    render(template, record)
    return lines


def parse_templates(texts: Sequence[str], flag: str = "--mix_mode") -> List[DASpec]:
    """The parsed templates, duplicates (by canonical text) dropped, order kept."""
    templates: Dict[str, DASpec] = {}
    for text in texts:
        spec = parse_da(text, flag)
        templates.setdefault(spec.canonical, spec)
    return list(templates.values())


def trial_spec(templates: Sequence[DASpec], suggest: Suggest, choose: Optional[Callable] = None) -> str:
    """One trial's spec: the template chosen by ``choose(CHOICE, canonical texts)`` when there
    are several, its free parameters set by ``suggest``."""
    template = templates[0]
    if len(templates) > 1:
        chosen = choose(CHOICE, [t.canonical for t in templates])
        template = next(t for t in templates if t.canonical == chosen)
    return parse_da(render(template, suggest)).canonical
