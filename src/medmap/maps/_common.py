"""Small helpers shared by the map modules: canonical ordering and atomic file writes."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

DOMAIN_ORDER = ("age", "symptoms", "diseases", "progression", "drugs", "dosage")
TECHNIQUE_ORDER = ("geometry", "saliency", "lesion", "patching")


def order_key(value: str, order: tuple[str, ...]) -> tuple[int, str]:
    """Sort key: names in ``order`` first, in that order, then any others alphabetically."""
    value = str(value)
    return (order.index(value), "") if value in order else (len(order), value)


def domain_key(domain: str) -> tuple[int, str]:
    """Canonical position of a domain (age, symptoms, diseases, progression, drugs, dosage, others)."""
    return order_key(domain, DOMAIN_ORDER)


def technique_key(technique: str) -> tuple[int, str]:
    """Canonical position of a technique (geometry, saliency, lesion, patching, others)."""
    return order_key(technique, TECHNIQUE_ORDER)


def atomic_write(path: str | Path, writer: Callable[[str], None]) -> Path:
    """Call ``writer(tmp)`` on a temporary file in the target folder, then ``os.replace`` it onto
    ``path``: a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.")
    os.close(fd)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _jsonable(obj: Any) -> Any:
    """Plain Python values for JSON: numpy scalars unwrapped, NaN and infinities as None."""
    if hasattr(obj, "item") and not isinstance(obj, (list, dict, str)):
        try:
            obj = obj.item()
        except (TypeError, ValueError):
            pass
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Byte-stable JSON (sorted keys, indent 2; NaN as null), written atomically."""
    text = json.dumps(_jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
