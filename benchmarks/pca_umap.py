"""Does PCA before UMAP change the geometry metrics? On smollm2-135m, for a few layers of the age,
diseases and drugs sets: every metric with PCA to 50 dimensions first (the default) and without PCA,
and, as the yardstick, without PCA under a second UMAP seed. PCA "leaves the metrics unchanged" when
its effect is no larger than the seed-to-seed variation UMAP has anyway.

Prints per domain and metric the median |PCA - no PCA| and median |seed 0 - seed 1|, then
``PCA_EFFECT_VS_SEED <median over metrics of the ratio>`` (at most about 1: unchanged) and
``RATIO <time without PCA / time with PCA>`` for the per-layer geometry."""

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup  # noqa: E402

from medmap.analyses.geometry import GeometryOptions, layer_metrics  # noqa: E402
from medmap.capture.activations import capture  # noqa: E402
from medmap.concepts import load_builtin  # noqa: E402


def metrics(X, cs, o: GeometryOptions, layer: int) -> tuple[pd.Series, float]:
    labels = {n: cs.label_values(n) for n in cs.label_names()}
    t = time.perf_counter()
    rows, _ = layer_metrics(X, cs.domain, labels, o, layer)
    dt = time.perf_counter() - t
    # raw-space metrics and the PCA-independent ones do not involve UMAP: keep the UMAP ones
    s = pd.Series({r["metric"]: r["value"] for r in rows})
    keep = [m for m in s.index if m.startswith(("silhouette_umap", "knn_acc", "r2_umap", "anisotropy",
                                                "silhouette_gap"))]
    return s[keep], dt


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--domains", default="age,diseases,drugs")
    ap.add_argument("--layers", type=int, default=4, help="evenly spaced layers per domain")
    args = ap.parse_args()
    lm, _ = setup(1)
    base = GeometryOptions(n_boot=2)  # the CIs are not compared; keep bootstraps minimal
    # numba compiles umap-learn's kernels on first use: warm up so neither variant pays for it
    warm = load_builtin("diseases")
    metrics(capture(lm, [it.prompt for it in warm.items[:60]]).numpy()[:, 1], warm.subset(
        lambda it: it in warm.items[:60]), base, 0)
    ratios, t_pca, t_raw = [], 0.0, 0.0
    for domain in args.domains.split(","):
        cs = load_builtin(domain)
        acts = capture(lm, [it.prompt for it in cs.items]).numpy()
        L = acts.shape[1] - 1
        rows = []
        for layer in np.linspace(0, L - 1, args.layers).round().astype(int):
            X = acts[:, layer + 1]
            if layer % 2:  # alternate the order, so drifting machine load favours neither
                no_pca, b = metrics(X, cs, replace(base, pca_dims=0), layer)
                with_pca, a = metrics(X, cs, base, layer)
            else:
                with_pca, a = metrics(X, cs, base, layer)
                no_pca, b = metrics(X, cs, replace(base, pca_dims=0), layer)
            other_seed, _ = metrics(X, cs, replace(base, pca_dims=0, seed=1), layer)
            t_pca, t_raw = t_pca + a, t_raw + b
            for m in with_pca.index:
                rows.append({"metric": m, "layer": layer,
                             "pca_effect": abs(with_pca[m] - no_pca[m]), "seed_effect": abs(no_pca[m] - other_seed[m])})
        df = pd.DataFrame(rows).groupby("metric")[["pca_effect", "seed_effect"]].median()
        print(f"\n{domain} ({len(cs)} items, {args.layers} layers): median absolute change")
        print(df.round(4).to_string())
        ratios += list((df.pca_effect / df.seed_effect.clip(lower=1e-6)).values)
    print(f"\ngeometry time per layer: with PCA {t_pca:.1f} s, without {t_raw:.1f} s (all layers summed)")
    print(f"PCA_EFFECT_VS_SEED {np.median(ratios):.2f}")
    print(f"RATIO {t_raw / t_pca:.2f}")
