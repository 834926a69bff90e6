"""The DA spec language of ``--mix_mode``, parsed without eval:

    spec   := term ('+' term)*                    apply in sequence
    term   := NAME | NAME '(' arg (',' arg)* ')'
    arg    := PARAM '=' value | spec              a spec argument: the DA that pick wraps
    value  := NUMBER | WORD | '(' NUMBER ',' NUMBER ')'

e.g. ``randaugment(num_ops=2,magnitude=9)``, ``pick(cutmix(alpha=0.5), n_run=3, by=student)``,
``flip+cutout(size=12)``. Names are those of the registry; a name that holds a '+' (crop+flip)
is read as that name. Every value is checked against the DA's Param declarations.

The canonical form (``str(spec)``), used in the JSON records and by summarize.py: no spaces,
parameters in declaration order, those equal to their default left out, floats as Python
writes them (``cutmix(alpha=0.5)``; ``cutmix(alpha=1)`` is ``cutmix``).
"""
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

from helper.core.call_syntax import NUMBER as _NUMBER
from helper.core.call_syntax import WORD as _WORD
from helper.core.errors import UsageError

SEQUENCE = "+"
_PUNCTUATION = "(),=+"


@dataclass(frozen=True)
class DASpec:
    """A parsed spec. name: a registered DA or SEQUENCE; options: the explicitly given values,
    checked, in declaration order; parts: the wrapped DA (pick) or the sequence's members."""
    name: str
    options: Tuple[Tuple[str, Any], ...] = ()
    parts: Tuple["DASpec", ...] = ()
    canonical: str = ""

    def __str__(self):
        return self.canonical


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "number", or the punctuation character; "end"
    text: str
    at: int


class _Parser:
    def __init__(self, text: str, registry: Mapping[str, type], flag: str):
        self.text, self.registry, self.flag = text, registry, flag
        self.tokens = self._tokenize()
        self.i = 0

    def fail(self, why: str):
        raise UsageError(f"{self.flag} '{self.text}': {why}")

    # ---------------------------------------------------------------- tokens

    def _tokenize(self):
        text, at, tokens = self.text, 0, []
        joined = sorted((n for n in self.registry if SEQUENCE in n), key=len, reverse=True)
        while at < len(text):
            if text[at].isspace():
                at += 1
                continue
            name = next((n for n in joined if text.startswith(n, at)
                         and not _WORD.match(text, at + len(n))), None)
            word = _WORD.match(text, at)
            number = _NUMBER.match(text, at)
            if name is not None:
                tokens.append(_Token("word", name, at))
                at += len(name)
            elif word:
                tokens.append(_Token("word", word.group(), at))
                at = word.end()
            elif number:
                tokens.append(_Token("number", number.group(), at))
                at = number.end()
            elif text[at] in _PUNCTUATION:
                tokens.append(_Token(text[at], text[at], at))
                at += 1
            else:
                self.fail(f"unexpected character {text[at]!r} at position {at + 1}")
        tokens.append(_Token("end", "", len(text)))
        return tokens

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self, kind: str, wanted: str) -> _Token:
        token = self.peek()
        if token.kind != kind:
            found = "the end" if token.kind == "end" else f"'{token.text}'"
            self.fail(f"expected {wanted} at position {token.at + 1}, found {found}")
        self.i += 1
        return token

    # ---------------------------------------------------------------- grammar

    def spec(self) -> DASpec:
        parts = [self.term()]
        while self.peek().kind == SEQUENCE:
            self.i += 1
            parts.append(self.term())
        if len(parts) == 1:
            return parts[0]
        return DASpec(SEQUENCE, (), tuple(parts), SEQUENCE.join(p.canonical for p in parts))

    def term(self) -> DASpec:
        name = self.take("word", "a DA name").text
        if name not in self.registry:
            choices = ", ".join(self.registry)
            if self.text.strip() == name:
                raise UsageError(f"unknown {self.flag} '{name}'; choose one of: {choices}")
            self.fail(f"unknown DA '{name}'; choose one of: {choices}")
        cls = self.registry[name]
        declared = {p.name: p for p in cls.params}
        given: Dict[str, Any] = {}
        inner = []
        if self.peek().kind == "(":
            self.i += 1
            while True:
                if self.peek().kind == "word" and self.peek(1).kind == "=":
                    key = self.take("word", "a parameter").text
                    self.i += 1
                    if key not in declared:
                        self.fail(f"{name} has no parameter '{key}' (its parameters: "
                                  f"{', '.join(declared) or 'none'})")
                    if key in given:
                        self.fail(f"{name}: {key} is given twice")
                    try:
                        given[key] = declared[key].parse(self.value(), name)
                    except UsageError as err:
                        self.fail(str(err))
                elif cls.takes_da and self.peek().kind == "word":
                    inner.append(self.spec())
                else:
                    self.fail(f"expected a parameter like name=value in {name}(...) at position "
                              f"{self.peek().at + 1}")
                if self.peek().kind == ",":
                    self.i += 1
                    continue
                self.take(")", "',' or ')'")
                break
        if cls.takes_da and len(inner) != 1:
            self.fail(f"{name} wraps one DA, e.g. {name}(cutmix, n_run=2, by=teacher); got {len(inner)}")
        options = tuple((p.name, given[p.name]) for p in cls.params if p.name in given)
        shown = [f"{key}={declared[key].format(value)}" for key, value in options
                 if value != declared[key].default]
        args = [part.canonical for part in inner] + shown
        canonical = name + (f"({','.join(args)})" if args else "")
        return DASpec(name, options, tuple(inner), canonical)

    def value(self):
        token = self.peek()
        if token.kind in ("word", "number"):
            self.i += 1
            return token.text
        if token.kind == "(":
            self.i += 1
            items = [self.take("number", "a number").text]
            while self.peek().kind == ",":
                self.i += 1
                items.append(self.take("number", "a number").text)
            self.take(")", "',' or ')'")
            return tuple(items)
        found = "the end" if token.kind == "end" else f"'{token.text}'"
        self.fail(f"expected a value at position {token.at + 1}, found {found}")


def parse_spec(text: str, registry: Mapping[str, type], flag: str = "--mix_mode") -> DASpec:
    """The DASpec of ``text``, or UsageError (one line, naming the flag and the spec)."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"{flag} needs a DA, e.g. cutmix or cutmix(alpha=0.5)")
    parser = _Parser(text, registry, flag)
    spec = parser.spec()
    if parser.peek().kind != "end":
        token = parser.peek()
        parser.fail(f"unexpected '{token.text}' at position {token.at + 1}")
    return spec


def spec_record(spec: DASpec, registry: Mapping[str, type]) -> Dict[str, Any]:
    """A JSON-able description: name, every parameter's value (defaults filled in; None =
    derived from the data), and the parts of a pick or a sequence."""
    record: Dict[str, Any] = {"name": spec.name}
    if spec.name != SEQUENCE:
        given = dict(spec.options)
        record["params"] = {p.name: _jsonable(given.get(p.name, p.default)) for p in registry[spec.name].params}
    if spec.parts:
        record["parts"] = [spec_record(p, registry) for p in spec.parts]
    return record


def _jsonable(value: Optional[Any]):
    return list(value) if isinstance(value, tuple) else value
