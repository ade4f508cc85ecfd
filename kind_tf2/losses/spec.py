"""The `loss` spec mini-language: `parse_spec`, `format_spec` and `SpecError`."""

import math
import re

from kind_tf2.errors import ConfigError
from kind_tf2.losses.terms import TERMS


class SpecError(ConfigError):
    """A `loss` spec cannot be used; the message names the term, parameter or number at fault."""


_ITEM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*(?::\s*(.*?))?\s*$", re.S)


def _split_top_level(text, sep):
    """Split on `sep` outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            raise SpecError(f"unbalanced ')' in {text!r}")
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if depth:
        raise SpecError(f"unbalanced '(' in {text!r}")
    return parts + [cur]


def _number(text, what):
    try:
        value = float(text)
    except ValueError:
        raise SpecError(f"{what}: {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise SpecError(f"{what}: {text.strip()!r} is not a finite number")
    return value


def _param_value(term, key, text):
    default = term.defaults[key]
    text = text.strip()
    what = f"{term.name}({key}=...)"
    if isinstance(default, bool) or default is None or isinstance(default, str):
        return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text
    value = _number(text, what)
    if isinstance(default, int):
        if value != int(value):
            raise SpecError(f"{what}: {text!r} must be an integer")
        return int(value)
    return value


def _format_number(x):
    return repr(int(x)) if float(x) == int(x) and abs(x) < 1e15 else repr(float(x))


def parse_spec(text):
    """`"huber(delta=0.5):1,ms_ssim(scales=3):0.16"` -> `[(name, {param: value}, weight)]`.

    A missing weight is 1. Raises SpecError naming the culprit: an unknown term or parameter, a
    bad number, a duplicate term or a negative weight.
    """
    if not text or not text.strip():
        raise SpecError("empty loss spec")
    items, seen = [], set()
    for raw in _split_top_level(text, ","):
        m = _ITEM.match(raw)
        if not m or not raw.strip():
            raise SpecError(f"cannot read {raw.strip()!r}: expected name, name:weight or name(key=value,...):weight")
        name, args, weight_text = m.group(1), m.group(2), m.group(3)
        if name not in TERMS:
            raise SpecError(f"unknown loss term {name!r}; known terms: {', '.join(sorted(TERMS))}")
        if name in seen:
            raise SpecError(f"term {name!r} appears twice")
        seen.add(name)
        term, params = TERMS[name], {}
        for arg in _split_top_level(args, ",") if args and args.strip() else []:
            if "=" not in arg:
                raise SpecError(f"{name}({arg.strip()}): parameters are key=value")
            key, value = (s.strip() for s in arg.split("=", 1))
            if key not in term.defaults:
                known = ", ".join(term.defaults) or "none"
                raise SpecError(f"{name}: unknown parameter {key!r} (parameters: {known})")
            params[key] = _param_value(term, key, value)
        try:
            term.check(params)
        except SpecError as err:
            raise SpecError(f"{name}: {err}") from None
        weight = 1.0 if weight_text is None else _number(weight_text, f"weight of {name}")
        if weight < 0:
            raise SpecError(f"weight of {name}: {weight_text} is negative")
        items.append((name, params, weight))
    return items


def format_spec(items):
    """The canonical spec string of parsed `items` (what config.json and the logs hold)."""
    out = []
    for name, params, weight in items:
        args = ",".join(f"{k}={_format_number(v) if isinstance(v, (int, float)) else v}" for k, v in params.items())
        out.append(f"{name}{f'({args})' if args else ''}:{_format_number(weight)}")
    return ",".join(out)
