"""The paper's phenomena, measured on a model's per-layer scores, each with a plain verdict.

Verdict rules are fixed in advance (stated here and in the README) and never tuned per model:
- age_boundary_17_18: "reproduced" when 17->18 is the strongest age boundary in at least a quarter of the
  layers, "inconclusive" when it is the strongest in at least one layer, else "not reproduced".
- age_nonlinear: the linear R^2 of age (30-d UMAP) at the best layer versus the worst intermediate layer
  (25-75% depth); "reproduced" when the intermediate minimum's CI lies wholly below the best layer's CI,
  "inconclusive" when the CIs overlap but the minimum is lower by more than 0.1, else "not reproduced".
- progression_circular (per disease): a layer is circular when circularity > 0.25 (the end stage is less
  than 75% as far from stage 0 as the farthest stage); "reproduced" when at least a quarter of the
  layers are circular, "inconclusive" when at least one is, else "not reproduced" (monotone).
- drugs_specialty_over_mechanism: the silhouette gap (specialty - mechanism) at the layer where the
  specialty silhouette is highest; "reproduced" when its CI is above 0, "not reproduced" when below 0,
  else "inconclusive".
- activation_collapse: layers flagged as collapsed (effective rank < collapse_ratio x the median of the
  3 layers on each side) in at least two domains at once; "reproduced" when such a layer exists and the
  effective rank recovers (is no longer flagged) by the last layer, "inconclusive" when only one domain
  flags a layer, else "not reproduced".
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _curve(scores: pd.DataFrame, domain: str, metric: str) -> pd.DataFrame:
    return scores[(scores.domain == domain) & (scores.metric == metric)].sort_values("layer")


def _f(id_, domain, title, measure, value=np.nan, lo=np.nan, hi=np.nan, layer=None, verdict="inconclusive",
       detail=""):
    return {"id": id_, "domain": domain, "title": title, "measure": measure,
            "value": None if value is None or not np.isfinite(value) else float(value),
            "ci_low": None if not np.isfinite(lo) else float(lo), "ci_high": None if not np.isfinite(hi) else float(hi),
            "layer": None if layer is None else int(layer), "verdict": verdict, "detail": detail}


def age_findings(s: pd.DataFrame) -> list[dict]:
    out = []
    at = _curve(s, "age", "boundary_at.age")
    if len(at):
        n17 = int((at.value == 17).sum())
        b = _curve(s, "age", "boundary_17_18.age")
        best = b.loc[b.value.idxmax()] if len(b) else None
        verdict = "reproduced" if n17 >= max(1, len(at) / 4) else ("inconclusive" if n17 else "not reproduced")
        mode = int(at.value.mode().iloc[0])
        out.append(_f("age_boundary_17_18", "age", "Discontinuity of age between 17 and 18",
                      "strength of the 17->18 step relative to neighbouring steps (max over layers)",
                      best.value if best is not None else np.nan, layer=best.layer if best is not None else None,
                      verdict=verdict,
                      detail=f"17->18 is the strongest age boundary in {n17} of {len(at)} layers; the most "
                             f"frequent strongest boundary is {mode}->{mode + 1}"))
    r2 = _curve(s, "age", "r2_umap.age")
    if len(r2):
        L = int(r2.n_layers.iloc[0])
        best = r2.loc[r2.value.idxmax()]
        mid = r2[(r2.layer >= 0.25 * L) & (r2.layer <= 0.75 * L)]
        if len(mid):
            worst = mid.loc[mid.value.idxmin()]
            if np.isfinite(worst.ci_high) and np.isfinite(best.ci_low) and worst.ci_high < best.ci_low:
                verdict = "reproduced"
            elif best.value - worst.value > 0.1:
                verdict = "inconclusive"
            else:
                verdict = "not reproduced"
            out.append(_f("age_nonlinear", "age", "Non-linear age encoding at intermediate layers",
                          "lowest linear R^2 of age (30-d UMAP) at 25-75% depth", worst.value, worst.ci_low,
                          worst.ci_high, worst.layer, verdict,
                          f"best R^2 {best.value:.2f} at layer {int(best.layer)}; intermediate minimum "
                          f"{worst.value:.2f} at layer {int(worst.layer)}"))
    return out


def progression_findings(s: pd.DataFrame) -> list[dict]:
    out = []
    circ = s[(s.domain == "progression") & s.metric.str.startswith("circularity.stage.")]
    for metric, c in circ.groupby("metric"):
        disease = metric.split("circularity.stage.", 1)[1]
        c = c.sort_values("layer")
        rho = _curve(s, "progression", f"spearman.stage.{disease}")
        circular = c[c.value > 0.25]
        n = len(c)
        verdict = "reproduced" if len(circular) >= max(1, n / 4) else ("inconclusive" if len(circular) else
                                                                        "not reproduced")
        peak = c.loc[c.value.idxmax()]
        mono = rho[rho.value > 0.8].layer.tolist() if len(rho) else []
        out.append(_f(f"progression_circular.{disease}", "progression", f"Circular progression path: {disease}",
                      "circularity = 1 - d(stage 0, end stage) / max d(stage 0, stage) (max over layers)",
                      peak.value, layer=peak.layer, verdict=verdict,
                      detail=f"circular (> 0.25) at layers {_ranges(circular.layer.tolist())}; monotone "
                             f"(Spearman > 0.8) at layers {_ranges(mono)}"))
    return out


def drug_findings(s: pd.DataFrame) -> list[dict]:
    sp = _curve(s, "drugs", "silhouette_umap.specialty")
    gap = _curve(s, "drugs", "silhouette_gap.specialty_minus_mechanism")
    if not len(sp) or not len(gap):
        return []
    best = sp.loc[sp.value.idxmax()]
    g = gap[gap.layer == best.layer].iloc[0]
    mech = _curve(s, "drugs", "silhouette_umap.mechanism")
    if np.isfinite(g.ci_low) and g.ci_low > 0:
        verdict = "reproduced"
    elif np.isfinite(g.ci_high) and g.ci_high < 0:
        verdict = "not reproduced"
    else:
        verdict = "inconclusive"
    return [_f("drugs_specialty_over_mechanism", "drugs", "Drugs cluster by specialty rather than mechanism",
               "silhouette(specialty) - silhouette(mechanism), 30-d UMAP, at the best specialty layer",
               g.value, g.ci_low, g.ci_high, best.layer, verdict,
               f"best silhouette by specialty {best.value:.3f} (layer {int(best.layer)}); best by mechanism "
               f"{mech.value.max():.3f} (layer {int(mech.loc[mech.value.idxmax()].layer)})" if len(mech) else "")]


def collapse_findings(s: pd.DataFrame) -> list[dict]:
    fl = s[(s.metric == "collapse_flag") & (s.value > 0)]
    if not len(s[s.metric == "collapse_flag"]):
        return []
    per_layer = fl.groupby("layer").domain.nunique()
    multi = per_layer[per_layer >= 2]
    L = int(s[s.metric == "collapse_flag"].n_layers.iloc[0])
    if len(multi):
        last_flag = int(multi.index.max())
        recovered = last_flag < L - 1
        verdict = "reproduced" if recovered else "inconclusive"
        layer = int(multi.idxmax())
        detail = (f"collapsed layers (>= 2 domains): {_ranges(multi.index.tolist())}; "
                  f"{'recovers by the last layer' if recovered else 'does not recover'}")
    elif len(per_layer):
        verdict, layer = "inconclusive", int(per_layer.idxmax())
        detail = f"only single domains flag layers {_ranges(per_layer.index.tolist())}"
    else:
        verdict, layer, detail = "not reproduced", None, "no layer's effective rank drops below the collapse ratio"
    return [_f("activation_collapse", "all", "Activation collapse in intermediate layers",
               "number of domains flagging the most-flagged layer", float(per_layer.max()) if len(per_layer) else 0.0,
               layer=layer, verdict=verdict, detail=detail)]


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


def findings(scores: pd.DataFrame, model: str) -> dict:
    s = scores[scores.technique == "geometry"]
    items = age_findings(s) + progression_findings(s) + drug_findings(s) + collapse_findings(s)
    return {"model": model, "findings": items, "rules": __doc__.split("\n\n", 1)[1].strip(),
            "seed_dependence": SEED_DEPENDENCE}
