"""A synthetic, complete run folder for the report tests: all six domains, five techniques with their
control rows (null, lexical, excess, per-template, probes, random-init, specific curves, a "not specific"
lane, findings with controls),
UMAP embeddings for age, progression, drugs and symptoms, and hostile strings (HTML, quotes,
``</script>``, ``$``) wherever a run's text reaches the report. Deterministic from ``seed``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

DOMAINS = ("age", "symptoms", "diseases", "progression", "drugs", "dosage")
MALICIOUS = "<script>alert(\"x\")</script> & \"quotes\" 'single'"
GEOMETRY = {
    "age": ["r2_umap.age", "anisotropy.age", "boundary_strength.age", "boundary_at.age"],
    "symptoms": ["silhouette_umap.category", "silhouette_raw.category", "knn_acc.category"],
    "diseases": ["silhouette_umap.category", "silhouette_raw.category", "knn_acc.category"],
    "progression": ["spearman.stage", "silhouette_umap.disease"],
    "drugs": ["silhouette_umap.specialty", "silhouette_umap.mechanism", "silhouette_raw.specialty"],
    "dosage": ["silhouette_umap.route"],
}
OTHER = {"saliency": ["mean_abs.both", "mean_abs.attention", "mean_abs.mlp"],
         "lesion": ["logprob_drop", "kl", "accuracy"], "patching": ["recovery"], "lens": ["lens_logprob", "lens_rank"]}
COLLAPSE = ["mean_cosine", "effective_rank", "collapse_flag"]
SPECIFIC = ("saliency", "lesion", "patching", "lens")
"""Techniques whose primary metric gets a ``@specific`` curve (and the map draws it)."""
NOT_SPECIFIC = ("dosage", "lesion")
"""The lane the fixture's map marks "not specific" (no interval)."""


def _clean(obj):
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        return _clean(obj.item())
    return obj


def _dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(obj), indent=2, allow_nan=False), encoding="utf-8")


