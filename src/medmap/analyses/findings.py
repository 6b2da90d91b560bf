"""The paper's phenomena, measured on a model's per-layer scores, each with a verdict before and after
its controls. This module reads the numbers out of the score table; the rules that turn them into
verdicts, and their thresholds, are :mod:`medmap.analyses.verdicts` (pure functions, tested
table-driven).

Each finding: ``id, domain, title, measure, value, ci_low, ci_high, layer, verdict_raw`` (the rule on the
measured curve alone), ``control`` (a list of control objects, see ``verdicts``), ``verdict`` (after the
controls) and ``detail``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medmap.analyses import verdicts as V
from medmap.analyses.collapse import collapse_ranges
from medmap.store.schema import reading_metrics


def _curve(scores: pd.DataFrame, domain: str, metric: str) -> pd.DataFrame:
    return scores[(scores.domain == domain) & (scores.metric == metric)].sort_values("layer")


def _at(scores: pd.DataFrame, domain: str, metric: str, layer) -> float:
    """The value of ``metric`` at ``layer`` (NaN when the row is absent)."""
    c = _curve(scores, domain, metric)
    v = c[c.layer == layer].value
    return float(v.iloc[0]) if len(v) else float("nan")


def _opt(x) -> float | None:
    return float(x) if V.finite(x) else None


def _f(id_, domain, title, measure, value=np.nan, lo=np.nan, hi=np.nan, layer=None,
       verdict=V.INCONCLUSIVE, detail="", controls=()):
    controls = list(controls)
    return {"id": id_, "domain": domain, "title": title, "measure": measure, "value": _opt(value),
            "ci_low": _opt(lo), "ci_high": _opt(hi), "layer": None if layer is None else int(layer),
            "verdict_raw": verdict, "control": controls, "verdict": V.controlled_verdict(verdict, controls),
            "detail": detail}


def null_at(s, domain, metric, layer, observed, p_max, over_layers: bool = False) -> dict:
    """The permutation-null control of ``metric`` at ``layer``; ``over_layers``: judged by the family-wise
    p-value over the layers (``M@p_layers``), for a layer picked as the curve's best."""
    p = _at(s, domain, metric + ("@p_layers" if over_layers else "@p"), layer)
    return V.null_control(observed, _at(s, domain, metric + "@null95", layer), p, p_max, over_layers)


def lexical_at(s, domain, metric, layer, observed, ci_low) -> dict:
    return V.lexical_control(observed, ci_low, _at(s, domain, metric + "@lexical", layer))


def age_findings(s: pd.DataFrame) -> list[dict]:
    out = []
    at = _curve(s, "age", "boundary_at.age")
    if len(at):
        n17 = int((at.value == 17).sum())
        b = _curve(s, "age", "boundary_17_18.age")
        best = b.loc[b.value.idxmax()] if len(b) and b.value.notna().any() else None
        mode = int(at.value.mode().iloc[0])
        value, lo, layer = (best.value, best.ci_low, best.layer) if best is not None else (np.nan, np.nan, None)
        controls = [null_at(s, "age", "boundary_17_18.age", layer, value, V.BOUNDARY_P_MAX, over_layers=True),
                    lexical_at(s, "age", "boundary_17_18.age", layer, value, lo)]
        out.append(_f("age_boundary_17_18", "age", "Discontinuity of age between 17 and 18",
                      "strength of the 17->18 step relative to neighbouring steps (max over layers)",
                      value, lo, best.ci_high if best is not None else np.nan, layer,
                      V.boundary_verdict(n17, len(at)),
                      f"17->18 is the strongest age boundary in {n17} of {len(at)} layers; the most "
                      f"frequent strongest boundary is {mode}->{mode + 1}", controls))
    r2 = _curve(s, "age", "r2_umap.age")
    if len(r2) and r2.value.notna().any():
        L = int(r2.n_layers.iloc[0])
        best = r2.loc[r2.value.idxmax()]
        mid = r2[r2.layer.map(lambda layer: V.is_intermediate(layer, L)) & r2.value.notna()]
        if len(mid):
            worst = mid.loc[mid.value.idxmin()]
            controls = [null_at(s, "age", "r2_umap.age", worst.layer, worst.value, V.NONLINEAR_P_MAX)]
            out.append(_f("age_nonlinear", "age", "Non-linear age encoding at intermediate layers",
                          "lowest linear R^2 of age (30-d UMAP) at 25-75% depth", worst.value, worst.ci_low,
                          worst.ci_high, worst.layer,
                          V.nonlinear_verdict(best.value, best.ci_low, worst.value, worst.ci_high),
                          f"best R^2 {best.value:.2f} at layer {int(best.layer)}; intermediate minimum "
                          f"{worst.value:.2f} at layer {int(worst.layer)}", controls))
    return out


