"""Bootstrap confidence intervals and the tidy per-layer score table every technique returns."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from medmap.store.schema import SCORE_COLUMNS


def cv_folds(folds: int, seed: int, groups=None, stratified: bool = False):
    """The cross-validation splitter of every cross-validated geometry metric (probes, linear R^2 and their
    nulls): ``folds`` shuffled folds (seed ``seed``), stratified by class for a classifier. With ``groups``
    (the concept of each item) the folds are grouped: a concept's paraphrases are never on both sides of a
    fold, so a score cannot come from recognising a test item's twin (the lexical representation of two
    paraphrases of one span is identical; ``benchmarks/probe_folds.py`` measured what item folds added)."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    if groups is None:
        return (StratifiedKFold if stratified else KFold)(folds, shuffle=True, random_state=seed)
    return (StratifiedGroupKFold if stratified else GroupKFold)(folds, shuffle=True, random_state=seed)


def n_units(n: int, groups) -> int:
    """The number of independent units among ``n`` items: their distinct groups, or the items."""
    return n if groups is None else len(set(np.asarray(groups).tolist()))


def enough_for_folds(n: int, folds: int, groups=None) -> bool:
    """Whether ``n`` items (with ``groups``: their concepts) can be cross-validated over ``folds`` folds: at
    least 2 x ``folds`` items and at least ``folds`` concepts."""
    return n >= 2 * folds and n_units(n, groups) >= folds


def groups_at(groups, idx):
    """The groups of the items ``idx`` (None stays None: folds over items)."""
    return None if groups is None else np.asarray(groups)[idx]


def bootstrap_ci(stat: Callable[[np.ndarray], float], n: int, n_boot: int, seed: int,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap over ``n`` units: ``stat(indices)`` evaluated on resamples with replacement.
    Returns (nan, nan) with fewer than 2 units or ``n_boot`` < 2."""
    if n < 2 or n_boot < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    return percentile_ci([stat(rng.integers(0, n, n)) for _ in range(n_boot)], level)


def percentile_ci(values, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the finite values of a bootstrap distribution (NaN with fewer than 2)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    return float(np.quantile(v, a)), float(np.quantile(v, 1 - a))


def mean_ci(x: np.ndarray, n_boot: int, seed: int) -> tuple[float, float, float]:
    """Mean of ``x`` (NaNs ignored) with a bootstrap CI over its entries."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    lo, hi = bootstrap_ci(lambda idx: float(x[idx].mean()), x.size, n_boot, seed)
    return float(x.mean()), lo, hi


def median_ci(x: np.ndarray, n_boot: int, seed: int) -> tuple[float, float, float]:
    """Median of ``x`` (NaNs ignored) with a bootstrap CI over its entries."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    lo, hi = bootstrap_ci(lambda idx: float(np.median(x[idx])), x.size, n_boot, seed)
    return float(np.median(x)), lo, hi


def per_unit_curves(values: np.ndarray, metric: str, n_boot: int, seed: int, stat=mean_ci) -> list[dict]:
    """Rows for a [units, layers] array: per layer the mean (or ``stat``) over units with a bootstrap CI."""
    rows = []
    for layer in range(values.shape[1]):
        v, lo, hi = stat(values[:, layer], n_boot, seed + layer)
        rows.append({"metric": metric, "layer": layer, "value": v, "ci_low": lo, "ci_high": hi})
    return rows


def frame(rows: list[dict], *, model: str, n_layers: int, domain: str, technique: str) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["metric", "layer", "value", "ci_low", "ci_high"])
    df.insert(0, "technique", technique)
    df.insert(0, "domain", domain)
    df.insert(0, "n_layers", n_layers)
    df.insert(0, "model", model)
    return df[list(SCORE_COLUMNS)]
