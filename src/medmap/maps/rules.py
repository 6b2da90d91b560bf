"""From a per-layer curve to layer intervals: the paper's rules.

Every technique gives, per (model, domain), a curve over decoder layers. The map keeps the layers
where the curve says "here". The paper ("From curves to the map") does it in two steps:

1. smooth the curve with a Gaussian of ``sigma`` layers;
2. for the geometry (UMAP) metrics, keep the ``rise_window``-layer window where the smoothed metric
   rises fastest (:func:`fastest_rise`); for saliency, lesioning and patching, keep the layers at or
   above the ``percentile``-th percentile, as runs of at least ``min_run`` consecutive layers, at most
   ``max_runs`` runs (:func:`top_runs`).

For the techniques with a specificity control (saliency, lesion, patching, lens) the curve is by default
the domain's effect minus the reference set's (``M@specific``, ``causal_curve``). A lane whose specific
curve has no layer with its CI wholly above 0 (:func:`is_specific`) is *not specific*: the domain is not
treated differently from general knowledge there, and the lane gets no interval. A specific lane's
intervals keep only their layers whose CI lies above 0 (:func:`within`): a layer of a top run whose CI
includes 0 is not one where the domain was shown to differ from general knowledge.

Geometry lanes are checked against their controls in the same way (``geometry_control``): an interval
keeps only the layers where the curve beats its permutation null (``M@p`` < :data:`GEOMETRY_P_MAX`) and
both the null's 95th percentile and the lexical baseline (``M@excess`` > 0); a lane with no such layer
in its interval is *not beyond controls*: chance or the prompt's tokens explain its rise.

Intervals are inclusive ``(start, end)`` pairs of 0-based layer indices. Every function here accepts
any float array (empty, constant, containing NaN or infinities; infinities are treated as NaN) and
returns only valid intervals (``0 <= start <= end < len(values)``), or ``[]``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

import numpy as np
from pydantic import Field
from scipy.ndimage import gaussian_filter1d

from medmap.techniques import TABLE as TECHNIQUE_TABLE
from medmap.errors import ConfigError, MedmapError
from medmap.options import Float, Int, options

Interval = tuple[int, int]


@options(name="map_rules")
class MapRules:
    """How a per-layer curve becomes intervals. The defaults are the paper's."""

    sigma: Float = Field(1.0, ge=0)
    """Standard deviation, in layers, of the Gaussian that smooths each curve; 0 turns smoothing off."""

    rise_window: Int = Field(3, ge=1)
    """Geometry: number of consecutive layers in the window where the smoothed metric rises fastest."""

    percentile: Float = Field(75.0, ge=0, le=100)
    """Saliency, lesion, patching: keep layers whose smoothed value is at or above this percentile
    (0-100) of the curve's finite smoothed values."""

    min_run: Int = Field(2, ge=1)
    """Saliency, lesion, patching: a kept run must span at least this many consecutive layers."""

    max_runs: Int = Field(3, ge=1)
    """Saliency, lesion, patching: keep at most this many runs (those of highest mean smoothed value)."""

    causal_curve: Literal["specific", "raw"] = "specific"
    """Saliency, lesion, patching, lens: ``specific`` draws the intervals from the domain-minus-reference
    curve ``M@specific`` where the scores have it (a lane with no layer above the reference is marked
    "not specific" and gets no interval); ``raw`` from the technique's own curve."""
    geometry_control: Literal["controlled", "raw"] = "controlled"
    """Geometry: ``controlled`` keeps, of each interval, only the layers where the curve beats its
    permutation null and its lexical baseline (rows ``M@p``, ``M@excess``; a lane without such a layer is
    "not beyond controls"); ``raw`` keeps the paper's interval as it is."""

    def to_dict(self) -> dict:
        """The rules as a plain JSON-ready dict (``MapRules(**d)`` rebuilds them)."""
        return {k: (v if isinstance(v, str) else float(v) if isinstance(v, float) else int(v))
                for k, v in asdict(self).items()}


SPECIFIC_MARGIN = 0.0
"""A specific curve singles a layer out when the layer's CI lower bound lies above this (the domain's
effect exceeds the reference set's)."""


def is_specific(ci_low) -> bool:
    """Whether a specific curve (its per-layer CI lower bounds) has at least one layer whose CI lies
    wholly above :data:`SPECIFIC_MARGIN`. NaN bounds (too few items for a CI) never count."""
    lo = _as_curve(ci_low)
    return bool(np.any(lo[np.isfinite(lo)] > SPECIFIC_MARGIN))


GEOMETRY_P_MAX = 0.05
"""A geometry layer beats its permutation null when its one-sided p-value (``M@p``) is below this."""


def beyond_controls(p, excess) -> np.ndarray:
    """Per layer, whether a geometry curve beats its controls there: ``p`` < :data:`GEOMETRY_P_MAX` and
    ``excess`` (value minus the larger of the null's 95th percentile and the lexical baseline) > 0. NaN
    never counts."""
    p, excess = _as_curve(p), _as_curve(excess)
    with np.errstate(invalid="ignore"):
        return (p < GEOMETRY_P_MAX) & (excess > 0)


def within(intervals: list[Interval], keep) -> list[Interval]:
    """The parts of ``intervals`` made of layers where ``keep`` (a boolean per layer) is true, as maximal
    runs (a single layer included)."""
    keep = np.asarray(keep, dtype=bool)
    inside = np.zeros(keep.size, dtype=bool)
    for start, end in intervals:
        inside[start:end + 1] = True
    return _runs(inside & keep)


