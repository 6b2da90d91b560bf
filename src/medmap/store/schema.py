"""The run folder's file schemas, in one place: the columns of ``scores.csv`` and ``map.csv``, the
results-format version, and the checks applied when a run folder's files are read back (by the report,
``compare`` and the map)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medmap.errors import MedmapError

RESULTS_VERSION = 4
"""Version of the numbers medmap writes. Bump it in a change that alters any result (a metric's
formula, a default that is not an option, a bug fix that moves numbers): finished runs and cache
entries made by earlier versions are then recomputed instead of reported. 2: bootstrap CIs of
silhouettes no longer count an item's resampled copies as class members at distance 0. 3: CIs of
silhouettes and silhouette gaps from half samples of concepts (delete-d jackknife), gaps with a null. 4: the
lens's specific curve anchored at the first layer where the lens beats a uniform guess (not layer 0)."""

TECHNIQUE_VERSIONS = {"geometry": 3}
"""Versions of one technique's numbers, raised in a change that alters that technique's results alone (so
that the other techniques' cache entries stay valid); part of that technique's cache key and of a finished
run's identity (a technique absent here is at version 1). geometry 2: the family-wise p over layers
(``M@p_layers``), a stage probed within its disease, r2_umap's CI from the out-of-fold predictions; geometry 3: the folds of every
cross-validated metric (probes, linear R^2 and their nulls) grouped by concept (a change of a concept set
is covered by its content hash instead)."""

COLLAPSE_READINGS = ("standardized", "notop")
"""Readings of a collapse measure ``M`` in the scores: ``M@standardized`` and ``M@notop<k>``
(:mod:`medmap.analyses.collapse`)."""


def reading_metrics(metrics, measure: str = "effective_rank") -> list[str]:
    """The readings of ``measure`` present among ``metrics`` (see :data:`COLLAPSE_READINGS`), sorted."""
    return sorted({m for m in metrics if m.startswith(measure + "@")
                   and m.split("@", 1)[1].startswith(COLLAPSE_READINGS)})


def cue_subset(cue: str, present: bool) -> str:
    """The name of a cue subset in a score row, ``<metric>[<cue>=true|false]``
    (:mod:`medmap.analyses.geometry_templates`); :data:`CUE_ROW` reads it back."""
    return f"{cue}={'true' if present else 'false'}"


CUE_ROW = re.compile(r"^(?P<metric>[^\[@]+)\[(?P<cue>[^\]=]+)=(?P<side>true|false)\](?P<lexical>@lexical)?$")
"""A score row of a cue subset, ``<metric>[<cue>=true|false]``, optionally ``@lexical``."""


SCORE_COLUMNS = ("model", "n_layers", "domain", "technique", "metric", "layer", "value", "ci_low", "ci_high")
"""Columns of ``scores.csv`` (one row per model, domain, technique, metric and layer)."""
MAP_COLUMNS = ("model", "n_layers", "domain", "technique", "metric", "layer", "depth", "value",
               "ci_low", "ci_high", "smoothed", "in_interval")
"""Columns of ``map.csv`` (one row per model, domain, technique and layer of the primary metric)."""

RUN_OUTPUTS = ("scores.csv", "scores.parquet", "map.csv", "map.parquet", "map.json", "findings.json",
               "patching.json", "specificity.json", "robustness.csv", "robustness.json", "embeddings", "figures", "report.html",
               "provenance.json", "timings.json", "stage_times.json", "DONE.json")
"""Everything a run writes besides ``config.json``, the cache and the lock: removed before a run whose
inputs differ from the folder's earlier run, so no output of another config is ever read. A new output
file of a run belongs here."""

DOMAIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
"""A domain a scores file may name: any concept set's domain (letters, digits, '_', '-'; it is also a file
name). A run folder whose provenance lists its concept sets restricts the domains to those."""

_STR = ("model", "domain", "technique", "metric")
_INT = ("n_layers", "layer")


class RunFileError(MedmapError, ValueError):
    """A file of a run folder is missing, unreadable or does not match its schema."""


def _line(df: pd.DataFrame, mask) -> int:
    """The CSV line (header = line 1) of the first row where ``mask`` holds."""
    return int(np.flatnonzero(np.asarray(mask))[0]) + 2


