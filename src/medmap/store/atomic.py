"""Atomic file writes: write to a temporary file in the same folder, fsync, then rename. A reader never
sees a half-written file, and a killed process leaves at most a stray ``.tmp-*`` file behind."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def write_with(path: str | Path, writer: Callable[[str], None]) -> Path:
    """Call ``writer(tmp_path)`` and rename the result to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.")
    os.close(fd)
    try:
        writer(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are ordinary shareable files
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    return write_with(path, lambda tmp: Path(tmp).write_bytes(data))


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def _default(o: Any):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=_default, allow_nan=False) + "\n"


def _clean_nan(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _clean_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_nan(v) for v in obj]
    return obj


def write_json(path: str | Path, obj: Any) -> Path:
    """JSON with sorted keys (byte-stable); NaN and infinities become null."""
    return write_text(path, dumps(_clean_nan(obj)))


def write_frame(path: str | Path, df) -> Path:
    """A pandas DataFrame as CSV (by suffix) or Parquet."""
    path = Path(path)
    if path.suffix == ".parquet":
        return write_with(path, lambda tmp: df.to_parquet(tmp, index=False))
    return write_with(path, lambda tmp: df.to_csv(tmp, index=False, float_format="%.9g"))


def as_written(df):
    """``df`` as :func:`write_frame`'s CSV gives it back (numbers to 9 significant digits): results
    computed in memory then agree with those read from files, so a map built from either is the same."""
    import io

    import pandas as pd

    return pd.read_csv(io.StringIO(df.to_csv(index=False, float_format="%.9g")))


def save_tensors(path: str | Path, tensors: dict) -> Path:
    from safetensors.torch import save_file

    return write_with(path, lambda tmp: save_file({k: v.contiguous() for k, v in tensors.items()}, tmp))
