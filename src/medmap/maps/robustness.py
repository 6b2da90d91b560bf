"""How much each interval of a knowledge map moves across seeds and across prompt phrasings.

Input: the main map and, per group (``seed``, ``template``), the maps of that group's variants (one
map per seed; one map per prompt template, from the items of that template alone). Each interval of
the main map is matched, in every variant map that has the same (model, domain, technique), to the
variant's interval that overlaps it most (ties: the smaller total distance of the two ends, then the
earlier interval); a variant with no overlapping interval counts as *absent*. Per main interval and
group, :func:`interval_spread` gives in how many variants the interval is present and the min, max
and population standard deviation of the matched start and end layers, also on normalised depth
(``start / n_layers`` and ``(end + 1) / n_layers``, as in the map). :func:`layer_coverage` gives,
per (group, domain, technique, layer), the fraction of variants whose intervals cover the layer: it
also shows intervals of the variants that match no interval of the main map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from medmap.maps.layer_map import LayerMap
from medmap.store import write_frame, write_json

FORMAT = "medmap.robustness/1"
SPREAD_COLUMNS = (
    "group", "model", "n_layers", "domain", "technique", "metric", "start", "end", "n_variants",
    "n_present", "present_frac", "start_min", "start_max", "start_std", "end_min", "end_max", "end_std",
    "start_depth_min", "start_depth_max", "start_depth_std", "end_depth_min", "end_depth_max",
    "end_depth_std", "identical")
COVERAGE_COLUMNS = ("group", "model", "domain", "technique", "layer", "depth", "n_variants", "covered_frac")
_KEY = ("model", "domain", "technique")


def match_interval(start: int, end: int, candidates: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The candidate ``(start, end)`` that overlaps ``[start, end]`` most (ties: closest ends, then
    earliest), or None when none overlaps."""
    best, best_key = None, None
    for s, e in candidates:
        overlap = min(end, e) - max(start, s) + 1
        if overlap <= 0:
            continue
        key = (-overlap, abs(s - start) + abs(e - end), s)
        if best_key is None or key < best_key:
            best, best_key = (int(s), int(e)), key
    return best


def _analysed(kmap: LayerMap) -> set[tuple[str, str, str]]:
    return set(kmap.table[list(_KEY)].drop_duplicates().astype(str).itertuples(index=False, name=None))


def _by_key(kmap: LayerMap) -> dict[tuple[str, str, str], list[tuple[int, int]]]:
    out: dict = {}
    for iv in kmap.intervals:
        out.setdefault((str(iv["model"]), str(iv["domain"]), str(iv["technique"])), []).append(
            (int(iv["start"]), int(iv["end"])))
    return out


def _stats(values: np.ndarray) -> tuple[float, float, float]:
    if values.size == 0:
        return (np.nan, np.nan, np.nan)
    return (float(values.min()), float(values.max()), float(values.std()))


