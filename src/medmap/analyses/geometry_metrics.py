"""Metrics of the geometry of activations, one layer at a time (numpy / scikit-learn only).

Definitions (all documented in the README):
- silhouette: sklearn silhouette score against the ground-truth labels (not k-means clusters).
- knn_acc: leave-one-out 5-nearest-neighbour label accuracy.
- r2 (age): 5-fold cross-validated R^2 of a linear regression of age on the embedding.
- anisotropy (age): mean over points of 1 - lambda2/lambda1 of the covariance of its k=20 neighbours.
- age boundaries: step(a) = distance between the mean activations of ages a and a+1; its strength is
  step(a) divided by the median step of the 5 boundaries on each side; the strongest boundary per layer.
- progression: per disease, Spearman correlation of stage with the distance of each stage's centroid
  from stage 0's; circularity = 1 - d(stage 0, last stage) / max_s d(stage 0, stage s) (0: the end stage
  is the farthest, a monotone path; > 0: the path turns back towards the start).
- collapse: mean pairwise cosine similarity of items, and effective rank (exp of the entropy of the
  normalised covariance eigenvalues).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score, silhouette_score
from sklearn.model_selection import cross_val_predict
from sklearn.neighbors import NearestNeighbors

from medmap.analyses.stats import cv_folds, enough_for_folds


def pca_features(X: np.ndarray, dims: int, seed: int = 0) -> np.ndarray:
    """X projected on its first ``dims`` principal components (X itself when ``dims`` is 0 or not below
    both of its sizes)."""
    if dims <= 0 or dims >= min(X.shape):
        return X
    from sklearn.decomposition import PCA

    return PCA(dims, random_state=seed).fit_transform(X)


def encode(labels) -> np.ndarray:
    """Integer codes of label values (compared as strings)."""
    _, inv = np.unique(np.asarray([str(x) for x in labels]), return_inverse=True)
    return inv


def silhouette(X: np.ndarray, labels, metric: str = "euclidean") -> float:
    y = encode(labels)
    if len(np.unique(y)) < 2 or len(np.unique(y)) >= len(y):
        return float("nan")
    return float(silhouette_score(X, y, metric=metric))


def silhouette_from_distances(D: np.ndarray, y: np.ndarray) -> float:
    if len(np.unique(y)) < 2 or len(np.unique(y)) >= len(y):
        return float("nan")
    return float(silhouette_score(D, y, metric="precomputed"))


def knn_accuracy(X: np.ndarray, labels, k: int = 5) -> float:
    y = encode(labels)
    if len(y) <= k:
        return float("nan")
    nn = NearestNeighbors(n_neighbors=k + 1).fit(X)
    _, idx = nn.kneighbors(X)
    votes = y[idx[:, 1:]]
    pred = np.array([np.bincount(v).argmax() for v in votes])
    return float((pred == y).mean())


def linear_oof(X: np.ndarray, target: np.ndarray, folds: int = 5, seed: int = 0, groups=None) -> np.ndarray | None:
    """Out-of-fold predictions of a linear regression of ``target`` on ``X`` (None below 2 x ``folds``
    items, or, with ``groups``, below ``folds`` concepts); ``groups``: the items' concepts, whose folds are
    grouped (``stats.cv_folds``)."""
    target = np.asarray(target, dtype=float)
    if not enough_for_folds(len(target), folds, groups):
        return None
    return cross_val_predict(LinearRegression(), X, target, cv=cv_folds(folds, seed, groups), groups=groups)


def r2_linear(X: np.ndarray, target: np.ndarray, folds: int = 5, seed: int = 0, groups=None) -> float:
    """Cross-validated R^2 of a linear regression of ``target`` on ``X`` (folds grouped by ``groups``)."""
    pred = linear_oof(X, target, folds, seed, groups)
    return float("nan") if pred is None else float(r2_score(np.asarray(target, dtype=float), pred))


def anisotropy(X: np.ndarray, k: int = 20) -> np.ndarray:
    """Per point: 1 - lambda2 / lambda1 of the covariance of its k nearest neighbours."""
    k = min(k, len(X) - 1)
    if k < 3 or X.shape[1] < 2:
        return np.full(len(X), np.nan)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
    out = np.empty(len(X))
    for i, nb in enumerate(idx):
        P = X[nb] - X[nb].mean(0)
        s = np.linalg.svd(P, compute_uv=False)  # singular values^2 are proportional to eigenvalues
        out[i] = 1.0 - (s[1] ** 2) / (s[0] ** 2) if s[0] > 0 else np.nan
    return out


def age_steps(X: np.ndarray, ages: np.ndarray, window: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boundaries between consecutive ages present: (age a, step size, strength) arrays."""
    ages = np.asarray(ages)
    uniq = np.unique(ages)
    cent = np.stack([X[ages == a].mean(0) for a in uniq])
    steps = np.linalg.norm(np.diff(cent, axis=0), axis=1)
    strength = np.full(len(steps), np.nan)
    for i in range(len(steps)):
        nb = np.r_[steps[max(0, i - window): i], steps[i + 1: i + 1 + window]]
        med = np.median(nb) if nb.size else np.nan
        strength[i] = steps[i] / med if med and med > 0 else np.nan
    return uniq[:-1], steps, strength


def stage_path(X: np.ndarray, stages: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(Spearman of stage vs distance from stage 0, circularity, distances) for one disease."""
    stages = np.asarray(stages)
    uniq = np.unique(stages)
    if len(uniq) < 3:
        return float("nan"), float("nan"), np.array([])
    cent = np.stack([X[stages == s].mean(0) for s in uniq])
    d = np.linalg.norm(cent - cent[0], axis=1)
    rho = spearmanr(uniq, d).statistic
    circ = 1.0 - d[-1] / d.max() if d.max() > 0 else float("nan")
    return float(rho), float(circ), d


def mean_cosine(X: np.ndarray) -> float:
    n = np.linalg.norm(X, axis=1, keepdims=True)
    U = X / np.where(n > 0, n, 1)
    G = U @ U.T
    m = len(X)
    return float((G.sum() - np.trace(G)) / (m * (m - 1))) if m > 1 else float("nan")


def effective_rank(X: np.ndarray) -> float:
    C = X - X.mean(0)
    s = np.linalg.svd(C, compute_uv=False) ** 2
    if s.sum() <= 0:
        return float("nan")
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))
