"""Linear centred kernel alignment (CKA; Kornblith et al., 2019) between two sets of activations of the
same items, e.g. a base model's layer i and its fine-tune's layer j.

    CKA(X, Y) = <K, L>_F / (||K||_F ||L||_F),   K = Xc Xc^T,  L = Yc Yc^T,

with ``Xc``, ``Yc`` the column-centred [items, features] matrices (equivalently
``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)``). It is 1 for identical representations, invariant to
orthogonal transforms and isotropic scaling of either side, and near 0 for independent ones when there
are many more items than features. Hand-written with numpy: scikit-learn and scipy have no CKA, and the
layers x layers matrix is cheapest from one normalised Gram matrix per layer (one dot product per pair).
"""

from __future__ import annotations

import numpy as np

from medmap.errors import MedmapError


def _as_2d(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise MedmapError(f"CKA: {name} must be a 2-d [items, features] array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise MedmapError(f"CKA: {name} holds non-finite values")
    return arr


def normalised_gram(x) -> np.ndarray:
    """The centred Gram matrix ``Xc Xc^T`` of [items, features] ``x``, divided by its Frobenius norm
    (all zeros when ``x`` is constant over items)."""
    x = _as_2d(x, "x")
    xc = x - x.mean(axis=0, keepdims=True)
    k = xc @ xc.T
    norm = np.linalg.norm(k)
    return k / norm if norm > 0 else np.zeros_like(k)


def linear_cka(x, y) -> float:
    """Linear CKA of two [items, features] arrays with the same items (rows) in the same order. NaN when
    either is constant over items."""
    x, y = _as_2d(x, "x"), _as_2d(y, "y")
    if x.shape[0] != y.shape[0]:
        raise MedmapError(f"CKA: x and y must have the same items (rows), got {x.shape[0]} and {y.shape[0]}")
    if x.shape[0] < 2:
        raise MedmapError("CKA needs at least 2 items")
    gx, gy = normalised_gram(x), normalised_gram(y)
    if not gx.any() or not gy.any():
        return float("nan")
    return float(np.clip(np.sum(gx * gy), 0.0, 1.0))


def cka_matrix(a, b) -> np.ndarray:
    """CKA between every layer of ``a`` and every layer of ``b``: [items, layers_a, features_a] and
    [items, layers_b, features_b] arrays with the same items in the same order. Returns
    [layers_a, layers_b]. Memory: one items x items Gram matrix per layer."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 3 or b.ndim != 3:
        raise MedmapError(f"cka_matrix needs [items, layers, features] arrays, got shapes {a.shape} and {b.shape}")
    if a.shape[0] != b.shape[0]:
        raise MedmapError(f"cka_matrix: the two sides must hold the same items, got {a.shape[0]} and {b.shape[0]}")
    if a.shape[0] < 2:
        raise MedmapError("CKA needs at least 2 items")
    ga = np.stack([normalised_gram(a[:, i]).ravel() for i in range(a.shape[1])])
    gb = ga if b is a else np.stack([normalised_gram(b[:, j]).ravel() for j in range(b.shape[1])])
    out = np.clip(ga @ gb.T, 0.0, 1.0)
    out[~ga.any(axis=1), :] = np.nan
    out[:, ~gb.any(axis=1)] = np.nan
    return out