def progression_findings(s: pd.DataFrame) -> list[dict]:
    out = []
    circ = s[(s.domain == "progression") & s.metric.str.startswith("circularity.stage.")
             & ~s.metric.str.contains("@", regex=False) & ~s.metric.str.contains("[", regex=False)]
    for metric, c in circ.groupby("metric"):
        disease = metric.split("circularity.stage.", 1)[1]
        c = c.sort_values("layer")
        if not c.value.notna().any():
            continue
        rho = _curve(s, "progression", f"spearman.stage.{disease}")
        circular = c[[V.is_circular(v) for v in c.value]]
        peak = c.loc[c.value.idxmax()]
        mono = rho[rho.value > V.MONOTONE_SPEARMAN].layer.tolist() if len(rho) else []
        controls = [null_at(s, "progression", metric, peak.layer, peak.value, V.CIRCULAR_P_MAX, over_layers=True)]
        out.append(_f(f"progression_circular.{disease}", "progression", f"Circular progression path: {disease}",
                      "circularity = 1 - d(stage 0, end stage) / max d(stage 0, stage) (max over layers)",
                      peak.value, peak.ci_low, peak.ci_high, peak.layer, V.circular_verdict(len(circular), len(c)),
                      f"circular (> {V.CIRCULARITY_THRESHOLD}) at layers {_ranges(circular.layer.tolist())}; "
                      f"monotone (Spearman > {V.MONOTONE_SPEARMAN}) at layers {_ranges(mono)}", controls))
    return out


def drug_findings(s: pd.DataFrame) -> list[dict]:
    sp = _curve(s, "drugs", "silhouette_umap.specialty")
    gap_metric = "silhouette_gap.specialty_minus_mechanism"
    gap = _curve(s, "drugs", gap_metric)
    if not len(sp) or not len(gap) or not sp.value.notna().any():
        return []
    best = sp.loc[sp.value.idxmax()]
    here = gap[gap.layer == best.layer]
    if not len(here):
        return []
    g = here.iloc[0]
    mech = _curve(s, "drugs", "silhouette_umap.mechanism")
    controls = [null_at(s, "drugs", gap_metric, best.layer, g.value, V.GAP_P_MAX, over_layers=True),
                lexical_at(s, "drugs", gap_metric, best.layer, g.value, g.ci_low)]
    detail = (f"best silhouette by specialty {best.value:.3f} (layer {int(best.layer)}); best by mechanism "
              f"{mech.value.max():.3f} (layer {int(mech.loc[mech.value.idxmax()].layer)})"
              if len(mech) and mech.value.notna().any() else "")
    return [_f("drugs_specialty_over_mechanism", "drugs", "Drugs cluster by specialty rather than mechanism",
               "silhouette(specialty) - silhouette(mechanism), 30-d UMAP, at the best specialty layer",
               g.value, g.ci_low, g.ci_high, best.layer, V.gap_verdict(g.ci_low, g.ci_high), detail, controls)]


def collapsed_layers(s: pd.DataFrame, metric: str = "effective_rank") -> tuple[list[int], list[int]]:
    """(layers in a collapsed range of at least COLLAPSE_MIN_DOMAINS domains, layers in a range of one
    domain only), by the findings' fixed range rule on each domain's effective-rank curve ``metric`` (the
    plain one, a reading ``effective_rank@standardized`` / ``@notop<k>``, or ``effective_rank@random_init``)."""
    count: dict[int, int] = {}
    for _, c in s[s.metric == metric].groupby("domain"):
        c = c.sort_values("layer")
        flags = collapse_ranges(c.value.to_numpy(dtype=float), V.COLLAPSE_RATIO, V.COLLAPSE_MIN_RUN)
        for layer, f in zip(c.layer, flags):
            count[int(layer)] = count.get(int(layer), 0) + int(f > 0)
    multi = sorted(l for l, n in count.items() if n >= V.COLLAPSE_MIN_DOMAINS)
    return multi, sorted(l for l, n in count.items() if n == 1)


