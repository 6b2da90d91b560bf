"""The map's lanes against their controls: a specific lane's intervals keep only the layers whose CI lies
above the reference set's effect, and a geometry lane's interval keeps only the layers that beat the
permutation null and the lexical baseline (planted curves, both ways)."""

import numpy as np
import pandas as pd

from medmap.maps import MapRules, build_map
from medmap.maps.layer_map import NOT_BEYOND_CONTROLS, NOT_SPECIFIC
from medmap.maps.rules import GEOMETRY_P_MAX, beyond_controls, within

N = 12


def rows(technique, metric, values, lo=None, hi=None, domain="dosage"):
    values = np.asarray(values, dtype=float)
    lo = values - 0.05 if lo is None else np.asarray(lo, dtype=float)
    hi = values + 0.05 if hi is None else np.asarray(hi, dtype=float)
    return [{"model": "m", "n_layers": N, "domain": domain, "technique": technique, "metric": metric, "layer": l,
             "value": float(v), "ci_low": float(a), "ci_high": float(b)} for l, (v, a, b) in enumerate(zip(values, lo, hi))]


def lane(lmap, technique):
    (x,) = [x for x in lmap.lanes if x["technique"] == technique]
    return x


def spans(lmap, technique):
    return [(i["start"], i["end"]) for i in lmap.intervals if i["technique"] == technique]


RISE = np.r_[np.zeros(4), [0.1, 0.5, 0.9], np.full(N - 7, 1.0)]
"""A geometry curve whose fastest rise (3 layers, no smoothing) is layers 4-6."""


def geometry(p, excess):
    return pd.DataFrame(rows("geometry", "silhouette_umap.unit", RISE)
                        + rows("geometry", "silhouette_umap.unit@p", p)
                        + rows("geometry", "silhouette_umap.unit@excess", excess))


def test_within_and_beyond_controls():
    keep = np.array([0, 1, 1, 0, 1, 1, 1, 0, 0, 1], dtype=bool)
    assert within([(0, 3), (5, 8)], keep) == [(1, 2), (5, 6)]
    assert within([(0, 0)], keep) == [] and within([], keep) == []
    p = np.array([0.001, 0.001, GEOMETRY_P_MAX, 0.2, np.nan])
    ex = np.array([0.1, -0.1, 0.1, 0.1, 0.1])
    assert beyond_controls(p, ex).tolist() == [True, False, False, False, False]


def test_geometry_interval_keeps_only_the_layers_beyond_controls():
    rules = MapRules(sigma=0)
    raw = build_map(geometry(np.full(N, 0.5), np.full(N, -1.0)), MapRules(sigma=0, geometry_control="raw"))
    assert spans(raw, "geometry") == [(4, 6)] and lane(raw, "geometry")["status"] == "mapped"
    # planted: the metric beats both controls at layers 5-6 only (and at 2, outside the rise)
    p, ex = np.full(N, 0.5), np.full(N, -0.1)
    p[[2, 5, 6]], ex[[2, 5, 6]] = 0.005, 0.2
    lm = build_map(geometry(p, ex), rules)
    assert spans(lm, "geometry") == [(5, 6)] and lane(lm, "geometry")["status"] == "mapped"
    assert lm.table[lm.table.technique == "geometry"].in_interval.tolist() == [l in (5, 6) for l in range(N)]
    # absent: significant against chance, but the lexical baseline is as high (excess <= 0) in the rise
    p, ex = np.full(N, 0.005), np.full(N, -0.05)
    ex[9:] = 0.3  # beyond controls only far from the rise: no interval, and the reason counts them
    lm = build_map(geometry(p, ex), rules)
    assert spans(lm, "geometry") == [] and lane(lm, "geometry")["status"] == NOT_BEYOND_CONTROLS
    assert "3 such layer(s) elsewhere" in lane(lm, "geometry")["reason"]


def test_geometry_lane_without_a_rise_says_so():
    flat = pd.DataFrame(rows("geometry", "silhouette_umap.unit", np.full(N, 0.4))
                        + rows("geometry", "silhouette_umap.unit@p", np.full(N, 0.005))
                        + rows("geometry", "silhouette_umap.unit@excess", np.full(N, 0.2)))
    lm = build_map(flat, MapRules(sigma=0))
    assert spans(lm, "geometry") == [] and "no rise" in lane(lm, "geometry")["reason"]
    assert "inside the fastest rise" not in lane(lm, "geometry")["reason"]


def test_geometry_without_control_rows_keeps_the_paper_interval():
    lm = build_map(pd.DataFrame(rows("geometry", "silhouette_umap.unit", RISE)), MapRules(sigma=0))
    assert spans(lm, "geometry") == [(4, 6)] and "not checked" in lane(lm, "geometry")["reason"]


def test_specific_interval_keeps_only_layers_whose_ci_lies_above_zero():
    value = np.zeros(N)
    value[[4, 5, 6, 7]] = [1.0, 1.0, 1.0, 1.0]
    lo = value - 0.05
    lo[[4, 7]] = -0.2  # the top run is 4-7; only 5-6 exclude 0
    df = pd.DataFrame(rows("lesion", "logprob_drop", value + 3.0) + rows("lesion", "logprob_drop@specific", value, lo))
    lm = build_map(df, MapRules(sigma=0, percentile=80))
    assert spans(lm, "lesion") == [(5, 6)] and lane(lm, "lesion")["status"] == "mapped"
    # a layer above 0 outside the top runs only: no interval, "not specific", and the reason says why
    value2 = np.zeros(N)
    value2[[2, 3, 4]] = 1.0
    lo2 = np.full(N, -0.1)
    lo2[10] = 0.01
    df = pd.DataFrame(rows("lesion", "logprob_drop", value2) + rows("lesion", "logprob_drop@specific", value2, lo2))
    lm = build_map(df, MapRules(sigma=0, percentile=80))
    assert spans(lm, "lesion") == [] and lane(lm, "lesion")["status"] == NOT_SPECIFIC
    assert "outside the curve's intervals" in lane(lm, "lesion")["reason"]
