"""The words and numbers of the spec languages (``--mix_mode``'s DA specs, the model specs), and
the simplest of them, a call ``NAME`` or ``NAME(key=value, ...)`` with scalar values: parsed with
regular expressions, never eval."""
import re

from helper.core.errors import UsageError

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_DOTTED = re.compile(rf"{WORD.pattern}(?:\.{WORD.pattern})*")  # timm's tagged names: resnet18.a1_in1k
_ARGUMENT = re.compile(rf"\s*({WORD.pattern})\s*=\s*({NUMBER.pattern}|{WORD.pattern})\s*")
_BOOLEANS = {"true": True, "True": True, "false": False, "False": False}


def scalar(text):
    """A value's Python form: an int, a float, a bool (true/false) or else the word itself."""
    if NUMBER.fullmatch(text):
        return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
    return _BOOLEANS.get(text, text)


def parse_call(text, flag):
    """``(name, ((key, value), ...))`` of ``NAME`` or ``NAME(key=value, ...)``, keys in the given
    order; anything else is a UsageError naming ``flag``."""
    text = text.strip()
    name = _DOTTED.match(text)
    if name is None:
        raise UsageError(f"{flag} '{text}': expected a name like resnet18 or vit_tiny_patch16_224(img_size=32)")
    rest = text[name.end():].strip()
    if not rest:
        return name.group(), ()
    if not (rest.startswith("(") and rest.endswith(")")):
        raise UsageError(f"{flag} '{text}': after the name expected (key=value, ...), found '{rest}'")
    arguments = {}
    inside = rest[1:-1]
    for piece in inside.split(",") if inside.strip() else []:
        match = _ARGUMENT.fullmatch(piece)
        if match is None:
            raise UsageError(f"{flag} '{text}': '{piece.strip()}' is not key=value with a number or a word as value")
        key, value = match.groups()
        if key in arguments:
            raise UsageError(f"{flag} '{text}': {key} is given twice")
        arguments[key] = scalar(value)
    return name.group(), tuple(arguments.items())


def format_value(value):
    """The inverse of ``scalar`` for the canonical form: true/false, and numbers as Python writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
