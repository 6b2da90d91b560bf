"""Option classes that validate themselves: frozen pydantic dataclasses with ranges and enums.

Every option class of medmap (the run config, analysis, geometry, causal, judge options, map rules)
is declared with :func:`options`: a frozen dataclass (``dataclasses.asdict`` / ``replace`` / ``fields``
work as on a plain one, so cache keys built from ``asdict`` do not change) whose fields pydantic checks
on construction. A field is one line: ``n_neighbors: Int = Field(15, ge=2)`` plus its docstring.

Numbers are strict where YAML could silently mislead: an integer field refuses ``1.7``, ``"5"`` and
``true``; a float field takes integers and floats only, and never NaN or infinity. A bad value raises
:class:`medmap.errors.ConfigError` with one line naming the key path, e.g.
``analyze.geometry.n_neighbors: must be >= 2 (got -1)``."""

from __future__ import annotations

import math
import numbers
from typing import Annotated, Any, Union

from pydantic import BeforeValidator, ConfigDict, StrictBool, StrictStr, ValidationError
from pydantic.dataclasses import dataclass as _pydantic_dataclass
from pydantic_core import PydanticCustomError

from medmap.errors import ConfigError

__all__ = ["MAX_SEED", "Bool", "Float", "Int", "Str", "describe_errors", "options"]

MAX_SEED = 2**31 - 1
"""Largest seed: seeds reach numpy's RandomState (UMAP, PCA), which takes < 2**32, after the offsets of
``--seeds``."""


def _int(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise PydanticCustomError("int_type", "must be an integer")
    return int(v)


def _float(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise PydanticCustomError("float_type", "must be a number")
    if isinstance(v, numbers.Integral):
        return int(v)  # kept an int: the cache keys (JSON of the options) of earlier versions stay the same
    if not math.isfinite(v):
        raise PydanticCustomError("finite_number", "must be a finite number")
    return float(v)


Int = Annotated[int, BeforeValidator(_int)]
"""An integer (Python or numpy); not a bool, a float or a string."""
Float = Annotated[Union[int, float], BeforeValidator(_float)]
"""A finite number (int or float, Python or numpy; an int stays an int); not a bool or a string."""
Bool = StrictBool
Str = StrictStr

CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False, arbitrary_types_allowed=True)


def options(cls=None, *, name: str | None = None):
    """Class decorator: ``cls`` becomes a frozen pydantic dataclass that refuses unknown keys, and whose
    construction errors are :class:`ConfigError` naming the key path (prefixed with ``name``, e.g.
    ``geometry`` for ``GeometryOptions``)."""

    def wrap(c):
        dc = _pydantic_dataclass(frozen=True, config=CONFIG)(c)
        init = dc.__init__
        where = name or c.__name__

        def __init__(self, *args, **kwargs):
            try:
                init(self, *args, **kwargs)
            except ValidationError as e:
                raise ConfigError(describe_errors(e, where, dc)) from None

        __init__.__doc__ = init.__doc__
        __init__.__wrapped__ = init
        dc.__init__ = __init__
        return dc

    return wrap if cls is None else wrap(cls)


_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "finite_number": "must be a finite number",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "dict_type": "must be a mapping of options",
    "dataclass_type": "must be a mapping of options",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "missing_argument": "is required",
    "too_short": "must have at least {min_length} item(s)",
    "string_too_short": "must not be empty",
    "too_long": "must have at most {max_length} item(s)",
}

_SECRET_TYPES = ("credentials",)
"""Error types whose input must never be echoed (a URL with a password, ...)."""
_NAMES_INPUT = ("missing_argument", "max_memory", "duplicate")
"""Error types whose message already names the input (or there is none)."""


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _path(loc: tuple) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif "[" in str(p) or str(p).startswith(("function-", "lax-", "strict-")):
            continue  # pydantic's names of union members and validators, not keys
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def _allowed(cls, loc: tuple) -> list[str]:
    """Field names of the option class at ``loc`` (a path of field names from ``cls``)."""
    import dataclasses
    import typing

    for key in loc:
        if not dataclasses.is_dataclass(cls):
            return []
        hints = typing.get_type_hints(cls, include_extras=False)
        cls = hints.get(key)
        if cls is None:
            return []
    return [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []


def describe_errors(err: ValidationError | list[dict], where: str, cls=None) -> str:
    """One line naming every invalid key path of ``err`` (a ValidationError or some of its
    ``errors()``): ``where: path: problem (got value)``; ``cls`` (the option class validated) lets an
    unknown key's message list the allowed ones."""
    parts = []
    for e in (err.errors() if isinstance(err, ValidationError) else err):
        loc = tuple(e.get("loc", ()))
        kind = e.get("type", "")
        if kind in ("unexpected_keyword_argument", "extra_forbidden"):
            allowed = _allowed(cls, loc[:-1]) if cls is not None else []
            msg = "unknown option" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
            parts.append(f"{_path(loc)}: {msg}")
            continue
        template = _MESSAGES.get(kind)
        ctx = e.get("ctx") or {}
        if kind == "literal_error":
            msg = f"must be one of {ctx.get('expected', '')}"
        elif template is not None:
            try:
                msg = template.format(**ctx)
            except (KeyError, IndexError):
                msg = e.get("msg", kind)
        else:
            msg = e.get("msg", kind)
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
        got = "" if kind in _SECRET_TYPES or kind in _NAMES_INPUT else f" (got {_short(e.get('input'))})"
        parts.append(f"{_path(loc)}: {msg}{got}")
    return f"{where}: " + "; ".join(parts)
