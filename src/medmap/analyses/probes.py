"""Linear probes with control tasks (Hewitt & Liang, 2019), per layer and metric label.

Features: the layer's PCA features (``GeometryOptions.pca_dims``, fitted on all the items without their
labels), standardised inside each training fold. Probes (scikit-learn):

- categorical labels, and ordinal labels without groups: ``LogisticRegression`` (lbfgs, ``C =
  probe_c``), cross-validated accuracy over ``probe_folds`` stratified folds (out-of-fold predictions).
- ordinal labels compared within groups (``within``, e.g. stage within disease): a stage is ordinal only
  inside its disease, so it is never pooled across diseases as one class (stage 3 of COPD is not stage 3
  of Alzheimer's, and the diseases' stage counts differ): ``RidgeCV`` of the stage inside each group,
  cross-validated R^2 over ``probe_folds`` folds of the group's items, averaged over the groups that can
  be probed (at least 2 x ``probe_folds`` items and two stages): rows ``probe_r2.<label>``.
- continuous labels: ``RidgeCV`` (alpha chosen by efficient leave-one-out among 10^-3 ... 10^3 inside each
  training fold), cross-validated R^2 over ``probe_folds`` folds: rows ``probe_r2.<label>``.

Control task: the same probe, same folds, on labels assigned at random per concept (a random
permutation of the concepts' labels, so the class balance is kept; items that are paraphrases of one
concept share their random label). Selectivity = task score - control score (``probe_selectivity.<label>``).

Folds are grouped by concept (``cv_groups``, the geometry passes each item's concept): a concept's
paraphrases are never on both sides of a fold, so a probe is scored on concepts it has not seen. With
folds over items (geometry version 2 and before) the lexical baseline, whose paraphrases of one span
are identical vectors, was scored mostly on recognising a test item's twin (``benchmarks/probe_folds.py``).

CIs: percentile bootstrap over items of the out-of-fold scores (accuracy: mean correctness; R^2:
``r2_score`` on the resampled predictions; selectivity: the paired difference).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from medmap.analyses.stats import bootstrap_ci, cv_folds, enough_for_folds, groups_at, n_units
from medmap.techniques import PROBE_SCORES

ALPHAS = np.logspace(-3, 3, 13)


def _oof_classes(F: np.ndarray, y: np.ndarray, folds: int, seed: int, C: float, cv_groups=None) -> np.ndarray | None:
    """Out-of-fold class predictions, or None when the label cannot be probed (one class, or no class
    with as many members (concepts, with ``cv_groups``) as folds and fewer than 2 in every class)."""
    classes = np.unique(y)
    units = [n_units(int((y == c).sum()), groups_at(cv_groups, y == c)) for c in classes]
    if len(classes) < 2 or max(units) < 2:
        return None
    k = min(folds, max(units), n_units(len(y), cv_groups))
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class with fewer members than folds is tested where it can be
        return cross_val_predict(clf, F, y, cv=cv_folds(k, seed, cv_groups, stratified=True), groups=cv_groups)


def _oof_values(F: np.ndarray, t: np.ndarray, folds: int, seed: int, cv_groups=None) -> np.ndarray | None:
    if not enough_for_folds(len(t), folds, cv_groups) or np.ptp(t) == 0:
        return None
    reg = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS))
    return cross_val_predict(reg, F, t, cv=cv_folds(folds, seed, cv_groups), groups=cv_groups)


def probe_metric(kind: str, grouped: bool = False) -> str:
    """The name prefix of a label's probe score: ``probe_r2`` (continuous, or ordinal within groups) or
    ``probe_acc``."""
    return PROBE_SCORES[1] if kind == "continuous" or (kind == "ordinal" and grouped) else PROBE_SCORES[0]


def _grouped_r2(F: np.ndarray, t: np.ndarray, groups: np.ndarray, folds: int, seed: int, cv_groups=None):
    """(out-of-fold predictions, mask of the items of the groups that could be probed), each group's
    ridge fitted on its own items; None when no group can be probed."""
    pred, used = np.full(len(t), np.nan), np.zeros(len(t), dtype=bool)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        p = _oof_values(F[idx], t[idx], folds, seed, groups_at(cv_groups, idx))
        if p is not None:
            pred[idx], used[idx] = p, True
    return (pred, used) if used.any() else None


def _mean_group_r2(t, pred, groups, idx) -> float:
    """Mean over the groups among items ``idx`` of the R^2 of the predictions (groups whose resampled
    stages are all equal are left out)."""
    vals = [r2_score(t[idx][m], pred[idx][m]) for g in np.unique(groups[idx])
            if np.ptp(t[idx][(m := groups[idx] == g)]) > 0]
    return float(np.mean(vals)) if vals else float("nan")


def _grouped_rows(F, name, values, groups, control, folds, seed, n_boot, selectivity, cv_groups=None) -> list[tuple]:
    nan = float("nan")
    t, groups = np.asarray(values, dtype=float), np.asarray([str(g) for g in groups])
    got = _grouped_r2(F, t, groups, folds, seed, cv_groups)
    if got is None:
        return [(f"probe_r2.{name}", nan, nan, nan)]
    pred, used = got
    t, groups, pred = t[used], groups[used], pred[used]
    n = len(t)
    rows = [(f"probe_r2.{name}", _mean_group_r2(t, pred, groups, np.arange(n)),
             *bootstrap_ci(lambda idx: _mean_group_r2(t, pred, groups, idx), n, n_boot, seed))]
    if selectivity and control is not None:
        tc = np.asarray(control, dtype=float)[used]
        gc = _grouped_r2(F[used], tc, groups, folds, seed, groups_at(cv_groups, used))
        if gc is not None and gc[1].all():
            pc = gc[0]

            def sel(idx):
                return _mean_group_r2(t, pred, groups, idx) - _mean_group_r2(tc, pc, groups, idx)

            rows.append((f"probe_selectivity.{name}", sel(np.arange(n)), *bootstrap_ci(sel, n, n_boot, seed + 1)))
    return rows


def probe_rows(F: np.ndarray, name: str, kind: str, values, control, *, folds: int = 5, seed: int = 0,
               C: float = 1.0, n_boot: int = 30, selectivity: bool = True, groups=None,
               cv_groups=None) -> list[tuple]:
    """``(metric, value, ci_low, ci_high)`` rows of one label: ``probe_acc.<name>`` (categorical,
    ordinal) or ``probe_r2.<name>`` (continuous; ordinal with ``groups``, one group per item: within
    each group), and ``probe_selectivity.<name>`` against the control labels ``control`` (one per item;
    skipped when ``selectivity`` is False or ``control`` is None). ``cv_groups``: the concept of each item;
    the folds are then grouped by concept (``stats.cv_folds``)."""
    nan = float("nan")
    F = np.asarray(F, dtype=float)
    n = len(F)
    if kind == "ordinal" and groups is not None:
        return _grouped_rows(F, name, values, groups, control, folds, seed, n_boot, selectivity, cv_groups)
    if kind == "continuous":
        t = np.asarray(values, dtype=float)
        pred = _oof_values(F, t, folds, seed, cv_groups)
        if pred is None:
            return [(f"probe_r2.{name}", nan, nan, nan)]

        def r2(idx, p=pred):
            return float(r2_score(t[idx], p[idx])) if np.ptp(t[idx]) > 0 else nan

        rows = [(f"probe_r2.{name}", r2(np.arange(n)), *bootstrap_ci(r2, n, n_boot, seed))]
        if selectivity and control is not None:
            tc = np.asarray(control, dtype=float)
            pc = _oof_values(F, tc, folds, seed, cv_groups)
            if pc is not None:
                def sel(idx):
                    if np.ptp(t[idx]) == 0 or np.ptp(tc[idx]) == 0:
                        return nan
                    return float(r2_score(t[idx], pred[idx]) - r2_score(tc[idx], pc[idx]))

                rows.append((f"probe_selectivity.{name}", sel(np.arange(n)), *bootstrap_ci(sel, n, n_boot, seed + 1)))
        return rows
    y = np.asarray([str(v) for v in values])
    pred = _oof_classes(F, y, folds, seed, C, cv_groups)
    if pred is None:
        return [(f"probe_acc.{name}", nan, nan, nan)]
    ok = (pred == y).astype(float)
    rows = [(f"probe_acc.{name}", float(ok.mean()), *bootstrap_ci(lambda idx: float(ok[idx].mean()), n, n_boot, seed))]
    if selectivity and control is not None:
        yc = np.asarray([str(v) for v in control])
        pc = _oof_classes(F, yc, folds, seed, C, cv_groups)
        if pc is not None:
            diff = ok - (pc == yc)
            rows.append((f"probe_selectivity.{name}", float(diff.mean()),
                         *bootstrap_ci(lambda idx: float(diff[idx].mean()), n, n_boot, seed + 1)))
    return rows
