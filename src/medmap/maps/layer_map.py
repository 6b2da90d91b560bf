"""The knowledge map: per model and domain, which decoder layers each technique singles out.

:func:`build_map` takes the tidy per-layer scores of all techniques (columns ``model, n_layers,
domain, technique, metric, layer, value, ci_low, ci_high``), keeps one *primary* metric per
(domain, technique) (:data:`PRIMARY_METRICS`, overridable), smooths each curve and turns it into
intervals with :mod:`medmap.maps.rules`. The result, :class:`LayerMap`, is a long table (one row
per model, domain, technique and layer, also on a normalised depth axis ``layer / n_layers``), the
list of intervals, and an agreement count per layer (how many techniques cover it).

For the techniques with a specificity control (saliency, lesion, patching, lens) the curve is by default
``<primary>@specific`` (the domain minus the general-knowledge reference set) where the scores have it;
:attr:`LayerMap.lanes` says per (domain, technique) which curve was used and whether the lane is "not
specific" (no layer above the reference: no interval). Domains that are not medical (the reference set
itself, domain ``reference``) are not lanes of the map.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from medmap.techniques import TABLE as TECHNIQUE_TABLE
from medmap.concepts.domains import builtin_spec, builtin_specs
from medmap.errors import MedmapError
from medmap.maps._common import domain_key, technique_key
from medmap.store import write_json as write_json_atomic
from medmap.store.schema import MAP_COLUMNS, SCORE_COLUMNS
from medmap.store import write_with as atomic_write
from medmap.maps.rules import (GEOMETRY_P_MAX, SPECIFIC_MARGIN, MapRules, beyond_controls, intervals_for, is_specific,
                               smooth, within)

SPECIFIC = "@specific"
NOT_SPECIFIC, NOT_BEYOND_CONTROLS = "not specific", "not beyond controls"
LANE_STATUSES = ("mapped", NOT_SPECIFIC, NOT_BEYOND_CONTROLS)
"""A lane other than ``mapped`` has no interval; its ``reason`` says why."""


def _default_primary(domain: str, technique: str) -> str | None:
    """From the tables: the technique's own metric, or (geometry) the domain spec's primary metric."""
    info = TECHNIQUE_TABLE.get(technique)
    if info is not None and info.primary_metric is not None:
        return info.primary_metric
    spec = builtin_spec(domain)
    return spec.primary_metric if spec is not None and technique == "geometry" else None


#: The metric the map uses for each (built-in domain, technique), read from the domain and technique
#: tables. Saliency, lesion and patching use the same metric for every domain, including new ones;
#: a new domain's geometry metric comes from its spec (passed as an override by the pipeline).
PRIMARY_METRICS: dict[tuple[str, str], str] = {
    (d, t): m for d in builtin_specs() for t in TECHNIQUE_TABLE if (m := _default_primary(d, t)) is not None}

TABLE_COLUMNS = MAP_COLUMNS
AGREEMENT_COLUMNS = ("model", "domain", "layer", "depth", "count")
_STR = ("model", "domain", "technique", "metric")
_INT = ("n_layers", "layer")
_FLOAT = ("depth", "value", "ci_low", "ci_high", "smoothed")
FORMAT = "medmap.knowledge_map/1"


def _check_overrides(overrides: dict | None) -> dict:
    overrides = dict(overrides or {})
    for key, metric in overrides.items():
        if not (isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key)):
            raise MedmapError(f"primary-metric override key {key!r} must be a (domain, technique) "
                              "tuple of strings; use ('*', technique) for every domain")
        if not isinstance(metric, str) or not metric:
            raise MedmapError(f"primary-metric override for {key!r} must be a metric name, got "
                              f"{metric!r}")
    return overrides


def _lookup(domain: str, technique: str, overrides: dict) -> str | None:
    for key in ((domain, technique), ("*", technique)):
        if key in overrides:
            return overrides[key]
    return _default_primary(domain, technique)


def primary_metric(domain: str, technique: str, overrides: dict | None = None) -> str:
    """The metric the map uses for (domain, technique).

    ``overrides`` maps ``(domain, technique)`` (or ``("*", technique)`` for every domain) to a metric
    name and wins over :data:`PRIMARY_METRICS`. Raises :class:`MedmapError` when none is known (e.g.
    geometry of a new domain): pass an override for it.
    """
    metric = _lookup(domain, technique, _check_overrides(overrides))
    if metric is None:
        raise MedmapError(f"no primary metric for domain {domain!r}, technique {technique!r}; "
                          f"pass one, e.g. primary={{({domain!r}, {technique!r}): 'metric.name'}}")
    return metric


@dataclass(eq=False)
class LayerMap:
    """A knowledge map of one or more models."""

    table: pd.DataFrame
    """Long table, one row per (model, domain, technique, layer), columns :data:`TABLE_COLUMNS`:
    the primary metric's value and CI, ``depth = layer / n_layers`` in [0, 1), the smoothed value,
    and ``in_interval`` (the layer lies in one of the technique's intervals)."""

    intervals: list[dict] = field(default_factory=list)
    """One dict per interval: ``model, domain, technique, metric, start, end`` (inclusive layers),
    ``start_depth = start / n_layers`` and ``end_depth = (end + 1) / n_layers``: the interval covers
    the half-open depth range [start_depth, end_depth)."""

    agreement: pd.DataFrame | None = None
    """Columns :data:`AGREEMENT_COLUMNS`: per (model, domain, layer), how many techniques' intervals
    cover the layer."""

    rules: MapRules = field(default_factory=MapRules)
    """The rules the intervals were drawn with."""

    lanes: list[dict] = field(default_factory=list)
    """One dict per (model, domain, technique) lane: ``metric`` (the curve used), ``curve`` (``specific``
    or ``raw``), ``status`` (``mapped``; ``not specific``: no layer of the domain's specific curve has its
    CI above 0 inside the curve's intervals; ``not beyond controls``: no geometry layer of the interval beats
    its permutation null and lexical baseline; either way the lane has no interval) and ``reason`` (in
    words)."""

    def __post_init__(self):
        if self.agreement is None:
            self.agreement = _agreement(self.table)

    @property
    def n_layers(self) -> dict[str, int]:
        """Number of decoder layers per model."""
        firsts = self.table.drop_duplicates("model")
        return {str(m): int(n) for m, n in zip(firsts["model"], firsts["n_layers"])}

    def to_json_dict(self) -> dict:
        """Intervals, agreement records, rules and layer counts as plain JSON-ready values."""
        return {"format": FORMAT, "rules": self.rules.to_dict(), "n_layers": self.n_layers,
                "intervals": [dict(i) for i in self.intervals], "lanes": [dict(x) for x in self.lanes],
                "agreement": self.agreement.to_dict(orient="records")}

    def save(self, folder: str | Path) -> Path:
        """Write ``map.csv``, ``map.parquet`` (when pyarrow is installed) and ``map.json`` into
        ``folder`` (created if needed), each atomically. Returns the folder."""
        folder = Path(folder)
        table = self.table
        atomic_write(folder / "map.csv", lambda tmp: table.to_csv(tmp, index=False))
        if _has_pyarrow():
            atomic_write(folder / "map.parquet", lambda tmp: table.to_parquet(tmp, index=False))
        write_json_atomic(folder / "map.json", self.to_json_dict())
        return folder

    def equals(self, other: "LayerMap") -> bool:
        """Same table, intervals, agreement and rules."""
        return (isinstance(other, LayerMap) and self.rules == other.rules
                and self.intervals == other.intervals and self.table.equals(other.table)
                and self.lanes == other.lanes
                and self.agreement.equals(other.agreement))


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _coerce(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Column order and dtypes of a map frame, the same whether built or loaded."""
    df = df.loc[:, list(columns)].reset_index(drop=True)
    for col in columns:
        if col in _STR:
            df[col] = df[col].astype(str)
        elif col in _INT or col == "count":
            df[col] = df[col].astype("int64")
        elif col == "in_interval":
            df[col] = df[col].astype(bool)
        else:
            df[col] = df[col].astype("float64")
    return df


def _agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Per (model, domain, layer): the number of techniques whose intervals cover the layer."""
    grouped = table.groupby(["model", "domain", "layer"], sort=False)
    out = grouped.agg(depth=("depth", "first"), count=("in_interval", "sum")).reset_index()
    return _coerce(out, AGREEMENT_COLUMNS)


def _validate(scores: pd.DataFrame) -> dict[str, int]:
    """Check the scores frame; return the number of layers per model."""
    if not isinstance(scores, pd.DataFrame):
        raise MedmapError(f"build_map needs a pandas DataFrame of scores, got {type(scores).__name__}")
    if scores.empty:
        raise MedmapError("nothing to map: the scores frame has no rows")
    missing = [c for c in SCORE_COLUMNS[:7] if c not in scores.columns]
    if missing:
        raise MedmapError(f"scores frame lacks column(s) {missing}; expected {list(SCORE_COLUMNS)}")
    for col in ("model", "n_layers", "domain", "technique", "metric", "layer"):
        bad = scores[col].isna()
        if bad.any():
            raise MedmapError(f"scores column {col!r} is empty in {int(bad.sum())} row(s), first at "
                              f"row {scores.index[bad.to_numpy()][0]!r}")
    n_layers = {}
    for model, group in scores.groupby("model", sort=True):
        values = pd.unique(group["n_layers"])
        if len(values) != 1 or float(values[0]) != int(values[0]) or int(values[0]) < 1:
            raise MedmapError(f"model {model!r}: n_layers must be one positive integer, got "
                              f"{sorted(map(float, values))}")
        n = n_layers[str(model)] = int(values[0])
        layers = group["layer"].astype("float64").to_numpy()
        bad = (layers != np.floor(layers)) | (layers < 0) | (layers >= n)
        if bad.any():
            raise MedmapError(f"model {model!r}: layer {layers[bad][0]!r} is not an integer in "
                              f"[0, {n}) (n_layers={n})")
    return n_layers


def build_map(scores: pd.DataFrame, rules: MapRules = MapRules(),
              primary: dict | None = None) -> LayerMap:
    """Draw the knowledge map from tidy per-layer scores.

    Only the rows of each (domain, technique)'s primary metric are used (see
    :func:`primary_metric`; ``primary`` overrides it). A (domain, technique) whose primary metric
    is absent from ``scores`` is absent from the map. Layers missing from a curve count as NaN; each
    curve is smoothed and cut into intervals by :func:`medmap.maps.rules.intervals_for`.
    """
    overrides = _check_overrides(primary)
    n_layers = _validate(scores)
    if "ci_low" not in scores.columns or "ci_high" not in scores.columns:
        scores = scores.assign(**{c: np.nan for c in ("ci_low", "ci_high") if c not in scores})
    keys = scores[["model", "domain", "technique"]].drop_duplicates().astype(str)
    keys = sorted(keys.itertuples(index=False, name=None),
                  key=lambda k: (k[0], domain_key(k[1]), technique_key(k[2])))
    frames, intervals = [], []
    as_str = scores[["model", "domain", "technique", "metric"]].astype(str)
    lanes = []
    for model, domain, technique in keys:
        spec = builtin_spec(domain)
        if spec is not None and not spec.medical:
            continue
        metric = _lookup(domain, technique, overrides)
        if metric is None:
            continue

        def select(m):
            return scores.loc[((as_str["model"] == model) & (as_str["domain"] == domain)
                               & (as_str["technique"] == technique) & (as_str["metric"] == m)).to_numpy()]

        rows = select(metric)
        lane = _lane(technique, metric, rules)
        if lane["curve"] == "specific":
            specific = select(metric + SPECIFIC)
            if specific.empty:
                lane.update(curve="raw", reason=f"no {metric}{SPECIFIC} rows (reference set not run): raw curve")
            else:
                rows, metric = specific, metric + SPECIFIC
        if rows.empty:
            continue
        n = n_layers[model]
        layer = rows["layer"].astype("int64").to_numpy()
        if len(np.unique(layer)) != len(layer):
            dup = int(pd.Series(layer)[pd.Series(layer).duplicated()].iloc[0])
            raise MedmapError(f"model {model!r}, domain {domain!r}, technique {technique!r}, metric "
                              f"{metric!r}: layer {dup} appears more than once")
        curve = pd.DataFrame({"layer": np.arange(n)})
        for col in ("value", "ci_low", "ci_high"):
            curve[col] = _per_layer(rows, n, col)
        curve["smoothed"] = smooth(curve["value"].to_numpy(), rules.sigma)
        found = intervals_for(technique, curve["value"].to_numpy(), rules)
        if lane["curve"] == "specific":
            found = _specific_part(found, curve["ci_low"].to_numpy(), lane)
        elif technique == "geometry" and rules.geometry_control == "controlled":
            found = _controlled_part(found, select(metric + "@p"), select(metric + "@excess"), n, lane)
        lanes.append({"model": model, "domain": domain, "technique": technique, "metric": metric, **lane})
        inside = np.zeros(n, dtype=bool)
        for start, end in found:
            inside[start:end + 1] = True
            intervals.append({"model": model, "domain": domain, "technique": technique,
                              "metric": metric, "start": int(start), "end": int(end),
                              "start_depth": start / n, "end_depth": (end + 1) / n})
        curve = curve.assign(model=model, n_layers=n, domain=domain, technique=technique,
                             metric=metric, depth=curve["layer"] / n, in_interval=inside)
        frames.append(curve)
    if not frames:
        present = sorted(as_str["metric"].unique())
        raise MedmapError(f"nothing to map: no primary metric found in the scores (metrics present: "
                          f"{present}); pass primary={{(domain, technique): metric}} to choose")
    table = _coerce(pd.concat(frames, ignore_index=True), TABLE_COLUMNS)
    return LayerMap(table=table, intervals=intervals, rules=rules, lanes=lanes)


def _per_layer(rows: pd.DataFrame, n: int, col: str = "value") -> np.ndarray:
    """Column ``col`` of a curve's rows as an array over layers 0..n-1 (NaN where a layer has no row)."""
    full = np.full(n, np.nan)
    full[rows["layer"].astype("int64").to_numpy()] = pd.to_numeric(rows[col], errors="coerce").to_numpy(dtype="float64")
    return full


def _specific_part(found: list, ci_low: np.ndarray, lane: dict) -> list:
    """The layers of a specific curve's intervals whose CI lies above the reference set's effect; the lane
    (updated in place) is "not specific" when there are none."""
    with np.errstate(invalid="ignore"):
        above = ci_low > SPECIFIC_MARGIN
    if not is_specific(ci_low):
        lane.update(status=NOT_SPECIFIC, reason="no layer's CI lies above the reference set's effect: "
                                                "not treated differently from general knowledge")
        return []
    kept = within(found, above)
    if not kept:
        lane.update(status=NOT_SPECIFIC, reason=f"the {int(above.sum())} layer(s) whose CI lies above the reference "
                                                "set's effect are outside the curve's intervals")
    else:
        lane["reason"] = (f"{int(above.sum())} layer(s) whose CI lies above the reference set's effect; the "
                          f"intervals keep those of them inside the curve's top runs")
    return kept


def _controlled_part(found: list, p_rows: pd.DataFrame, excess_rows: pd.DataFrame, n: int, lane: dict) -> list:
    """The layers of a geometry lane's intervals that beat the curve's permutation null and lexical
    baseline (:func:`medmap.maps.rules.beyond_controls`); the lane (updated in place) is "not beyond
    controls" when none does. Without the control rows the intervals stay as they are, and the reason says so."""
    if p_rows.empty or excess_rows.empty:
        lane["reason"] = "no permutation-null or excess rows for this curve: intervals not checked against controls"
        return found
    ok = beyond_controls(_per_layer(p_rows, n), _per_layer(excess_rows, n))
    kept = within(found, ok)
    if found and not kept:
        lane.update(status=NOT_BEYOND_CONTROLS,
                    reason=f"no layer of the fastest rise has p < {GEOMETRY_P_MAX:g} and a value above both its "
                           f"null's 95th percentile and its lexical baseline ({int(ok.sum())} such layer(s) "
                           f"elsewhere): chance or the prompt's tokens explain the rise")
    elif found:
        lane["reason"] = (f"{int(ok.sum())} layer(s) beat the permutation null and the lexical baseline; the "
                          f"intervals keep those of them inside the fastest rise")
    else:
        lane["reason"] = (f"{int(ok.sum())} layer(s) beat the permutation null and the lexical baseline; the curve "
                          f"has no rise to keep them in")
    return kept


def _lane(technique: str, metric: str, rules: MapRules) -> dict:
    """The curve a lane starts from: ``specific`` for the techniques with the control (unless the rules
    say ``raw``), else ``raw``."""
    info = TECHNIQUE_TABLE.get(technique)
    if info is None or not info.specific:
        return {"curve": "raw", "status": "mapped", "reason": "no specificity control for this technique"}
    if rules.causal_curve == "raw":
        return {"curve": "raw", "status": "mapped", "reason": "map_rules.causal_curve is raw"}
    return {"curve": "specific", "status": "mapped", "reason": ""}


def load_map(folder: str | Path) -> LayerMap:
    """Read a map written by :meth:`LayerMap.save` (Parquet when present and readable, else
    CSV). Raises :class:`MedmapError` naming the missing or malformed file."""
    folder = Path(folder)
    meta_path = folder / "map.json"
    if not meta_path.is_file():
        raise MedmapError(f"no knowledge map in {folder}: {meta_path.name} is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        rules = MapRules(**meta["rules"])
        intervals = [dict(i) for i in meta["intervals"]]
        lanes = [dict(x) for x in meta.get("lanes") or []]
    except (ValueError, KeyError, TypeError) as exc:
        raise MedmapError(f"{meta_path} is not a knowledge map file: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise MedmapError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    parquet, csv = folder / "map.parquet", folder / "map.csv"
    if parquet.is_file() and _has_pyarrow():
        table = pd.read_parquet(parquet)
    elif csv.is_file():
        # pandas < 3 parses floats exactly only when asked (the option is deprecated in 3)
        exact = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
        table = pd.read_csv(csv, dtype={c: str for c in _STR}, keep_default_na=False,
                            na_values={c: [""] for c in _FLOAT}, **exact)
    else:
        raise MedmapError(f"no knowledge map table in {folder}: map.csv is missing")
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise MedmapError(f"knowledge map table in {folder} lacks column(s) {missing}")
    return LayerMap(table=_coerce(table, TABLE_COLUMNS), intervals=intervals, rules=rules, lanes=lanes)
