"""Permutation nulls of the geometry metrics, vectorised: many relabelings of the same embedding at once.

Each function takes the layer's data once and a matrix of relabelings (one row per permutation) and
returns one value per row, equal to what the single-relabeling metric of
:mod:`medmap.analyses.geometry_metrics` gives for that row (tests/analyses/test_geometry_controls.py checks
each against its scikit-learn / scipy oracle). Hand-written where scikit-learn has no batched
equivalent: ``silhouette_score`` scores one labeling per call (200 calls per metric and layer would
cost more than the UMAP itself), while here all labelings share one distance matrix product.

Also here: drawing the relabelings (:func:`permute`: within strata, by units), the two summaries of a
null (:func:`null95`, :func:`p_value`), and the half samples of concepts that the silhouettes' CIs use
(:func:`half_samples`, :func:`half_sample_ci`)."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.stats import rankdata
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import cross_val_predict

from medmap.analyses.stats import cv_folds, enough_for_folds

CHUNK = 32
"""Permutations processed together (bounds memory: items x CHUNK x classes floats)."""


def permute(values: np.ndarray, units: np.ndarray, strata: np.ndarray, n_perm: int,
            rng: np.random.Generator) -> np.ndarray:
    """``n_perm`` relabelings [n_perm, n] of item values ``values``: the values of the units (e.g.
    concepts; every item of a unit must carry the same value) are shuffled among the units of the same
    stratum (every item of a unit must be in the same stratum), and each item takes its unit's new value.
    With one item per unit this is a plain shuffle within strata."""
    values = np.asarray(values)
    ukeys, item_unit = np.unique(np.asarray(units), return_inverse=True)
    first = np.zeros(len(ukeys), dtype=int)
    first[item_unit[::-1]] = np.arange(len(values))[::-1]  # first item of each unit
    if not (np.array_equal(values, values[first][item_unit]) and
            np.array_equal(np.asarray(strata), np.asarray(strata)[first][item_unit])):
        raise ValueError("every item of a permutation unit must share its value and its stratum")
    uvals, ustrata = values[first], np.asarray(strata)[first]
    out = np.empty((n_perm, len(ukeys)), dtype=uvals.dtype)
    for s in np.unique(ustrata):
        idx = np.nonzero(ustrata == s)[0]
        out[:, idx] = rng.permuted(np.tile(uvals[idx], (n_perm, 1)), axis=1)
    return out[:, item_unit]


def null95(null: np.ndarray) -> float:
    """95th percentile of the finite values of a null (NaN when there are none)."""
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    return float(np.percentile(null, 95)) if null.size else float("nan")


def p_value(observed: float, null: np.ndarray) -> float:
    """One-sided permutation p-value (1 + #{null >= observed}) / (1 + N), N the finite null values."""
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    if not np.isfinite(observed) or null.size == 0:
        return float("nan")
    return float((1 + np.sum(null >= observed)) / (1 + null.size))


def _onehot(Y: np.ndarray, K: int) -> np.ndarray:
    """[n, P, K] one-hot of codes Y [P, n]."""
    P, n = Y.shape
    M = np.zeros((n, P, K))
    M[np.arange(n)[:, None], np.arange(P)[None, :], Y.T] = 1.0
    return M


def silhouette_many(D: np.ndarray, Y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """sklearn's ``silhouette_score(D, y, metric='precomputed')`` for every row y of the integer codes
    Y [P, n] (NaN where y has fewer than 2 or more than n - 1 distinct values). The distances to every
    class of every relabeling come from one product D @ onehot. ``weights`` [P, n] (item multiplicities,
    e.g. bootstrap counts) give the score of the resample that repeats item j weights[p, j] times, with
    an item's own copies left out of its mean distance to its class: a copy is no other member of the
    class, and counting it at distance 0 (as ``silhouette_score`` on the resampled matrix does) inflates
    every bootstrap silhouette, most for small classes, so that a percentile CI can miss the estimate."""
    D = np.asarray(D, dtype=float)
    Y = np.atleast_2d(np.asarray(Y))
    P, n = Y.shape
    if P == 0 or n == 0:
        return np.full(P, np.nan)
    K = int(Y.max()) + 1
    W = np.ones((P, n)) if weights is None else np.atleast_2d(np.asarray(weights, dtype=float))
    out = np.full(P, np.nan)
    for s in range(0, P, CHUNK):
        y, w = Y[s:s + CHUNK], W[s:s + CHUNK]
        p = len(y)
        M = _onehot(y, K) * w.T[:, :, None]
        S = (D @ M.reshape(n, p * K)).reshape(n, p, K)  # summed distance of item i to class k
        cnt = M.sum(0)  # [p, K]
        ii, pp, own = np.arange(n)[:, None], np.arange(p)[None, :], y.T
        own_cnt = cnt[pp, own] - w.T  # [n, p]: the other members of i's class (its own copies left out)
        with np.errstate(divide="ignore", invalid="ignore"):
            a = S[ii, pp, own] / own_cnt
            other = S / cnt[None]
            other[ii, pp, own] = np.inf
            other[:, cnt == 0] = np.inf
            b = other.min(-1)
            sil = np.nan_to_num((b - a) / np.maximum(a, b))
        sil[own_cnt <= 0] = 0.0  # sklearn: a point alone in its class scores 0
        n_lab = (cnt > 0).sum(1)
        total = w.sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (sil * w.T).sum(0) / total
        out[s:s + p] = np.where((n_lab >= 2) & (n_lab <= total - 1), score, np.nan)
    return out


def half_samples(units: np.ndarray, n_draws: int, seed: int) -> np.ndarray:
    """0/1 weights [n_draws, n] of items: each draw keeps a random half (rounded down) of the units
    (e.g. concepts; all items of a kept unit are kept), drawn without replacement, seeded."""
    _, item_unit = np.unique(np.asarray(units), return_inverse=True)
    k = int(item_unit.max()) + 1 if len(item_unit) else 0
    rng = np.random.default_rng(seed)
    keep = np.zeros((n_draws, k), dtype=float)
    for d in range(n_draws):
        keep[d, rng.permutation(k)[:k // 2]] = 1.0
    return keep[:, item_unit]


def half_sample_ci(estimate: float, values, n_units: int, level: float = 0.95) -> tuple[float, float]:
    """Normal interval ``estimate +- z * se`` with the delete-d jackknife standard error (Shao & Wu
    1989), d = the units left out of each half sample: se^2 = (r / d) * mean((values - mean)^2), r the
    units kept. Used for the silhouettes, where resampling with replacement fails: a silhouette's
    nearest-other-class term is a minimum over class means, biased by class size, and a resample's
    duplicates shrink every class, so bootstrap distributions drift away from the estimate (measured on
    the drugs set: gap 0.051, item-bootstrap percentile CI 0.117-0.316). Half samples hold no duplicate;
    the interval is centred on the estimate and its width estimates the sampling spread (scipy has no
    delete-d jackknife). NaN with fewer than 2 finite values or 2 units."""
    from scipy.stats import norm

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    r = n_units // 2
    d = n_units - r
    if v.size < 2 or r < 1 or not np.isfinite(estimate):
        return float("nan"), float("nan")
    se = float(np.sqrt(r / d * np.mean((v - v.mean()) ** 2)))
    z = float(norm.ppf(0.5 + level / 2))
    return float(estimate - z * se), float(estimate + z * se)


def knn_many(neighbours: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Leave-one-out k-NN label accuracy for every row of codes Y [P, n], given each item's neighbours
    [n, k+1] (itself first, as ``NearestNeighbors.kneighbors`` returns them); ties go to the smallest
    code, as ``np.bincount(...).argmax()`` in :func:`medmap.analyses.geometry_metrics.knn_accuracy`."""
    Y = np.atleast_2d(np.asarray(Y))
    P, n = Y.shape
    if P == 0 or n == 0:
        return np.full(P, np.nan)
    K = int(Y.max()) + 1
    out = np.empty(P)
    for s in range(0, P, CHUNK):
        votes = Y[s:s + CHUNK][:, neighbours[:, 1:]]  # [p, n, k]
        counts = (votes[..., None] == np.arange(K)).sum(-2)  # [p, n, K]
        out[s:s + CHUNK] = (counts.argmax(-1) == Y[s:s + CHUNK]).mean(1)
    return out


def r2_many(X: np.ndarray, T: np.ndarray, folds: int = 5, seed: int = 0, groups=None) -> np.ndarray:
    """Cross-validated R^2 of a linear regression on X for every row of targets T [P, n]: one
    multi-output fit (ordinary least squares fits each output on its own, so this equals a loop over
    :func:`medmap.analyses.geometry_metrics.r2_linear` with the same folds)."""
    T = np.atleast_2d(np.asarray(T, dtype=float))
    if not enough_for_folds(T.shape[1], folds, groups):
        return np.full(len(T), np.nan)
    pred = cross_val_predict(LinearRegression(), X, T.T, cv=cv_folds(folds, seed, groups), groups=groups)
    return np.atleast_1d(r2_score(T.T, pred, multioutput="raw_values"))


def _centroids(X: np.ndarray, codes: np.ndarray, K: int) -> np.ndarray:
    """Class means [P, K, d] of X for every row of codes [P, n] (one sparse product)."""
    P, n = codes.shape
    W = sparse.csr_matrix((np.ones(P * n), ((codes + K * np.arange(P)[:, None]).ravel(), np.tile(np.arange(n), P))),
                          shape=(P * K, n))
    cnt = np.asarray(W.sum(1)).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.asarray(W @ X) / cnt[:, None]).reshape(P, K, X.shape[1])


def age_strengths_many(X: np.ndarray, T: np.ndarray, window: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(values a, strengths [P, len(a)]) of the steps a -> next value for every relabeling T [P, n] of
    the same multiset of values, as :func:`medmap.analyses.geometry_metrics.age_steps` computes them."""
    T = np.atleast_2d(np.asarray(T))
    uniq, codes = np.unique(T, return_inverse=True)
    codes = codes.reshape(T.shape)
    K = len(uniq)
    out = np.full((len(T), max(K - 1, 0)), np.nan)
    for s in range(0, len(T), CHUNK):
        cent = _centroids(np.asarray(X, dtype=float), codes[s:s + CHUNK], K)
        steps = np.linalg.norm(np.diff(cent, axis=1), axis=2)  # [p, K-1]
        for i in range(K - 1):
            nb = np.concatenate([steps[:, max(0, i - window): i], steps[:, i + 1: i + 1 + window]], axis=1)
            if nb.shape[1]:
                med = np.median(nb, axis=1)
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[s:s + CHUNK, i] = np.where(med > 0, steps[:, i] / med, np.nan)
    return uniq[:-1], out


def stage_paths_many(X: np.ndarray, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Spearman [P], circularity [P]) of :func:`medmap.analyses.geometry_metrics.stage_path` for every
    relabeling S [P, n] of one group's stages. Spearman = Pearson correlation of the ranks (average
    ranks for ties), as scipy computes it."""
    S = np.atleast_2d(np.asarray(S))
    uniq, codes = np.unique(S, return_inverse=True)
    codes = codes.reshape(S.shape)
    P, K = len(S), len(uniq)
    if K < 3:
        return np.full(P, np.nan), np.full(P, np.nan)
    rho, circ = np.empty(P), np.empty(P)
    rs = np.arange(K) - (K - 1) / 2  # ranks of the distinct stage values, centred
    for s in range(0, P, CHUNK):
        cent = _centroids(np.asarray(X, dtype=float), codes[s:s + CHUNK], K)
        d = np.linalg.norm(cent - cent[:, :1], axis=2)  # [p, K]
        rd = rankdata(d, axis=1)
        rd = rd - rd.mean(1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            rho[s:s + CHUNK] = (rd @ rs) / np.sqrt((rd ** 2).sum(1) * (rs ** 2).sum())
            dmax = d.max(1)
            circ[s:s + CHUNK] = np.where(dmax > 0, 1.0 - d[:, -1] / dmax, np.nan)
    return rho, circ


def stage_resamples(stages: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray | None:
    """Bootstrap resamples [n_boot, n] of item indices, drawn with replacement within each stage (so
    every stage keeps its number of items); None when no stage has two items (nothing to resample)."""
    stages = np.asarray(stages)
    groups = [np.nonzero(stages == s)[0] for s in np.unique(stages)]
    if n_boot < 2 or max(len(g) for g in groups) < 2:
        return None
    return np.concatenate([g[rng.integers(0, len(g), (n_boot, len(g)))] for g in groups], axis=1)


def stage_paths_boot(X: np.ndarray, stages: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Spearman, circularity) of one group on each resample of item indices idx [B, m] (from
    :func:`stage_resamples`): the stage centroids of the resampled items."""
    stages = np.asarray(stages)
    Xb = np.asarray(X, dtype=float)[idx]  # [B, m, d]
    rho, circ = np.empty(len(idx)), np.empty(len(idx))
    for b in range(len(idx)):
        rho[b], circ[b] = (v[0] for v in stage_paths_many(Xb[b], stages[idx[b]][None]))
    return rho, circ
