"""Does a geometry option change the metrics more than UMAP's seed does? On smollm2-135m, for a few
layers of some sets: every metric under the default options, under the default options with ``--set``
applied (e.g. ``--set n_epochs=100``, ``--set pca_dims=0``), and, as the yardstick, under the default
options with another seed. The option "leaves the metrics unchanged" when its effect is no larger than
the seed-to-seed variation the geometry has anyway.

The rule, fixed before any measurement: an option that saves time may become a default only if
``EFFECT_VS_SEED`` (the median over metrics of median |option - default| / median |seed 1 - seed 0|) is
at most 1 and no metric's ratio exceeds 2 (``WORST_METRIC``).

Prints per domain and metric the two median absolute changes (only the metrics the option moves),
then ``EFFECT_VS_SEED``, ``WORST_METRIC`` and ``RATIO <time with the option / time with the
defaults>`` of the per-layer geometry (every default metric, nulls and per-template rows included).
With ``--run RUN_DIR`` the activations come from that run's capture cache (no model forward).

    python benchmarks/geometry_option.py --set n_epochs=100 --run runs/X
"""

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import activations  # noqa: E402

from medmap.analyses.controls import build_plan  # noqa: E402
from medmap.analyses.geometry import GeometryOptions, layer_metrics  # noqa: E402
from medmap.concepts import load_builtin  # noqa: E402


def parse_set(pairs: list[str]) -> dict:
    """``key=value`` strings as GeometryOptions fields (the value parsed as JSON where it can be)."""
    out = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or key not in GeometryOptions.__dataclass_fields__:
            sys.exit(f"--set {p}: expected <geometry option>=<value>")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def metrics(X, cs, o: GeometryOptions, layer: int) -> tuple[pd.Series, float]:
    labels = {n: cs.label_values(n) for n in [lab.name for lab in cs.spec.labels] + list(cs.spec.cues)}
    t = time.perf_counter()
    rows, _ = layer_metrics(X, cs.spec, labels, o, layer, build_plan(cs, o))
    return pd.Series({r["metric"]: r["value"] for r in rows}, dtype=float), time.perf_counter() - t


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", action="append", required=True, help="geometry option=value (repeatable)")
    ap.add_argument("--domains", default="age,diseases,drugs")
    ap.add_argument("--layers", type=int, default=4, help="evenly spaced layers per domain")
    ap.add_argument("--run", type=Path, help="a run folder whose cache holds the captured activations")
    args = ap.parse_args()
    base = GeometryOptions()
    variant = replace(base, **parse_set(args.set))
    ratios, t_base, t_var = {}, 0.0, 0.0
    warmed = False
    for domain in args.domains.split(","):
        cs = load_builtin(domain)
        acts = activations(cs, args.run)
        L = acts.shape[1] - 1
        if not warmed:  # numba compiles umap-learn's kernels on first use: neither variant pays for it
            metrics(acts[:, 1], cs, replace(base, n_perm=0, n_boot=0), 0)
            warmed = True
        rows = []
        for layer in np.linspace(0, L - 1, args.layers).round().astype(int):
            X = acts[:, layer + 1]
            if layer % 2:  # alternate the order, so drifting machine load favours neither
                v, b = metrics(X, cs, variant, layer), metrics(X, cs, base, layer)
            else:
                b, v = metrics(X, cs, base, layer), metrics(X, cs, variant, layer)
            other, _ = metrics(X, cs, replace(base, seed=base.seed + 1), layer)
            t_base, t_var = t_base + b[1], t_var + v[1]
            for m in b[0].index.intersection(v[0].index).intersection(other.index):
                rows.append({"metric": m, "layer": layer, "option_effect": abs(v[0][m] - b[0][m]),
                             "seed_effect": abs(other[m] - b[0][m])})
        df = pd.DataFrame(rows).dropna().groupby("metric")[["option_effect", "seed_effect"]].median()
        df = df[df.option_effect > 0]  # the metrics the option moves (the others are not its concern)
        print(f"\n{domain} ({len(cs)} items, {args.layers} layers): median absolute change")
        print(df.round(4).to_string())
        for m, r in (df.option_effect / df.seed_effect.clip(lower=1e-6)).items():
            ratios[f"{domain}:{m}"] = r
    worst = max(ratios, key=ratios.get)
    print(f"\nper-layer geometry: defaults {t_base:.1f} s, with {' '.join(args.set)} {t_var:.1f} s (layers summed)")
    print(f"EFFECT_VS_SEED {np.median(list(ratios.values())):.2f}")
    print(f"WORST_METRIC {ratios[worst]:.2f} ({worst})")
    print(f"RATIO {t_var / t_base:.2f}")
