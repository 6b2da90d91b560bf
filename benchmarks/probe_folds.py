"""Do the probes' folds leak between paraphrases? Folds drawn over items (the geometry up to version 2;
version 3 groups them by concept) put the neutral prompts of one concept (e.g. "Prescription: <drug
phrase>." and "The patient was prescribed <drug phrase>.") on both sides of a fold. The lexical
representation (the mean input embedding of the concept span) of such twins is identical, so a probe on
it can recognise every test item from its twin in the training folds.

Prints, per domain, the accuracy of the primary label's logistic probe (the geometry's own settings: PCA
features, standardised, C = probe_c) with folds over items (as geometry version 2 drew them) and with folds
grouped by concept (``StratifiedGroupKFold`` on the plan's units), on the lexical representation and
on one layer, with ``LEAK <lexical item-fold accuracy - lexical grouped accuracy>`` per domain. With
``--run RUN_DIR`` the layer's activations come from that run's capture cache.

    python benchmarks/probe_folds.py --run runs/X --layer 15
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import activations, setup  # noqa: E402

from medmap.analyses import geometry_metrics as gm  # noqa: E402
from medmap.analyses.controls import build_plan  # noqa: E402
from medmap.analyses.geometry import GeometryOptions  # noqa: E402
from medmap.capture.lexical import lexical_representation  # noqa: E402
from medmap.concepts import load_builtin  # noqa: E402


def accuracy(F, y, groups, o: GeometryOptions, grouped: bool) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    F = gm.pca_features(np.asarray(F, dtype=float), o.pca_dims, o.seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=o.probe_c, max_iter=1000))
    cv = (StratifiedGroupKFold if grouped else StratifiedKFold)(o.probe_folds, shuffle=True, random_state=o.seed)
    pred = cross_val_predict(clf, F, y, cv=cv, groups=groups if grouped else None)
    return float((pred == y).mean())


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--domains", default="diseases,drugs,dosage")
    ap.add_argument("--layer", type=int, default=15, help="decoder layer whose output is probed")
    ap.add_argument("--run", type=Path, help="a run folder whose cache holds the captured activations")
    args = ap.parse_args()
    lm, _ = setup(0)
    o = GeometryOptions()
    for domain in args.domains.split(","):
        cs = load_builtin(domain)
        plan = build_plan(cs, o)
        lab = cs.spec.primary
        y = np.asarray(cs.label_values(lab))[plan.sel]
        lex = lexical_representation(lm, [it.prompt for it in cs.items], [it.span for it in cs.items], o.lexical_kind)
        lex = np.asarray(lex.todense() if hasattr(lex, "todense") else lex)[plan.sel]
        layer = np.asarray(activations(cs, args.run))[plan.sel, args.layer + 1]
        got = {(name, g): accuracy(F, y, plan.units, o, g) for name, F in (("lexical", lex), ("layer", layer))
               for g in (False, True)}
        print(f"{domain} ({len(y)} items, {len(set(plan.units))} concepts), probe_acc.{lab}: "
              f"lexical {got['lexical', False]:.3f} item folds / {got['lexical', True]:.3f} concept folds; "
              f"layer {args.layer} {got['layer', False]:.3f} / {got['layer', True]:.3f}")
        print(f"LEAK_{domain} {got['lexical', False] - got['lexical', True]:.3f}")