def collapse_findings(s: pd.DataFrame) -> list[dict]:
    eff = s[s.metric == "effective_rank"]
    if not len(eff):
        return []
    L = int(eff.n_layers.iloc[0])
    multi, single = collapsed_layers(s)
    mid = [l for l in multi if V.is_intermediate(l, L)]
    recovered = L - 1 not in multi
    verdict = V.collapse_verdict(len(mid), len(multi), recovered, len(single))
    readings = [m.split("@", 1)[1] for m in reading_metrics(s.metric.unique())]
    by_reading = {r: collapsed_layers(s, f"effective_rank@{r}")[0] for r in readings}
    surviving = [l for l in mid if all(l in by_reading[r] for r in readings)] if readings else []
    random_ran = bool((s.metric == "effective_rank@random_init").any())
    random_multi = collapsed_layers(s, "effective_rank@random_init")[0] if random_ran else []
    controls = [V.readings_control(len(mid), len(mid) - len(surviving) if readings else np.nan),
                V.random_init_control(len(surviving), sum(l in random_multi for l in surviving)
                                      if random_ran else np.nan)]
    lo_d, hi_d = V.INTERMEDIATE_DEPTH
    parts = [f"collapsed layers (a range in >= {V.COLLAPSE_MIN_DOMAINS} domains): {_ranges(multi)}"
             f" ({_ranges(mid)} at {lo_d:.0%}-{hi_d:.0%} depth); "
             f"{'recovers by the last layer' if recovered else 'does not recover'}"]
    parts += [f"{r}: {_ranges(by_reading[r])}" for r in readings]
    if random_ran:
        parts.append(f"random-init model: {_ranges(random_multi)}")
    if readings:
        beyond = [l for l in surviving if l not in random_multi] if random_ran else surviving
        parts.append(f"intermediate layers beyond {'every control' if random_ran else 'the readings'}: "
                     f"{_ranges(beyond)}")
    if not multi and single:
        parts[0] = f"only single domains collapse (layers {_ranges(single)})"
    layer = (surviving or mid or multi or [None])[0]
    finding = _f("activation_collapse", "all", "Activation collapse in intermediate layers",
                 "intermediate layers in a collapsed effective-rank range of >= 2 domains", float(len(mid)),
                 layer=layer, verdict=verdict, detail="; ".join(parts), controls=controls)
    finding["layers"] = {"collapsed": multi, "intermediate": mid, **by_reading,
                         **({"random_init": random_multi} if random_ran else {}), "surviving_readings": surviving}
    return [finding]


def _ranges(layers: list) -> str:
    layers = sorted(int(x) for x in layers)
    if not layers:
        return "none"
    out, start, prev = [], layers[0], layers[0]
    for x in layers[1:] + [None]:
        if x is not None and x == prev + 1:
            prev = x
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        if x is not None:
            start = prev = x
    return ", ".join(out)


SEED_DEPENDENCE = (
    "The seed changes: the UMAP embeddings and every metric computed in UMAP space (silhouette_umap, "
    "knn_acc, r2_umap, anisotropy, the drugs silhouette gap), all bootstrap confidence intervals, and "
    "which items and pairs are sampled for saliency, lesioning and patching (max_items, max_pairs). It does "
    "not change the raw-space metrics (silhouette_raw, mean_cosine, effective_rank, age boundaries, "
    "progression paths) nor the per-item lesion, patching and saliency values themselves. The same "
    "config and seed reproduce the map bit for bit. `medmap run --seeds N` maps N seeds and reports how far "
    "each interval moves across them (robustness.json); `--paraphrases` does the same across prompt templates."
)


def medical(scores: pd.DataFrame) -> pd.DataFrame:
    """The rows of medical domains (the reference set and other non-medical built-in sets left out)."""
    from medmap.concepts.domains import builtin_spec

    keep = {d for d in scores.domain.unique() if (spec := builtin_spec(str(d))) is None or spec.medical}
    return scores[scores.domain.isin(keep)]


def findings(scores: pd.DataFrame, model: str) -> dict:
    s = medical(scores[scores.technique == "geometry"])
    items = age_findings(s) + progression_findings(s) + drug_findings(s) + collapse_findings(s)
    return {"model": model, "findings": items, "rules": V.__doc__.split("\n\n", 1)[1].strip(),
            "seed_dependence": SEED_DEPENDENCE}