def interval_spread(main: LayerMap, groups: dict[str, dict[str, LayerMap]]) -> pd.DataFrame:
    """One row per (group, main-map interval): columns :data:`SPREAD_COLUMNS`.

    ``n_variants`` counts the variant maps of the group that analysed the interval's (model, domain,
    technique); ``n_present`` those with a matching interval; ``present_frac`` their ratio (NaN when
    no variant analysed it). ``identical`` is true when every variant has the interval and all give
    the same start and end."""
    n_layers = main.n_layers
    rows = []
    for group, variants in groups.items():
        analysed = {name: _analysed(m) for name, m in variants.items()}
        found = {name: _by_key(m) for name, m in variants.items()}
        for iv in main.intervals:
            key = (str(iv["model"]), str(iv["domain"]), str(iv["technique"]))
            n = n_layers[key[0]]
            have = [name for name in variants if key in analysed[name]]
            matched = [m for m in (match_interval(int(iv["start"]), int(iv["end"]), found[name].get(key, []))
                                   for name in have) if m is not None]
            starts = np.array([s for s, _ in matched], dtype=np.float64)
            ends = np.array([e for _, e in matched], dtype=np.float64)
            s_min, s_max, s_std = _stats(starts)
            e_min, e_max, e_std = _stats(ends)
            ds_min, ds_max, ds_std = _stats(starts / n)
            de_min, de_max, de_std = _stats((ends + 1) / n)
            rows.append({
                "group": group, "model": key[0], "n_layers": n, "domain": key[1], "technique": key[2],
                "metric": str(iv["metric"]), "start": int(iv["start"]), "end": int(iv["end"]),
                "n_variants": len(have), "n_present": len(matched),
                "present_frac": len(matched) / len(have) if have else np.nan,
                "start_min": s_min, "start_max": s_max, "start_std": s_std,
                "end_min": e_min, "end_max": e_max, "end_std": e_std,
                "start_depth_min": ds_min, "start_depth_max": ds_max, "start_depth_std": ds_std,
                "end_depth_min": de_min, "end_depth_max": de_max, "end_depth_std": de_std,
                "identical": bool(have) and len(matched) == len(have) and s_min == s_max and e_min == e_max,
            })
    # rows follow the groups' order and the main map's (canonical) interval order
    return pd.DataFrame(rows, columns=list(SPREAD_COLUMNS)).astype({"identical": bool})


def layer_coverage(groups: dict[str, dict[str, LayerMap]]) -> pd.DataFrame:
    """Per (group, model, domain, technique, layer): how many variants analysed it and the fraction
    of them whose intervals cover the layer (columns :data:`COVERAGE_COLUMNS`)."""
    frames = []
    for group, variants in groups.items():
        for m in variants.values():
            frames.append(m.table[list(_KEY) + ["layer", "depth", "in_interval"]].assign(group=group))
    if not frames:
        return pd.DataFrame(columns=list(COVERAGE_COLUMNS))
    all_ = pd.concat(frames, ignore_index=True)
    out = (all_.groupby(["group", *_KEY, "layer"], sort=False)
           .agg(depth=("depth", "first"), n_variants=("in_interval", "size"),
                covered_frac=("in_interval", "mean")).reset_index())
    return out[list(COVERAGE_COLUMNS)]


@dataclass(eq=False)
class Robustness:
    """The spread of a map's intervals across seeds and phrasings, and what could not be measured."""

    spread: pd.DataFrame
    """:func:`interval_spread`."""
    coverage: pd.DataFrame
    """:func:`layer_coverage`."""
    variants: dict[str, dict[str, list[dict]]] = field(default_factory=dict)
    """group -> variant name -> that variant map's intervals."""
    skipped: list[dict] = field(default_factory=list)
    """``{group, variant, domain, technique, reason}`` for every analysis that could not be run."""
    settings: dict = field(default_factory=dict)
    """How the variants were made (seeds used, templates per domain)."""

    def to_json_dict(self) -> dict:
        return {"format": FORMAT, "settings": self.settings, "intervals": self.spread.to_dict(orient="records"),
                "coverage": self.coverage.to_dict(orient="records"), "variants": self.variants,
                "skipped": list(self.skipped), "method": __doc__.strip()}

    def save(self, folder: str | Path) -> Path:
        """Write ``robustness.csv`` (the spread table) and ``robustness.json`` (everything)."""
        folder = Path(folder)
        write_frame(folder / "robustness.csv", self.spread)
        write_json(folder / "robustness.json", self.to_json_dict())
        return folder


def measure_robustness(main: LayerMap, groups: dict[str, dict[str, LayerMap]], skipped: list[dict] | None = None,
               settings: dict | None = None) -> Robustness:
    """Spread and coverage of ``main``'s intervals across the variant maps in ``groups``."""
    return Robustness(spread=interval_spread(main, groups), coverage=layer_coverage(groups),
                      variants={g: {name: [dict(i) for i in m.intervals] for name, m in v.items()}
                                for g, v in groups.items()},
                      skipped=list(skipped or []), settings=dict(settings or {}))