def read_table(path: str | Path, columns: tuple[str, ...] = SCORE_COLUMNS,
               domains: tuple[str, ...] | None = None, techniques: tuple[str, ...] | None = None) -> pd.DataFrame:
    """``scores.csv`` (``columns`` = :data:`SCORE_COLUMNS`) or ``map.csv`` (:data:`MAP_COLUMNS`), read and
    checked: every column present; names non-empty; ``n_layers`` one positive integer per model;
    ``layer`` an integer in [0, n_layers); numbers numeric and never infinite, at least one finite
    value; domains well-formed (and among ``domains`` when given), techniques known (``techniques``,
    default: the technique table); no (model, domain, technique, metric, layer) twice; for a map,
    ``depth`` = layer / n_layers. Raises :class:`RunFileError` naming the file, line and column."""
    from medmap.techniques import TECHNIQUES

    techniques = TECHNIQUES if techniques is None else techniques
    path = Path(path)
    try:
        df = pd.read_csv(path, keep_default_na=True, dtype={c: str for c in _STR})
    except pd.errors.EmptyDataError:
        raise RunFileError(f"{path}: empty file (no header, no rows)") from None
    except (OSError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise RunFileError(f"{path}: cannot read CSV ({' '.join(str(e).split())})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RunFileError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))}")
    if df.empty:
        raise RunFileError(f"{path}: no rows")
    for c in _STR:
        bad = df[c].isna() | (df[c].astype(str).str.strip() == "")
        if bad.any():
            raise RunFileError(f"{path}: line {_line(df, bad)}: column {c!r} is empty")
        df[c] = df[c].astype(str)
    for c in _INT:
        num = pd.to_numeric(df[c], errors="coerce")
        bad = num.isna() | ~np.isfinite(num) | (num != np.floor(num))
        if bad.any():
            raise RunFileError(f"{path}: line {_line(df, bad)}: column {c!r} must be an integer, "
                               f"got {df[c][bad.to_numpy()].iloc[0]!r}")
        df[c] = num.astype("int64")
    bad = df["n_layers"] < 1
    if bad.any():
        raise RunFileError(f"{path}: line {_line(df, bad)}: n_layers must be at least 1")
    per_model = df.groupby("model")["n_layers"].nunique()
    if (per_model > 1).any():
        raise RunFileError(f"{path}: model {per_model[per_model > 1].index[0]!r} has more than one n_layers")
    bad = (df["layer"] < 0) | (df["layer"] >= df["n_layers"])
    if bad.any():
        row = df[bad.to_numpy()].iloc[0]
        raise RunFileError(f"{path}: line {_line(df, bad)}: layer {row['layer']} is outside 0..{row['n_layers'] - 1} "
                           f"(the model has {row['n_layers']} layers)")
    bad = ~df["domain"].map(lambda d: bool(DOMAIN_NAME.match(d)))
    if bad.any():
        raise RunFileError(f"{path}: line {_line(df, bad)}: domain {df['domain'][bad.to_numpy()].iloc[0]!r} is not "
                           "a domain name (letters, digits, '_' and '-')")
    for c, known in (("domain", domains), ("technique", techniques)):
        if known is None:
            continue
        bad = ~df[c].isin(known)
        if bad.any():
            raise RunFileError(f"{path}: line {_line(df, bad)}: unknown {c} {df[c][bad.to_numpy()].iloc[0]!r}; "
                               f"known: {', '.join(known)}")
    floats = [c for c in ("value", "ci_low", "ci_high", "depth", "smoothed") if c in columns]
    for c in floats:
        raw = df[c]
        num = pd.to_numeric(raw, errors="coerce").astype(float)
        bad = num.isna() & raw.notna()
        if bad.any():
            raise RunFileError(f"{path}: line {_line(df, bad)}: column {c!r} is not a number: "
                               f"{raw[bad.to_numpy()].iloc[0]!r}")
        bad = np.isinf(num)
        if bad.any():
            raise RunFileError(f"{path}: line {_line(df, bad)}: column {c!r} is infinite")
        df[c] = num
    if not np.isfinite(df["value"]).any():
        raise RunFileError(f"{path}: no finite value in column 'value' (every value is empty or NaN)")
    key = ["model", "domain", "technique", "metric", "layer"]
    dup = df.duplicated(key)
    if dup.any():
        row = df[dup.to_numpy()].iloc[0]
        raise RunFileError(f"{path}: line {_line(df, dup)}: a second row for model {row['model']!r}, domain "
                           f"{row['domain']!r}, technique {row['technique']!r}, metric {row['metric']!r}, "
                           f"layer {row['layer']}")
    if "depth" in columns:
        bad = ~np.isclose(df["depth"], df["layer"] / df["n_layers"], atol=1e-6)
        if bad.any():
            raise RunFileError(f"{path}: line {_line(df, bad)}: depth is not layer / n_layers")
    if "in_interval" in columns:
        text = df["in_interval"].astype(str).str.strip().str.lower()
        bad = ~text.isin(("true", "false", "1", "0", "1.0", "0.0"))
        if bad.any():
            raise RunFileError(f"{path}: line {_line(df, bad)}: in_interval must be true or false, "
                               f"got {df['in_interval'][bad.to_numpy()].iloc[0]!r}")
        df["in_interval"] = text.isin(("true", "1", "1.0"))
    return df


def check_embedding(path: str | Path, emb: Any, n_layers: int | None = None) -> dict:
    """An ``embeddings/<domain>.json`` object, checked: ``layers`` (distinct integers in [0,
    n_layers)), ``coords`` (per layer one finite [x, y] per item), ``items`` (objects with a string
    ``id`` and a ``labels`` object)."""
    path = Path(path)
    if not isinstance(emb, dict) or not all(k in emb for k in ("layers", "coords", "items")):
        raise RunFileError(f"{path}: expected an object with 'layers', 'coords' and 'items'")
    layers, coords, items = emb["layers"], emb["coords"], emb["items"]
    if not (isinstance(layers, list) and isinstance(coords, list) and isinstance(items, list)):
        raise RunFileError(f"{path}: 'layers', 'coords' and 'items' must be lists")
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0 or (n_layers and layer >= n_layers):
            raise RunFileError(f"{path}: layer {layer!r} is not a layer of the model"
                               + (f" (0..{n_layers - 1})" if n_layers else ""))
    if len(set(layers)) != len(layers):
        raise RunFileError(f"{path}: a layer is listed twice")
    for k, it in enumerate(items):
        if not isinstance(it, dict) or not isinstance(it.get("id"), str) or not isinstance(it.get("labels", {}), dict):
            raise RunFileError(f"{path}: item {k} must be an object with a string 'id' and a 'labels' object")
    n = len(items)
    if len(coords) != len(layers):
        raise RunFileError(f"{path}: {len(layers)} layers but {len(coords)} coordinate sets")
    for layer, xy in zip(layers, coords):
        if not isinstance(xy, list) or len(xy) != n:
            raise RunFileError(f"{path}: layer {layer} has {len(xy) if isinstance(xy, list) else 0} points for "
                               f"{n} items")
        for p in xy:
            if not (isinstance(p, list) and len(p) == 2 and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p)):
                raise RunFileError(f"{path}: layer {layer}: a point is not two finite numbers: {str(p)[:40]}")
    return emb