def _smooth(v: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    k = np.arange(-3, 4)
    w = np.exp(-k ** 2 / (2 * sigma ** 2))
    pad = np.pad(np.nan_to_num(v, nan=np.nanmean(v)), 3, mode="edge")
    return np.convolve(pad, w / w.sum(), mode="valid")


def _intervals(technique: str, s: np.ndarray) -> list[tuple[int, int]]:
    """Roughly the paper's rules: fastest 3-layer rise for geometry, top-quartile runs otherwise."""
    if technique == "geometry":
        i = int(np.argmax(s[2:] - s[:-2]))
        return [(i, i + 2)]
    keep = s >= np.percentile(s, 75)
    runs, start = [], None
    for i, k in enumerate(list(keep) + [False]):
        if k and start is None:
            start = i
        if not k and start is not None:
            if i - start >= 2:
                runs.append((start, i - 1))
            start = None
    return sorted(sorted(runs, key=lambda r: -s[r[0]:r[1] + 1].mean())[:3])


def _curve(rng, n: int, centre: float, width: float, scale: float, base: float = 0.0) -> np.ndarray:
    x = np.arange(n)
    return base + scale * np.exp(-((x - centre * n) ** 2) / (2 * (width * n) ** 2)) + rng.normal(0, 0.03 * abs(scale), n)


def _embeddings(rng, n: int) -> dict[str, dict]:
    t = np.linspace(0, 1, n)
    out = {}
    ages = [(a, g) for g in ("female", "male") for a in range(0, 91, 3)]
    items = [{"id": f"age-{a}-{g}", "prompt": f"The patient is a {a}-year-old {g}.",
              "labels": {"age": a, "gender": g}} for a, g in ages]
    coords = []
    for tl in t:
        a = np.array([x[0] for x in ages]) / 90
        jump = (np.array([x[0] for x in ages]) >= 18) * 0.8 * np.sin(np.pi * tl)
        g = np.array([0.15 if x[1] == "male" else 0 for x in ages])
        xy = np.c_[a * (1 + 2 * tl) + jump, np.sin(a * np.pi * (0.5 + tl)) + g]
        coords.append((xy + rng.normal(0, 0.03, xy.shape)).round(4).tolist())
    out["age"] = {"domain": "age", "layers": list(range(n)), "coords": coords, "items": items}

    diseases = ["Parkinson's disease", "COPD", "Alzheimer's disease"]
    items = [{"id": f"progression-{d.split()[0].lower().strip(chr(39) + 's')}-s{s}-t{tp}",
              "prompt": f"[{tp}] A patient with {d} at stage {s} of 9.",
              "labels": {"disease": d, "stage": s}} for d in diseases for tp in (0, 1) for s in range(10)]
    coords = []
    for tl in t:
        xy = []
        for k, _ in enumerate(diseases):
            for tp in (0, 1):
                ang = np.arange(10) / 10 * 2 * np.pi * (0.3 + 0.7 * tl)
                xy += list(np.c_[3 * k + np.cos(ang) + 0.1 * tp, np.sin(ang) + 0.1 * tp])
        xy = np.asarray(xy)
        coords.append((xy + rng.normal(0, 0.05, xy.shape)).round(4).tolist())
    out["progression"] = {"domain": "progression", "layers": list(range(n)), "coords": coords, "items": items}

    specialties = ["cardiology", "neurology", "infectious disease", "psychiatry"]
    mechanisms = ["ACE inhibitor $x$ <b>", "beta blocker", "SSRI", "beta-lactam", "NMDA antagonist", "statin"]
    items = [{"id": f"drugs-{i}", "prompt": f"Drug number {i} is used in",
              "labels": {"specialty": specialties[i % 4], "mechanism": mechanisms[i % 6]}} for i in range(24)]
    coords = []
    for tl in t:
        xy = np.array([[3 * tl * np.cos(i % 4 * 1.57), 3 * tl * np.sin(i % 4 * 1.57)] for i in range(24)])
        coords.append((xy + rng.normal(0, 0.4, xy.shape)).round(4).tolist())
    out["drugs"] = {"domain": "drugs", "layers": list(range(n)), "coords": coords, "items": items}

    cats = ["cardiovascular", "respiratory", "neurological", "gastrointestinal", "dermatological"]
    items = [{"id": f"symptoms-{i}-t{i % 2}", "prompt": f"Symptom {i}: the patient reports pain.",
              "labels": {"category": cats[i % 5]}} for i in range(30)]
    items[0]["prompt"] = f"Chest pain {MALICIOUS}"
    items[0]["labels"]["category"] = cats[0]
    items[1]["id"] = "symptoms-</script>-t1"
    coords = []
    for tl in t:
        xy = np.array([[2 * tl * (i % 5), 2 * tl * ((i % 5) % 2)] for i in range(30)])
        coords.append((xy + rng.normal(0, 0.5, xy.shape)).round(4).tolist())
    out["symptoms"] = {"domain": "symptoms", "layers": list(range(n)), "coords": coords, "items": items}
    return out


def _controls(rng, model: str, n: int, domain: str, technique: str, metric: str, v: np.ndarray) -> list[list]:
    """Control rows of a geometry metric (CONVENTIONS: M@null95, M@p, M@lexical, M@excess, M@random_init,
    M[<template>]) and, for age, probe rows."""
    if technique != "geometry" or metric in COLLAPSE:
        return []
    null95, lexical = np.full(n, 0.3), np.full(n, 0.45)
    extra = {f"{metric}@null95": null95, f"{metric}@p": np.where(v > null95, 0.001, 0.4),
             f"{metric}@lexical": lexical, f"{metric}@excess": v - np.maximum(lexical, null95),
             f"{metric}[t0]": v + rng.normal(0, 0.05, n), f"{metric}[t1]": v + rng.normal(0, 0.05, n)}
    if domain == "age":
        extra.update({"probe_acc.gender": np.linspace(0.5, 0.95, n), "probe_acc.gender@null95": np.full(n, 0.6),
                      "probe_selectivity.gender": np.linspace(0.0, 0.4, n),
                      "effective_rank@random_init": np.full(n, 30.0)})
    return [[model, n, domain, technique, m, k, x[k], x[k] - 0.02, x[k] + 0.02] for m, x in extra.items()
            for k in range(n)]


def make_fake_run(tmp_path, n_layers: int = 12, model: str = "fake-model", seed: int = 0) -> Path:
    """Write a complete synthetic run folder under ``tmp_path`` and return it."""
    rng = np.random.default_rng(seed)
    run = Path(tmp_path) / f"run-{model.replace('/', '_')}-{n_layers}"
    run.mkdir(parents=True, exist_ok=True)
    n = n_layers
    rows, map_rows, intervals, agreement = [], [], [], []
    for d_i, domain in enumerate(DOMAINS):
        primary: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}
        for technique, metrics in [("geometry", GEOMETRY[domain] + COLLAPSE)] + list(OTHER.items()):
            for m_i, metric in enumerate(metrics):
                centre = (0.15 + 0.12 * d_i + 0.1 * m_i + 0.05 * len(technique)) % 0.9
                if metric == "collapse_flag":
                    v = (np.arange(n) == int(0.5 * n)).astype(float) * (domain in ("age", "drugs"))
                elif metric == "mean_cosine":
                    v = _curve(rng, n, 0.5, 0.12, 0.5, 0.3 + 0.03 * d_i)
                elif metric == "effective_rank":
                    v = _curve(rng, n, 0.5, 0.12, -20, 40 + d_i)
                elif metric == "boundary_at.age":
                    v = np.full(n, 17.0)
                else:
                    v = _curve(rng, n, centre, 0.1, 1.0 if technique != "patching" else 1.6, 0.05)
                half = np.abs(rng.normal(0.06, 0.02, n)) * max(1.0, float(np.nanmax(np.abs(v))))
                lo, hi = v - half, v + half
                if metric == "kl":
                    v[1] = np.nan
                if metric == "recovery" and domain == "dosage":
                    lo[0] = hi[0] = np.nan
                for layer in range(n):
                    rows.append([model, n, domain, technique, metric, layer, v[layer], lo[layer], hi[layer]])
                if m_i == 0:
                    primary[technique] = (metric, v, np.c_[lo, hi])
                    rows += _controls(rng, model, n, domain, technique, metric, v)
            if technique in SPECIFIC:
                metric = primary[technique][0] + "@specific"
                sv = _curve(rng, n, 0.6, 0.08, 0.3, 0.0) * (0 if (domain, technique) == NOT_SPECIFIC else 1)
                slo, shi = sv - 0.1, sv + 0.1
                rows += [[model, n, domain, technique, metric, k, sv[k], slo[k], shi[k]] for k in range(n)]
                primary[technique] = (metric, sv, np.c_[slo, shi])
        covered = np.zeros(n, dtype=int)
        for technique, (metric, v, ci) in primary.items():
            s = _smooth(v)
            inside = np.zeros(n, dtype=bool)
            for a, b in ([] if (domain, technique) == NOT_SPECIFIC else _intervals(technique, s)):
                inside[a:b + 1] = True
                intervals.append({"model": model, "domain": domain, "technique": technique, "metric": metric,
                                  "start": a, "end": b, "start_depth": a / n, "end_depth": (b + 1) / n})
            covered += inside
            for layer in range(n):
                map_rows.append([model, n, domain, technique, metric, layer, layer / n, v[layer], ci[layer, 0],
                                 ci[layer, 1], s[layer], bool(inside[layer])])
        agreement += [{"model": model, "domain": domain, "layer": layer, "depth": layer / n,
                       "count": int(covered[layer])} for layer in range(n)]
    pd.DataFrame(rows, columns=["model", "n_layers", "domain", "technique", "metric", "layer", "value", "ci_low",
                                "ci_high"]).to_csv(run / "scores.csv", index=False)
    pd.DataFrame(map_rows, columns=["model", "n_layers", "domain", "technique", "metric", "layer", "depth", "value",
                                    "ci_low", "ci_high", "smoothed", "in_interval"]).to_csv(run / "map.csv",
                                                                                            index=False)
    lanes = [{"model": model, "domain": d, "technique": t, "metric": ("logprob_drop@specific" if t == "lesion" else t),
              "curve": "specific", "status": "not specific" if (d, t) == NOT_SPECIFIC else "mapped",
              "reason": "planted <b>" + MALICIOUS} for d in DOMAINS for t in SPECIFIC]
    _dump(run / "map.json", {"intervals": intervals, "agreement": agreement, "lanes": lanes,
                             "rules": {"sigma": 1.0, "geometry": "fastest 3-layer rise",
                                       "others": "≥ 75th percentile, runs ≥ 2, ≤ 3 runs"},
                             "n_layers": {model: n}})
    findings = [
        ("age-r2", "age", "Age is linear at early layers", "r2_umap.age", 0.97, 0.95, 0.99, 2, "reproduced", ""),
        ("age-boundary", "age", "Discontinuity between 17 and 18", "boundary_at.age", 17, None, None, 5,
         "reproduced", "strongest step after age 17"),
        ("symptoms-silhouette", "symptoms", "Symptoms cluster by category", "silhouette_umap.category", 0.04,
         -0.01, 0.09, 7, "inconclusive", "CI crosses 0 <b>not bold</b> & more"),
        ("progression-circular", "progression", "Circular progression paths", "spearman.stage", 0.2, 0.1, 0.3, 6,
         "not reproduced", MALICIOUS),
        ("drugs-specialty", "drugs", "Specialty > mechanism", "silhouette_umap.specialty", 0.19, 0.12, 0.25, 9,
         "reproduced", "0.19 vs 0.07"),
        ("dosage-patching", "dosage", "Dosage patching efficiency above 1", "recovery", 1.6, float("nan"), 2.1, 0,
         "inconclusive", "partly inconclusive, as in the paper"),
    ]
    keys = ["id", "domain", "title", "measure", "value", "ci_low", "ci_high", "layer", "verdict", "detail"]
    docs = [dict(zip(keys, f)) for f in findings]
    docs[0].update(verdict_raw="reproduced", control=[
        {"name": "permutation null", "value": 0.3, "margin": 0.67, "beaten": True, "p": 0.001, "rule": "p < 0.01"},
        {"name": "lexical baseline", "value": 0.99, "margin": -0.02, "beaten": False, "rule": MALICIOUS}])
    docs[0]["verdict"] = "not reproduced"
    docs[4].update(verdict_raw="reproduced", verdict="inconclusive",
                   control=[{"name": "lexical baseline", "value": None, "margin": None, "beaten": None}])
    _dump(run / "findings.json", {"model": model, "findings": docs})
    for domain, emb in _embeddings(rng, n).items():
        _dump(run / "embeddings" / f"{domain}.json", emb)
    _dump(run / "config.json", {"model": model, "seed": seed, "domains": list(DOMAINS), "pooling": "last",
                                "umap": {"n_neighbors": 15, "min_dist": 0.1}, "note": "</script><b>cfg</b> & é"})
    _dump(run / "provenance.json", {"model": {"name": model, "n_layers": n, "identity": f"sha256:{seed:064d}"},
                                    "versions": {"medmap": "0.1.0", "python": "3.11"},
                                    "concept_sets": {d: {"origin": f"builtin:{d}"} for d in DOMAINS},
                                    "created": "2025-01-01T00:00:00+00:00"})
    return run
