"""Linear probes with control tasks (Hewitt & Liang, 2019), per layer and metric label.

Features: the layer's PCA features (``GeometryOptions.pca_dims``, fitted on all the items without their
labels), standardised inside each training fold. Probes (scikit-learn):

- categorical and ordinal labels: ``LogisticRegression`` (lbfgs, ``C = probe_c``), cross-validated
  accuracy over ``probe_folds`` stratified folds (out-of-fold predictions). An ordinal label (e.g.
  stage within disease) is probed as a class over all its groups: is there a shared stage code?
- continuous labels: ``RidgeCV`` (alpha chosen by efficient leave-one-out among 10^-3 ... 10^3 inside each
  training fold), cross-validated R^2 over ``probe_folds`` folds: rows ``probe_r2.<label>``.

Control task: the same probe, same folds, on labels assigned at random per concept (a random
permutation of the concepts' labels, so the class balance is kept; items that are paraphrases of one
concept share their random label). Folds are drawn over items, not concepts, as in Hewitt & Liang: a
probe can memorise a concept it saw under another template, and the control task measures how much
that alone gives. Selectivity = task score - control score (``probe_selectivity.<label>``).

CIs: percentile bootstrap over items of the out-of-fold scores (accuracy: mean correctness; R^2:
``r2_score`` on the resampled predictions; selectivity: the paired difference).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from medmap.analyses.stats import bootstrap_ci

ALPHAS = np.logspace(-3, 3, 13)


def _oof_classes(F: np.ndarray, y: np.ndarray, folds: int, seed: int, C: float) -> np.ndarray | None:
    """Out-of-fold class predictions, or None when the label cannot be probed (one class, or no class
    with as many members as folds and fewer than 2 members in every class)."""
    _, counts = np.unique(y, return_counts=True)
    if len(counts) < 2 or counts.max() < 2:
        return None
    k = min(folds, int(counts.max()))
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class with fewer members than folds is tested where it can be
        return cross_val_predict(clf, F, y, cv=StratifiedKFold(k, shuffle=True, random_state=seed))


def _oof_values(F: np.ndarray, t: np.ndarray, folds: int, seed: int) -> np.ndarray | None:
    if len(t) < 2 * folds or np.ptp(t) == 0:
        return None
    reg = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS))
    return cross_val_predict(reg, F, t, cv=KFold(folds, shuffle=True, random_state=seed))


def probe_rows(F: np.ndarray, name: str, kind: str, values, control, *, folds: int = 5, seed: int = 0,
               C: float = 1.0, n_boot: int = 30, selectivity: bool = True) -> list[tuple]:
    """``(metric, value, ci_low, ci_high)`` rows of one label: ``probe_acc.<name>`` (categorical,
    ordinal) or ``probe_r2.<name>`` (continuous), and ``probe_selectivity.<name>`` against the control
    labels ``control`` (one per item; skipped when ``selectivity`` is False or ``control`` is None)."""
    nan = float("nan")
    F = np.asarray(F, dtype=float)
    n = len(F)
    if kind == "continuous":
        t = np.asarray(values, dtype=float)
        pred = _oof_values(F, t, folds, seed)
        if pred is None:
            return [(f"probe_r2.{name}", nan, nan, nan)]

        def r2(idx, p=pred):
            return float(r2_score(t[idx], p[idx])) if np.ptp(t[idx]) > 0 else nan

        rows = [(f"probe_r2.{name}", r2(np.arange(n)), *bootstrap_ci(r2, n, n_boot, seed))]
        if selectivity and control is not None:
            tc = np.asarray(control, dtype=float)
            pc = _oof_values(F, tc, folds, seed)
            if pc is not None:
                def sel(idx):
                    if np.ptp(t[idx]) == 0 or np.ptp(tc[idx]) == 0:
                        return nan
                    return float(r2_score(t[idx], pred[idx]) - r2_score(tc[idx], pc[idx]))

                rows.append((f"probe_selectivity.{name}", sel(np.arange(n)), *bootstrap_ci(sel, n, n_boot, seed + 1)))
        return rows
    y = np.asarray([str(v) for v in values])
    pred = _oof_classes(F, y, folds, seed, C)
    if pred is None:
        return [(f"probe_acc.{name}", nan, nan, nan)]
    ok = (pred == y).astype(float)
    rows = [(f"probe_acc.{name}", float(ok.mean()), *bootstrap_ci(lambda idx: float(ok[idx].mean()), n, n_boot, seed))]
    if selectivity and control is not None:
        yc = np.asarray([str(v) for v in control])
        pc = _oof_classes(F, yc, folds, seed, C)
        if pc is not None:
            diff = ok - (pc == yc)
            rows.append((f"probe_selectivity.{name}", float(diff.mean()),
                         *bootstrap_ci(lambda idx: float(diff[idx].mean()), n, n_boot, seed + 1)))
    return rows
