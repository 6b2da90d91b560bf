"""Activation collapse, beyond rogue dimensions.

A very high mean cosine and a very low effective rank can come from a few huge coordinates of the
residual stream ("massive activations") rather than from a collapse of the representation as a whole.
Each collapse measure is therefore also reported under two readings that take such coordinates away:

- ``M@standardized``: every coordinate divided by its root mean square over the items (no centring:
  centred data have a mean cosine of about -1/(n-1) whatever the geometry), so that no coordinate
  dominates by its magnitude alone;
- ``M@notop<k>``: the k coordinates with the largest mean square over the items removed (default k = 3,
  ``GeometryOptions.collapse_top_k``).

for M in ``mean_cosine``, ``effective_rank``. A collapse that survives both readings is one of the
representation; one that disappears is carried by a few coordinates.

Collapsed ranges (:func:`collapse_ranges`), the rule fixed in advance: the reference rank of a curve is
the median effective rank of its top quarter of layers (at least one layer); a layer is *low* when
its effective rank is below ``ratio`` (``GeometryOptions.collapse_ratio``, 0.5) times the reference,
and a collapsed range is a run of at least ``min_run`` (2) consecutive low layers. Every layer of the
range is flagged (``collapse_range_flag``), not only its edge. The older local rule
(:func:`flag_collapse`: a layer below ``ratio`` x the median of the 3 layers on each side, row
``collapse_flag``) flags edges of a range, and is kept."""

from __future__ import annotations

import numpy as np

from medmap.analyses import geometry_metrics as gm
from medmap.store.schema import COLLAPSE_READINGS


def standardized(X: np.ndarray) -> np.ndarray:
    """Every coordinate divided by its root mean square over the items (coordinates that are all zero
    are dropped)."""
    X = np.asarray(X, dtype=float)
    rms = np.sqrt((X ** 2).mean(0))
    keep = rms > 0
    return X[:, keep] / rms[keep]


def without_top(X: np.ndarray, k: int) -> np.ndarray:
    """X without its k coordinates of largest mean square over the items."""
    X = np.asarray(X, dtype=float)
    if k <= 0 or k >= X.shape[1]:
        return X
    top = np.argsort(-(X ** 2).mean(0), kind="stable")[:k]
    return np.delete(X, top, axis=1)


def readings(top_k: int) -> tuple[str, str]:
    """The names of the two readings (``M@<name>``): ``standardized`` and ``notop<k>``
    (:data:`medmap.store.schema.COLLAPSE_READINGS`)."""
    standardized_, notop = COLLAPSE_READINGS
    return standardized_, f"{notop}{top_k}"


def collapse_measures(X: np.ndarray, top_k: int = 3) -> dict[str, float]:
    """``{metric: value}`` of the collapse measures of one layer [items, hidden]: the plain ones and
    their ``@standardized`` and ``@notop<k>`` readings."""
    out = {"mean_cosine": gm.mean_cosine(X), "effective_rank": gm.effective_rank(X)}
    for suffix, Z in zip(readings(top_k), (standardized(X), without_top(X, top_k))):
        out[f"mean_cosine@{suffix}"] = gm.mean_cosine(Z)
        out[f"effective_rank@{suffix}"] = gm.effective_rank(Z)
    return out


def collapse_ranges(eff_rank: np.ndarray, ratio: float = 0.5, min_run: int = 2) -> np.ndarray:
    """0/1 per layer: 1 on every layer of a collapsed range (see the module docstring for the rule)."""
    r = np.asarray(eff_rank, dtype=float)
    flags = np.zeros(len(r))
    fin = np.sort(r[np.isfinite(r)])[::-1]
    if not fin.size:
        return flags
    ref = np.median(fin[: max(1, int(np.ceil(fin.size / 4)))])
    low = np.isfinite(r) & (r < ratio * ref)
    start = None
    for i, x in enumerate(np.r_[low, False]):
        if x and start is None:
            start = i
        elif not x and start is not None:
            if i - start >= min_run:
                flags[start:i] = 1.0
            start = None
    return flags


def flag_collapse(eff_rank: np.ndarray, ratio: float, window: int = 3) -> np.ndarray:
    """0/1 per layer: effective rank below ``ratio`` x the median of the ``window`` layers on each side."""
    flags = np.zeros(len(eff_rank))
    for i in range(len(eff_rank)):
        nb = np.r_[eff_rank[max(0, i - window): i], eff_rank[i + 1: i + 1 + window]]
        nb = nb[np.isfinite(nb)]
        if nb.size and np.isfinite(eff_rank[i]) and eff_rank[i] < ratio * np.median(nb):
            flags[i] = 1.0
    return flags
