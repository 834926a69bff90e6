"""A DA's parameters, declared once: the spec parser, the ``--mix_mode`` help, the JSON records
and tune_da.py's search space all read these declarations.

    params = (Param("alpha", float, 1.0, low=0.0, low_open=True, help="Beta(alpha, alpha) ratio"),
              Param("size", int, None, low=1, derived="image_size // 4"))

A default of None means "derived from the data" (``DAConfig``); ``derived`` says how.
"""
import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

from helper.core.errors import UsageError

TYPES = (int, float, str, tuple)  # tuple: an ordered pair of floats, written (low,high)


@dataclass(frozen=True)
class Param:
    """name, type (int, float, str or tuple = a pair of floats), default, valid range.

    low / high: inclusive bounds of a number (of each element of a pair), None = unbounded;
    low_open: low itself is excluded (alpha > 0). choices: the values of a str parameter.
    search: the interval (or choices) tune_da.py searches; default: the valid range.
    """
    name: str
    type: type
    default: Any
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    choices: Tuple[str, ...] = ()
    help: str = ""
    derived: str = ""
    search: Optional[Tuple[Any, ...]] = None

    def __post_init__(self):
        if self.type not in TYPES:
            raise TypeError(f"parameter {self.name}: type must be one of int, float, str, tuple")
        if self.type is str and not self.choices:
            raise TypeError(f"parameter {self.name}: a str parameter needs its choices")
        if self.default is None and not self.derived:
            raise TypeError(f"parameter {self.name}: a None default needs `derived` to say what it means")
        if self.default is not None:
            object.__setattr__(self, "default", self.check(self.default))

    # ---------------------------------------------------------------- values

    def _number(self, value, what):
        kind = int if self.type is int else float
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (kind is int and not float(value).is_integer()):
            raise UsageError(f"{what} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
        value = kind(value)
        if not math.isfinite(value):
            raise UsageError(f"{what} must be finite, got {value!r}")
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and value > self.high
        if too_low or too_high:
            raise UsageError(f"{what} must be {self.range_text()}, got {value!r}")
        return value

    def check(self, value, owner: str = "") -> Any:
        """``value`` as this parameter's type, or UsageError saying what is allowed."""
        what = f"{owner}: {self.name}" if owner else self.name
        if value is None and self.default is None:  # "derived", asked for explicitly
            return None
        if self.type is str:
            if value not in self.choices:
                raise UsageError(f"{what} must be one of {'|'.join(self.choices)}, got {value!r}")
            return value
        if self.type is tuple:
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                raise UsageError(f"{what} must be a pair like (0.1,0.5), got {value!r}")
            pair = tuple(self._number(v, what) for v in value)
            if pair[0] > pair[1]:
                raise UsageError(f"{what} must be an ordered pair (low <= high), got {value!r}")
            return pair
        return self._number(value, what)

    def parse(self, text, owner: str = "") -> Any:
        """A value from the spec's text: a word, a number, or a tuple of numbers' texts."""
        if isinstance(text, tuple):
            return self.check(tuple(_number_text(t, self.name, owner) for t in text), owner)
        if self.type is str:
            return self.check(text, owner)
        return self.check(_number_text(text, self.name, owner), owner)

    def format(self, value) -> str:
        """The value as the canonical spec writes it (parse(format(v)) == v)."""
        if self.type is tuple:
            return "(" + ",".join(repr(float(v)) for v in value) + ")"
        if self.type is float:
            return repr(float(value))
        return str(value)

    # ---------------------------------------------------------------- descriptions

    def range_text(self) -> str:
        if self.type is str:
            return "|".join(self.choices)
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}]"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        if self.high is not None:
            return f"<= {_num(self.high)}"
        return "any number"

    def describe(self) -> str:
        """One line for the help: ``alpha: float > 0, default 1.0 (Beta(alpha, alpha) ratio)``."""
        kind = "pair" if self.type is tuple else self.type.__name__
        default = self.derived if self.default is None else self.format(self.default)
        return f"{self.name}: {kind} {self.range_text()}, default {default}" + \
            (f" ({self.help})" if self.help else "")

    def space(self) -> Dict[str, Any]:
        """The search space entry: type, default (None = derived), and the interval or choices."""
        entry = {"type": "pair" if self.type is tuple else self.type.__name__,
                 "default": list(self.default) if self.type is tuple and self.default else self.default}
        if self.type is str:
            entry["choices"] = list(self.search or self.choices)
        else:
            low, high = self.search if self.search is not None else (self.low, self.high)
            entry.update(low=low, high=high, low_open=self.low_open and self.search is None)
        return entry


def _num(v) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _number_text(text, name, owner):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        where = f"{owner}: {name}" if owner else name
        raise UsageError(f"{where} must be a number, got {text!r}") from None


def resolve(declared: Sequence[Param], given: Dict[str, Any], owner: str) -> Dict[str, Any]:
    """Every declared parameter's value: the given ones checked, the others their defaults."""
    by_name = {p.name: p for p in declared}
    for name in given:
        if name not in by_name:
            allowed = ", ".join(by_name) or "none"
            raise UsageError(f"{owner} has no parameter '{name}' (its parameters: {allowed})")
    return {p.name: p.check(given[p.name], owner) if p.name in given else p.default for p in declared}
