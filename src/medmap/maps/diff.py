"""What changed between two runs of models with the same number of decoder layers (base A vs fine-tune
B): per (domain, technique, metric, layer) the difference B - A with a paired bootstrap CI over the
units both runs scored, which map intervals moved, and the linear CKA between the two models'
activations of the same items (every layer of A against every layer of B, per domain).

Per-unit values come from each run's ``units/<domain>/<technique>.npz`` (one [units, n_layers] array per
metric and the unit ``ids``); units are matched by id. Where a run has no such file (geometry, whose
metrics are over whole sets, or a run written before the files existed) the difference is given without
a CI and the notes say so. Activations come from each run's capture cache
(``<cache>/capture/<key>/activations.safetensors`` with ``items.json``), items matched by id; a run
without captured activations (no geometry) has no CKA, and the notes say so. Reads files only (numpy,
pandas, safetensors' numpy reader): no model and no torch.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from medmap.analyses.cka import normalised_gram
from medmap.errors import MedmapError
from medmap.maps._common import domain_key, technique_key
from medmap.maps.layer_map import LayerMap
from medmap.store.units import read_units

DIFF_COLUMNS = ("domain", "technique", "metric", "layer", "a", "b", "diff", "ci_low", "ci_high", "n_units")
"""``diff.csv``: ``diff = b - a`` of the runs' values; the CI is a paired percentile bootstrap of the mean
per-unit difference over the ``n_units`` units both runs scored (NaN without per-unit values)."""
CKA_COLUMNS = ("domain", "layer_a", "layer_b", "cka")
"""``cka.csv``: linear CKA between A's decoder layer ``layer_a`` and B's ``layer_b`` over the domain's
items both runs captured."""
MOVED_COLUMNS = ("domain", "technique", "metric", "a", "b", "jaccard", "moved", "shift")
"""Intervals per (domain, technique) lane: A's and B's as text, the Jaccard overlap of their layer sets,
``moved`` (the sets differ) and ``shift`` (mean covered layer of B minus A's; NaN when one has none)."""


@dataclass(frozen=True)
class DiffOptions:
    """How two runs are compared."""

    n_boot: int = 1000
    """Bootstrap resamples of the paired per-unit differences."""
    level: float = 0.95
    """Confidence level of the CIs."""
    seed: int = 0
    """Seed of the bootstrap and of the item sample for CKA."""
    cka_max_items: int = 2000
    """At most this many items per domain for CKA (a seeded sample; memory is items^2 per layer)."""
    pooling: str | None = None
    """Which capture to read when a cache holds several (None: the runs' configured pooling, else last)."""


@dataclass
class Side:
    """What the diff reads of one run."""

    label: str
    scores: pd.DataFrame
    layer_map: LayerMap
    path: Path | None = None
    config: dict | None = None
    provenance: dict | None = None

    @property
    def n_layers(self) -> int:
        return int(self.scores["n_layers"].iloc[0])


def check_same_depth(a: Side, b: Side) -> int:
    if a.n_layers != b.n_layers:
        raise MedmapError(f"compare --diff needs two runs of models with the same number of decoder layers: "
                          f"{a.label} has {a.n_layers}, {b.label} has {b.n_layers} (use medmap compare without "
                          "--diff for models of different depths)")
    return a.n_layers


def paired_ci(d: np.ndarray, n_boot: int, level: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of the mean over units (rows) of ``d`` [units, layers], per layer."""
    from scipy.stats import bootstrap

    nan = np.full(d.shape[1], np.nan)
    if d.shape[0] < 2 or n_boot < 2:
        return nan, nan.copy()
    with warnings.catch_warnings():  # constant columns (no change at all) warn and give a zero-width CI
        warnings.simplefilter("ignore")
        res = bootstrap((d,), lambda x, axis: np.nanmean(x, axis=axis), axis=0, vectorized=True,
                        n_resamples=n_boot, confidence_level=level, method="percentile",
                        rng=np.random.default_rng(seed))
    return np.asarray(res.confidence_interval.low, float), np.asarray(res.confidence_interval.high, float)


def _by_layer(df: pd.DataFrame, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    out[df["layer"].astype(int).to_numpy()] = pd.to_numeric(df["value"], errors="coerce").to_numpy(float)
    return out


def diff_scores(a: Side, b: Side, opts: DiffOptions = DiffOptions()) -> tuple[pd.DataFrame, list[str]]:
    """``diff.csv`` rows (columns :data:`DIFF_COLUMNS`) for every metric both runs have, and notes."""
    n = check_same_depth(a, b)
    notes: list[str] = []
    key = ["domain", "technique", "metric"]
    lanes_a = set(a.scores[key].astype(str).itertuples(index=False, name=None))
    lanes_b = set(b.scores[key].astype(str).itertuples(index=False, name=None))
    only = {a.label: lanes_a - lanes_b, b.label: lanes_b - lanes_a}
    for label, missing in only.items():
        if missing:
            pairs = sorted({(d, t) for d, t, _ in missing})
            notes.append(f"{len(missing)} metric(s) only in {label} (not compared), e.g. "
                         + ", ".join(f"{d}/{t}" for d, t in pairs[:4]))
    shared = sorted(lanes_a & lanes_b, key=lambda k: (domain_key(k[0]), technique_key(k[1]), k[2]))
    ga, gb = a.scores.groupby(key, sort=False), b.scores.groupby(key, sort=False)
    frames, no_units, n_metrics = [], {}, {}
    units_cache: dict = {}
    for seed_k, (d, t, m) in enumerate(shared):
        va, vb = _by_layer(ga.get_group((d, t, m)), n), _by_layer(gb.get_group((d, t, m)), n)
        lo = hi = np.full(n, np.nan)
        n_units = 0
        for side in (a, b):
            if (side.label, d, t) not in units_cache:
                units_cache[(side.label, d, t)] = read_units(side.path, d, t)
        ua, ub = units_cache[(a.label, d, t)], units_cache[(b.label, d, t)]
        if ua is not None and ub is not None and m in ua and m in ub:
            pos_b = {u: i for i, u in reversed(list(enumerate(ub["ids"])))}
            pairs = [(i, pos_b[u]) for i, u in enumerate(ua["ids"]) if u in pos_b]
            if pairs:
                ia, ib = map(list, zip(*pairs))
                dd = np.asarray(ub[m], float)[ib] - np.asarray(ua[m], float)[ia]
                lo, hi = paired_ci(dd, opts.n_boot, opts.level, opts.seed + seed_k)
                n_units = len(pairs)
        else:
            no_units.setdefault((d, t), []).append(m)
        n_metrics[(d, t)] = n_metrics.get((d, t), 0) + 1
        frames.append(pd.DataFrame({"domain": d, "technique": t, "metric": m, "layer": np.arange(n), "a": va,
                                    "b": vb, "diff": vb - va, "ci_low": lo, "ci_high": hi, "n_units": n_units}))
    if no_units:
        parts = [f"{d}/{t} ({'all metrics' if len(ms) == n_metrics[(d, t)] else ', '.join(ms)})"
                 for (d, t), ms in sorted(no_units.items(), key=lambda k: (domain_key(k[0][0]), technique_key(k[0][1])))]
        notes.append("no per-unit values in both runs (units/<domain>/<technique>.npz) for " + "; ".join(parts)
                     + ": these differences have no CI")
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(DIFF_COLUMNS))
    return df.loc[:, list(DIFF_COLUMNS)], notes


def _layers(intervals: list[dict], domain: str, technique: str) -> tuple[set[int], str, str | None]:
    ivs = [i for i in intervals if i["domain"] == domain and i["technique"] == technique]
    covered = {layer for i in ivs for layer in range(int(i["start"]), int(i["end"]) + 1)}
    text = ", ".join(f"L{i['start']}-{i['end']}" for i in sorted(ivs, key=lambda i: int(i["start"]))) or "none"
    return covered, text, (ivs[0]["metric"] if ivs else None)


def intervals_moved(a: LayerMap, b: LayerMap) -> pd.DataFrame:
    """Per (domain, technique) lane of either map: A's and B's intervals and how they moved
    (columns :data:`MOVED_COLUMNS`)."""
    lanes = set()
    for lm in (a, b):
        lanes |= set(lm.table[["domain", "technique"]].astype(str).itertuples(index=False, name=None))
    rows = []
    for d, t in sorted(lanes, key=lambda k: (domain_key(k[0]), technique_key(k[1]))):
        sa, ta, ma = _layers(a.intervals, d, t)
        sb, tb, mb = _layers(b.intervals, d, t)
        lane = a.table[(a.table["domain"] == d) & (a.table["technique"] == t)]
        metric = ma or mb or (str(lane["metric"].iloc[0]) if len(lane) else "")
        union = sa | sb
        rows.append({"domain": d, "technique": t, "metric": metric, "a": ta, "b": tb,
                     "jaccard": len(sa & sb) / len(union) if union else float("nan"), "moved": sa != sb,
                     "shift": float(np.mean(sorted(sb)) - np.mean(sorted(sa))) if sa and sb else float("nan")})
    return pd.DataFrame(rows, columns=list(MOVED_COLUMNS))


def _cache_root(side: Side) -> Path | None:
    cfg = side.config if isinstance(side.config, dict) else {}
    if cfg.get("cache"):
        return Path(cfg["cache"])
    return side.path / "cache" if side.path is not None else None


def find_captures(side: Side, pooling: str | None = None) -> tuple[dict[str, Path], list[str]]:
    """Per domain, the capture cache entry of this run's model (its activations and items.json), and notes."""
    root = _cache_root(side)
    notes: list[str] = []
    if root is None or not (root / "capture").is_dir():
        return {}, [f"{side.label} has no captured activations (no geometry in the run, or no cache): no CKA"]
    cfg = side.config if isinstance(side.config, dict) else {}
    pooling = pooling or ((cfg.get("analyze") or {}).get("pooling")) or "last"
    identity = (side.provenance or {}).get("model_identity") if isinstance(side.provenance, dict) else None
    found: dict[str, list[Path]] = {}
    for man in sorted((root / "capture").glob("*/manifest.json")):
        try:
            k = json.loads(man.read_text())["key"]
        except (OSError, ValueError, KeyError):
            continue
        if k.get("pooling", "last") != pooling or (identity and k.get("model") != identity):
            continue
        if (man.parent / "activations.safetensors").is_file() and (man.parent / "items.json").is_file():
            found.setdefault(str(k.get("domain")), []).append(man.parent)
    out = {}
    for d, folders in found.items():
        out[d] = max(folders, key=lambda p: (p / "manifest.json").stat().st_mtime)
        if len(folders) > 1:
            notes.append(f"{side.label}: {len(folders)} captures of {d} in the cache; the newest is used")
    if not out:
        notes.append(f"{side.label} has no captured activations with pooling '{pooling}' of its model: no CKA")
    return out, notes


def _grams(folder: Path, rows: np.ndarray, n_layers: int) -> np.ndarray:
    """Normalised Gram matrix of each decoder layer's activations of the items at ``rows``, read layer by
    layer from the safetensors file."""
    from safetensors import safe_open

    out = []
    with safe_open(str(folder / "activations.safetensors"), framework="np") as f:
        sl = f.get_slice("activations")
        for layer in range(n_layers):
            x = np.asarray(sl[:, layer + 1:layer + 2, :])[:, 0][rows]
            out.append(normalised_gram(x).ravel())
    return np.stack(out)


def cka_table(a: Side, b: Side, opts: DiffOptions = DiffOptions()) -> tuple[pd.DataFrame, list[str]]:
    """``cka.csv`` rows (columns :data:`CKA_COLUMNS`) per domain both runs captured, and notes."""
    n = check_same_depth(a, b)
    ca, na = find_captures(a, opts.pooling)
    cb, nb = find_captures(b, opts.pooling)
    notes = na + nb
    frames = []
    for d in sorted(set(ca) & set(cb), key=domain_key):
        ids_a = json.loads((ca[d] / "items.json").read_text())["ids"]
        ids_b = json.loads((cb[d] / "items.json").read_text())["ids"]
        pos_b = {u: i for i, u in enumerate(ids_b)}
        common = [(i, pos_b[u]) for i, u in enumerate(ids_a) if u in pos_b]
        if len(common) < 3:
            notes.append(f"{d}: {len(common)} items captured by both runs; no CKA")
            continue
        if len(common) > opts.cka_max_items:
            keep = np.sort(np.random.default_rng(opts.seed).choice(len(common), opts.cka_max_items, replace=False))
            notes.append(f"{d}: CKA on {opts.cka_max_items} of the {len(common)} common items (seeded sample)")
            common = [common[k] for k in keep]
        ia, ib = (np.array(x) for x in zip(*common))
        m = np.clip(_grams(ca[d], ia, n) @ _grams(cb[d], ib, n).T, 0.0, 1.0)
        la, lb = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        frames.append(pd.DataFrame({"domain": d, "layer_a": la.ravel(), "layer_b": lb.ravel(), "cka": m.ravel()}))
    for d in sorted(set(ca) ^ set(cb)):
        notes.append(f"{d}: captured by only one run; no CKA")
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(CKA_COLUMNS))
    return df, notes


def diff_runs(a: Side, b: Side, opts: DiffOptions = DiffOptions()) -> dict:
    """Everything ``compare --diff`` reports: ``diff`` (DataFrame, :data:`DIFF_COLUMNS`), ``intervals``
    (:data:`MOVED_COLUMNS`), ``cka`` (:data:`CKA_COLUMNS`), ``notes`` and the two labels."""
    check_same_depth(a, b)
    diff, n1 = diff_scores(a, b, opts)
    cka, n2 = cka_table(a, b, opts)
    return {"a": a.label, "b": b.label, "n_layers": a.n_layers, "diff": diff,
            "intervals": intervals_moved(a.layer_map, b.layer_map), "cka": cka, "notes": n1 + n2}
