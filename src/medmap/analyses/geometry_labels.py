"""Geometry metrics of the continuous and ordinal labels of one layer, with their nulls and CIs.

``add(metric, value, ci_low, ci_high, null=...)`` receives each row (``medmap.analyses.geometry``); ``P``
holds the label's relabelings [n_perm, items] (None: no null); ``o`` is the ``GeometryOptions``."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import r2_score

from medmap.analyses import geometry_metrics as gm
from medmap.analyses import permutation as pm
from medmap.analyses.stats import bootstrap_ci, groups_at, percentile_ci


def _rowmax(S: np.ndarray) -> np.ndarray:
    fin = np.isfinite(S)
    return np.where(fin.any(1), np.where(fin, S, -np.inf).max(1), np.nan)


def continuous_metrics(add, lab, labels, split_by, X, Xp, emb, o, seed: int, P, units=None) -> None:
    """Linear R^2 (UMAP and PCA space), anisotropy, the strongest step between consecutive values and
    the named boundaries; R^2 per value of ``split_by`` and the gap of two. ``P``: relabelings;
    ``units``: the items' concepts, by which the regressions' folds are grouped."""
    name = lab.name
    t = np.asarray(labels[name], dtype=float)

    def null(f):
        return None if P is None else f()

    # the CI resamples the items' out-of-fold predictions (refitting on a resample would put copies of an
    # item on both sides of a fold and inflate R^2)
    pred = gm.linear_oof(emb, t, seed=o.seed, groups=units)

    def r2(idx):
        return float(r2_score(t[idx], pred[idx])) if np.ptp(t[idx]) > 0 else float("nan")

    value, ci = (np.nan, (np.nan, np.nan)) if pred is None else (r2(np.arange(len(t))),
                                                                 bootstrap_ci(r2, len(t), o.n_boot, seed))
    add(f"r2_umap.{name}", value, *ci, null=null(lambda: pm.r2_many(emb, P, seed=o.seed, groups=units)))
    add(f"r2_raw.{name}", gm.r2_linear(Xp, t, seed=o.seed, groups=units),
        null=null(lambda: pm.r2_many(Xp, P, seed=o.seed, groups=units)))
    an = gm.anisotropy(emb, o.anisotropy_k)
    add(f"anisotropy.{name}", np.nanmean(an),
        *bootstrap_ci(lambda idx: float(np.nanmean(an[idx])), len(an), o.n_boot, seed + 3))
    a, _, strength = gm.age_steps(X, t)
    S = null(lambda: pm.age_strengths_many(X, P)[1])
    if np.isfinite(strength).any():
        k = int(np.nanargmax(strength))
        add(f"boundary_strength.{name}", strength[k], null=None if S is None else _rowmax(S))
        add(f"boundary_at.{name}", a[k])
    for b in lab.boundaries:
        at = np.nonzero(a == b)[0]
        if at.size:
            add(f"boundary_{b}_{b + 1}.{name}", strength[at[0]], null=None if S is None else S[:, at[0]])
    if split_by is not None and split_by in labels:
        g = np.asarray([str(x) for x in labels[split_by]])
        vals = {}
        for value in sorted(set(g)):
            sel = np.nonzero(g == value)[0]
            us = groups_at(units, sel)
            vals[value] = gm.r2_linear(emb[sel], t[sel], seed=o.seed, groups=us)
            add(f"r2_umap.{name}.{value}", vals[value],
                null=null(lambda: pm.r2_many(emb[sel], P[:, sel], seed=o.seed, groups=us)))
        if len(vals) == 2:
            v = list(vals.values())
            add(f"r2_{split_by}_gap.{name}", v[0] - v[1])


def ordinal_metrics(add, lab, labels, X, o, seed: int, P) -> None:
    """Per group of ``lab.within`` (one group without it): Spearman of the value with the distance of
    each value's centroid from the first value's, and circularity; their means over groups. CIs: items
    resampled within each value (stage) of each group (per group: none when every stage has one item;
    the means then resample the groups); nulls: the values shuffled within each group (``P``)."""
    name = lab.name
    groups = np.asarray([str(x) for x in labels[lab.within]]) if lab.within else np.full(len(X), "")
    values = np.asarray(labels[name], dtype=float)
    rng = np.random.default_rng(seed + 4)
    obs, boots, nulls = [], [], []
    for group in sorted(set(groups)):
        sel = np.nonzero(groups == group)[0]
        rho, circ, _ = gm.stage_path(X[sel], values[sel])
        idx = pm.stage_resamples(values[sel], o.n_boot, rng)
        boot = pm.stage_paths_boot(X[sel], values[sel], idx) if idx is not None else None
        null = pm.stage_paths_many(X[sel], P[:, sel]) if P is not None else None
        obs.append((rho, circ)), boots.append(boot), nulls.append(null)
        if lab.within:
            for j, metric in enumerate(("spearman", "circularity")):
                add(f"{metric}.{name}.{group}", (rho, circ)[j], *(percentile_ci(boot[j]) if boot else (np.nan, np.nan)),
                    null=None if null is None else null[j])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of groups that are all NaN
        for j, metric in enumerate(("spearman", "circularity")):
            per_group = np.asarray([v[j] for v in obs])
            if all(b is not None for b in boots):
                ci = percentile_ci(np.nanmean([b[j] for b in boots], axis=0))
            else:  # one item per stage somewhere: the groups are resampled instead
                ci = bootstrap_ci(lambda idx: float(np.nanmean(per_group[idx])), len(per_group), o.n_boot, seed + 4)
            add(f"{metric}.{name}", np.nanmean(per_group), *ci,
                null=None if P is None else np.nanmean([n[j] for n in nulls], axis=0))