def _as_curve(values) -> np.ndarray:
    """A 1-d float64 copy with infinities replaced by NaN."""
    arr = np.array(values, dtype=np.float64, copy=True).reshape(-1)
    arr[~np.isfinite(arr)] = np.nan
    return arr


def smooth(values, sigma: float) -> np.ndarray:
    """Gaussian smoothing along layers (``scipy.ndimage.gaussian_filter1d``, ``mode='nearest'``).

    NaN (and infinite) entries do not spread: they are first filled by linear interpolation from the
    finite neighbours (constant beyond the first/last finite value), the filled curve is smoothed,
    then NaN is put back where the input was not finite. An all-NaN curve stays all-NaN.
    ``sigma == 0`` returns the curve unchanged (infinities as NaN).
    """
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ConfigError(f"smoothing sigma must be a finite number >= 0, got {sigma!r}")
    arr = _as_curve(values)
    finite = np.isfinite(arr)
    if sigma == 0 or not finite.any():
        return arr
    idx = np.arange(arr.size)
    # Interpolation and the filter add pairs of values before weighting them, which overflows for values
    # near the float64 limit (8.99e307 + 8.99e307 = inf). Both are linear, so the curve is scaled by a
    # power of two (exact: only the exponent changes) into a safe range and scaled back; the result is
    # a weighted mean of the inputs, so it is clipped to their range against rounding at the limit.
    scale = _safe_scale(arr[finite])
    filled = np.interp(idx, idx[finite], arr[finite] * scale)
    out = gaussian_filter1d(filled, sigma=float(sigma), mode="nearest")
    if scale != 1.0:
        with np.errstate(over="ignore"):  # a rounding overflow past the limit is clipped back to the range
            out = np.clip(out / scale, np.min(arr[finite]), np.max(arr[finite]))
    out[~finite] = np.nan
    return out


def _safe_scale(finite_values: np.ndarray) -> float:
    """1.0, or a power of two that brings the largest magnitude to about 2**500 when it is above that."""
    top = float(np.max(np.abs(finite_values))) if finite_values.size else 0.0
    exponent = int(np.frexp(top)[1])
    return 1.0 if exponent <= 500 else float(np.ldexp(1.0, 500 - exponent))


def fastest_rise(values, rules: MapRules = MapRules()) -> list[Interval]:
    """The ``rise_window``-layer window ``[i, i+w-1]`` where the smoothed curve rises most.

    The rise of a window is ``smoothed[i+w-1] - smoothed[i]``; the first window wins ties. A curve
    shorter than the window is one window over all its layers. Windows whose rise is not finite are
    skipped; when no window rises (all NaN, constant, or only falling) the result is ``[]``.
    """
    s = smooth(values, rules.sigma)
    n = s.size
    if n == 0:
        return []
    w = min(int(rules.rise_window), n)
    with np.errstate(over="ignore", invalid="ignore"):
        rise = s[w - 1:] - s[: n - w + 1]
    rise[~np.isfinite(rise)] = -np.inf
    i = int(np.argmax(rise))
    if not rise[i] > 0:
        return []
    return [(i, i + w - 1)]


def _runs(mask: np.ndarray) -> list[Interval]:
    """Maximal runs of True in a boolean array, as inclusive (start, end) pairs."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def _percentile(finite_values: np.ndarray, q: float) -> float:
    """The q-th percentile; falls back to the nearest order statistic when linear interpolation
    overflows (values near the float64 limits)."""
    with np.errstate(over="ignore", invalid="ignore"):
        thr = float(np.percentile(finite_values, q))
    if not np.isfinite(thr):
        thr = float(np.percentile(finite_values, q, method="nearest"))
    return thr


def top_runs(values, rules: MapRules = MapRules()) -> list[Interval]:
    """Runs of layers whose smoothed value is at or above the ``percentile``-th percentile.

    The percentile is taken over the finite smoothed values. Kept layers form maximal runs of
    consecutive layers; NaN layers never belong to a run (they split it). Runs shorter than
    ``min_run`` are dropped; of the rest, the ``max_runs`` with the highest mean smoothed value are
    kept (the earlier run wins ties) and returned sorted by start.

    A constant curve has every layer at the percentile, so it gives one run over all layers: the
    technique does not single out any layer. A single-layer curve gives ``[]`` when ``min_run > 1``.
    """
    s = smooth(values, rules.sigma)
    finite = np.isfinite(s)
    if not finite.any():
        return []
    thr = _percentile(s[finite], rules.percentile)
    mask = finite & (s >= thr)
    runs = [r for r in _runs(mask) if r[1] - r[0] + 1 >= rules.min_run]
    if len(runs) > rules.max_runs:

        def score(run: Interval) -> float:
            with np.errstate(over="ignore", invalid="ignore"):
                m = float(np.mean(s[run[0]: run[1] + 1]))
            return m if not np.isnan(m) else -np.inf

        order = sorted(range(len(runs)), key=lambda k: (-score(runs[k]), runs[k][0]))
        runs = sorted(runs[k] for k in order[: rules.max_runs])
    return runs


def intervals_for(technique: str, values, rules: MapRules = MapRules()) -> list[Interval]:
    """The intervals of one technique's curve, by the technique table's rule: ``rise`` (geometry, lens) uses
    :func:`fastest_rise`; ``runs`` (saliency, lesion, patching) uses :func:`top_runs`. An unknown
    technique raises :class:`MedmapError`."""
    info = TECHNIQUE_TABLE.get(technique)
    if info is None:
        raise MedmapError(f"no interval rule for technique {technique!r}; known techniques: "
                          f"{', '.join(TECHNIQUE_TABLE)}")
    return fastest_rise(values, rules) if info.interval_rule == "rise" else top_runs(values, rules)