def check_map_json(path: str | Path, obj: Any) -> dict:
    """A ``map.json`` object, checked: ``intervals`` (objects with string ``domain`` and ``technique``
    and integer ``start`` <= ``end`` within the model's layers) and ``agreement`` lists."""
    path = Path(path)
    if not isinstance(obj, dict):
        raise RunFileError(f"{path}: expected an object with 'intervals' and 'agreement'")
    intervals, agreement = obj.get("intervals", []), obj.get("agreement", [])
    n_layers = obj.get("n_layers") if isinstance(obj.get("n_layers"), dict) else {}
    if not isinstance(intervals, list) or not isinstance(agreement, list):
        raise RunFileError(f"{path}: 'intervals' and 'agreement' must be lists")
    for k, iv in enumerate(intervals):
        ok = isinstance(iv, dict) and all(isinstance(iv.get(f), str) for f in ("domain", "technique")) and all(
            isinstance(iv.get(f), int) and not isinstance(iv.get(f), bool) for f in ("start", "end"))
        if not ok or not 0 <= iv["start"] <= iv["end"]:
            raise RunFileError(f"{path}: interval {k} needs string 'domain', 'technique' and integer "
                               "0 <= 'start' <= 'end'")
        n = n_layers.get(str(iv.get("model"))) if n_layers else None
        if isinstance(n, int) and iv["end"] >= n:
            raise RunFileError(f"{path}: interval {k} ends at layer {iv['end']}, beyond the model's {n} layers")
    return obj
