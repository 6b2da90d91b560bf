"""Per-unit arrays of a run folder: ``units/<domain>/<technique>.npz``, one [units, layers] array per metric
of a causal technique, and ``ids`` naming the units ``<concept-set hash, 16 hex>:<row>``. The rows follow
the seeded sample of the set's items or pairs, so two runs' units match by id exactly when they scored
the same set with the same sampling options (what ``compare --diff`` pairs on). Written by the runner,
read by :mod:`medmap.maps.diff`; the format lives here only."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from medmap.errors import MedmapError
from medmap.store.atomic import write_bytes


def units_path(run_dir: Path, domain: str, technique: str) -> Path:
    return Path(run_dir) / "units" / domain / f"{technique}.npz"


def write_units(run_dir: Path, domain: str, technique: str, units: dict, concepts_hash: str) -> None:
    """Write the per-unit arrays ``units`` (metric -> [units, layers]) of one (domain, technique), atomically."""
    rows = max((len(v) for v in units.values()), default=0)
    buf = io.BytesIO()
    np.savez(buf, ids=np.array([f"{concepts_hash[:16]}:{i}" for i in range(rows)]),
             **{k: np.asarray(v, dtype=float) for k, v in units.items()})
    write_bytes(units_path(run_dir, domain, technique), buf.getvalue())


def read_units(run_dir: Path | None, domain: str, technique: str) -> dict | None:
    """The per-unit arrays of one (domain, technique) (``ids`` and one array per metric), or None when the
    run folder has none."""
    if run_dir is None:
        return None
    f = units_path(run_dir, domain, technique)
    if not f.is_file():
        return None
    try:
        with np.load(f, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise MedmapError(f"{f}: not a per-unit array file ({e})") from e
    if "ids" not in out:
        raise MedmapError(f"{f}: no 'ids' array")
    out["ids"] = np.asarray(out["ids"]).astype(str)
    return out
