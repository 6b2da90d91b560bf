"""Tests of medmap.maps: the curve-to-interval rules, the knowledge map, and cross-model comparison.
Invariants and small oracles, no snapshot numbers."""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from medmap.errors import MedmapError
from medmap.maps import (
    PRIMARY_METRICS,
    LayerMap,
    MapRules,
    build_map,
    compare_maps,
    fastest_rise,
    intervals_for,
    load_map,
    primary_metric,
    smooth,
    top_runs,
)
from medmap.maps.layer_map import AGREEMENT_COLUMNS, TABLE_COLUMNS

TECHNIQUES = ("geometry", "saliency", "lesion", "patching")
ANY_FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
CURVES = st.one_of(
    arrays(np.float64, st.integers(0, 80), elements=ANY_FLOATS),
    st.builds(lambda n, v: np.full(n, v), st.integers(0, 80), ANY_FLOATS),
)
RULES = st.builds(MapRules, sigma=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
                  rise_window=st.integers(1, 6), percentile=st.floats(0, 100),
                  min_run=st.integers(1, 4), max_runs=st.integers(1, 4))


def _valid(intervals, n):
    for start, end in intervals:
        assert isinstance(start, int) and isinstance(end, int)
        assert 0 <= start <= end < n
    assert list(intervals) == sorted(intervals)
    for (_, e1), (s2, _) in zip(intervals, intervals[1:]):
        assert e1 < s2, "intervals of one technique must not overlap"


# ---------------------------------------------------------------- rules


def test_rules_validate_and_round_trip():
    rules = MapRules(sigma=0.5, rise_window=4, percentile=80.0, min_run=3, max_runs=2)
    assert MapRules(**rules.to_dict()) == rules
    for bad in ({"sigma": -1}, {"percentile": 101}, {"min_run": 0}, {"rise_window": 1.5},
                {"max_runs": 0}, {"sigma": float("nan")}):
        with pytest.raises(MedmapError, match=next(iter(bad))):
            MapRules(**bad)


# edge cases: a huge finite value (8.99e307 overflowed to NaN in the filter's pairwise sums: the
# regression found by hypothesis), the float64 limits of both signs, denormals, empty, one layer
EDGE_CURVES = [np.full(3, 8.99e307), np.array([8.99e307, np.nan, -8.99e307]),
               np.array([np.finfo(float).max, -np.finfo(float).max, 1.0]), np.array([5e-324, -5e-324, 0.0]),
               np.array([]), np.array([1.0]), np.array([np.inf]), np.array([-np.inf, 1e308, np.nan])]


@settings(max_examples=150, deadline=None)
@given(CURVES, st.sampled_from([0.0, 1.0, 2.5]))
@example(np.full(3, 8.99e307), 1.0)
@example(np.array([np.finfo(float).max] * 2 + [-np.finfo(float).max]), 2.5)
@example(np.array([5e-324, 1.0]), 1.0)
@example(np.array([]), 1.0)
@example(np.array([3.0]), 2.5)
def test_smooth_keeps_nan_positions(values, sigma):
    out = smooth(values, sigma)
    assert out.shape == values.shape
    assert np.array_equal(np.isnan(out), ~np.isfinite(values))


@pytest.mark.parametrize("values", EDGE_CURVES, ids=range(len(EDGE_CURVES)))
def test_smooth_edge_cases_stay_finite_and_in_range(values):
    for sigma in (0.5, 1.0, 3.0):
        out = smooth(values, sigma)
        finite = np.isfinite(values)
        assert np.array_equal(np.isnan(out), ~finite)
        if finite.any():  # a smoothed value is a weighted mean of the finite inputs
            assert (out[finite] >= values[finite].min()).all() and (out[finite] <= values[finite].max()).all()
    for technique in TECHNIQUES:
        _valid(intervals_for(technique, values), len(values))


def test_smooth_of_huge_constant_is_the_constant():
    assert np.array_equal(smooth(np.full(5, 8.99e307), 1.0), np.full(5, 8.99e307))


def test_smooth_does_not_spread_nan_and_sigma_zero_is_identity():
    x = np.array([1.0, 2.0, np.nan, 4.0, 5.0, np.inf, 7.0])
    out = smooth(x, 1.0)
    assert np.isnan(out[[2, 5]]).all() and np.isfinite(np.delete(out, [2, 5])).all()
    # a linear curve stays linear (interpolated NaNs do not bend it) away from the edges
    assert out[3] == pytest.approx(4.0, abs=1e-6)
    assert np.array_equal(smooth(x, 0), np.where(np.isfinite(x), x, np.nan), equal_nan=True)
    assert np.isnan(smooth(np.full(5, np.nan), 1.0)).all()
    assert smooth(np.array([]), 1.0).shape == (0,)
    with pytest.raises(MedmapError):
        smooth(x, -1)


@settings(max_examples=300, deadline=None)
@given(CURVES, RULES)
@example(np.full(4, 8.99e307), MapRules())
@example(np.array([np.finfo(float).max, -np.finfo(float).max, np.finfo(float).max]), MapRules(sigma=0.5))
@example(np.array([5e-324] * 4), MapRules())
@example(np.array([]), MapRules())
@example(np.array([2.0]), MapRules(min_run=1))
def test_every_technique_gives_valid_intervals(values, rules):
    for technique in TECHNIQUES:
        _valid(intervals_for(technique, values, rules), len(values))
    runs = top_runs(values, rules)
    assert len(runs) <= rules.max_runs
    assert all(e - s + 1 >= rules.min_run for s, e in runs)
    s = smooth(values, rules.sigma)
    assert all(np.isfinite(s[a:b + 1]).all() for a, b in runs), "NaN layers never in a run"
    rise = fastest_rise(values, rules)
    assert len(rise) <= 1
    if rise:
        a, b = rise[0]
        assert b - a + 1 == min(rules.rise_window, len(values))
        assert s[b] - s[a] > 0


@pytest.mark.parametrize("step", [3, 10, 20])
def test_fastest_rise_lies_on_a_step(step):
    values = np.where(np.arange(30) > step, 1.0, 0.0)
    ((start, end),) = fastest_rise(values)
    assert end - start + 1 == 3
    assert start <= step < step + 1 <= end


def test_fastest_rise_edge_cases():
    assert fastest_rise(np.full(10, 2.5)) == []  # constant: no rise
    assert fastest_rise(np.arange(10.0)[::-1]) == []  # only falling
    assert fastest_rise(np.full(6, np.nan)) == []
    assert fastest_rise(np.array([])) == []
    assert fastest_rise(np.array([0.0, 1.0])) == [(0, 1)]  # shorter than the window: whole range
    assert fastest_rise(np.array([1.0])) == []


def test_top_runs_one_plateau_gives_exactly_that_run():
    values = np.zeros(20)
    values[8:13] = 5.0  # 5 of 20 layers = 25 %: the plateau is the top quarter
    assert top_runs(values, MapRules(sigma=0)) == [(8, 12)]
    smoothed = top_runs(values)  # with smoothing the run stays centred on the plateau
    assert len(smoothed) == 1 and smoothed[0][0] <= 10 <= smoothed[0][1]


def test_top_runs_drops_short_runs_and_keeps_at_most_max_runs():
    values = np.zeros(40)
    values[5] = 9.0  # single-layer peak: shorter than min_run
    for start, height in ((10, 3.0), (18, 5.0), (26, 4.0), (34, 6.0)):
        values[start:start + 3] = height
    rules = MapRules(sigma=0, percentile=70, min_run=2, max_runs=3)
    runs = top_runs(values, rules)
    assert runs == [(18, 20), (26, 28), (34, 36)]  # lowest run (10..12) and the spike dropped
    assert top_runs(values, MapRules(sigma=0, percentile=70, min_run=1, max_runs=5))[0] == (5, 5)


def test_top_runs_constant_nan_and_single_layer():
    assert top_runs(np.full(7, 1.0)) == [(0, 6)]  # documented: constant curve = one full run
    assert top_runs(np.array([3.0])) == []
    assert top_runs(np.array([3.0]), MapRules(min_run=1)) == [(0, 0)]
    values = np.array([0, 0, 5, 5, np.nan, 5, 5, 0, 0, 0, 0, 0.0])
    assert top_runs(values, MapRules(sigma=0)) == [(2, 3), (5, 6)]  # NaN splits the run


def test_unknown_technique_is_named():
    with pytest.raises(MedmapError, match="probing"):
        intervals_for("probing", np.arange(5.0))


# ---------------------------------------------------------------- knowledge map


def _curve(technique, n, rng, peak):
    depth = np.arange(n) / n
    if technique == "geometry":
        return 1 / (1 + np.exp(-(depth - peak) * 30)) + rng.normal(0, 0.01, n)
    return np.exp(-((depth - peak) ** 2) / 0.01) + rng.normal(0, 0.01, n)


def synthetic_scores(model="tiny", n=12, domains=("age", "drugs"), seed=0, extra=True):
    rng = np.random.default_rng(seed)
    rows = []
    for d, domain in enumerate(domains):
        for t, technique in enumerate(TECHNIQUES):
            metric = PRIMARY_METRICS[(domain, technique)]
            metrics = [metric, "other.metric"] if extra else [metric]
            for m in metrics:
                values = _curve(technique, n, rng, peak=0.3 + 0.1 * d + 0.05 * t)
                for layer, v in enumerate(values):
                    rows.append({"model": model, "n_layers": n, "domain": domain,
                                 "technique": technique, "metric": m, "layer": layer, "value": v,
                                 "ci_low": v - 0.1, "ci_high": v + 0.1})
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # order must not matter


def test_build_map_table_intervals_and_agreement():
    scores = synthetic_scores()
    kmap = build_map(scores)
    table = kmap.table
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert len(table) == 2 * 4 * 12
    assert not table.duplicated(["model", "domain", "technique", "layer"]).any()
    assert ((table["depth"] >= 0) & (table["depth"] < 1)).all()
    assert set(table["metric"]) <= set(PRIMARY_METRICS.values())
    assert list(dict.fromkeys(table["domain"])) == ["age", "drugs"]
    assert list(dict.fromkeys(table["technique"])) == list(TECHNIQUES)
    for _, group in table.groupby(["domain", "technique"]):
        assert list(group["layer"]) == list(range(12))
    # in_interval is exactly the union of the intervals
    covered = set()
    for iv in kmap.intervals:
        assert 0 <= iv["start"] <= iv["end"] < 12
        assert iv["start_depth"] == iv["start"] / 12 and iv["end_depth"] == (iv["end"] + 1) / 12
        covered |= {(iv["domain"], iv["technique"], lay) for lay in range(iv["start"], iv["end"] + 1)}
    flagged = set(table.loc[table["in_interval"], ["domain", "technique", "layer"]].itertuples(
        index=False, name=None))
    assert flagged == covered
    assert {iv["technique"] for iv in kmap.intervals} == set(TECHNIQUES)
    # agreement = number of covering intervals
    agree = kmap.agreement
    assert list(agree.columns) == list(AGREEMENT_COLUMNS)
    assert len(agree) == 2 * 12
    for row in agree.itertuples(index=False):
        expected = sum(iv["start"] <= row.layer <= iv["end"] for iv in kmap.intervals
                       if iv["domain"] == row.domain)
        assert row.count == expected
    # deterministic: a shuffled input gives the same map
    assert build_map(scores.sample(frac=1.0, random_state=7)).equals(kmap)


def test_build_map_missing_metrics_overrides_and_errors():
    scores = synthetic_scores(extra=True)
    no_lesion = scores[~((scores["technique"] == "lesion") & (scores["metric"] == "logprob_drop"))]
    kmap = build_map(no_lesion)
    assert "lesion" not in set(kmap.table["technique"])  # absent, no error
    over = build_map(scores, primary={("*", "lesion"): "other.metric"})
    assert set(over.table.loc[over.table["technique"] == "lesion", "metric"]) == {"other.metric"}
    assert primary_metric("age", "geometry") == "r2_umap.age"
    assert primary_metric("labs", "patching") == "recovery"
    with pytest.raises(MedmapError, match="labs"):
        primary_metric("labs", "geometry")
    with pytest.raises(MedmapError, match="nothing to map"):
        build_map(scores.iloc[0:0])
    with pytest.raises(MedmapError, match="nothing to map"):
        build_map(scores[scores["metric"] == "other.metric"])
    with pytest.raises(MedmapError, match="layer"):
        build_map(pd.concat([scores, scores[scores["metric"] == "recovery"].iloc[:1]]))
    bad = scores.copy()
    bad.loc[0, "layer"] = 12
    with pytest.raises(MedmapError, match="layer"):
        build_map(bad)
    with pytest.raises(MedmapError, match="value"):
        build_map(scores.drop(columns="value"))


def test_build_map_tolerates_nan_and_missing_layers():
    scores = synthetic_scores(extra=False)
    scores.loc[scores["layer"] == 4, "value"] = np.nan
    scores = scores[scores["layer"] != 7]
    kmap = build_map(scores)
    assert len(kmap.table) == 2 * 4 * 12  # layer 7 restored as NaN
    nan_rows = kmap.table[kmap.table["layer"].isin([4, 7])]
    assert nan_rows["value"].isna().all() and nan_rows["smoothed"].isna().all()
    assert not nan_rows.loc[nan_rows["technique"] != "geometry", "in_interval"].any()


@pytest.mark.parametrize("with_parquet", [True, False])
def test_save_load_round_trip(tmp_path, with_parquet):
    scores = pd.concat([synthetic_scores("a", 12), synthetic_scores("b", 30, seed=1)])
    kmap = build_map(scores, MapRules(sigma=0.7, max_runs=2))
    folder = kmap.save(tmp_path / "map")
    assert {p.name for p in folder.iterdir()} >= {"map.csv", "map.json"}
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp")]
    if not with_parquet:
        (folder / "map.parquet").unlink(missing_ok=True)
    loaded = load_map(folder)
    assert loaded.equals(kmap)
    assert loaded.rules == kmap.rules and loaded.n_layers == {"a": 12, "b": 30}
    pd.testing.assert_frame_equal(loaded.table, kmap.table)
    pd.testing.assert_frame_equal(loaded.agreement, kmap.agreement)
    with pytest.raises(MedmapError, match="map.json"):
        load_map(tmp_path / "nowhere")


# ---------------------------------------------------------------- compare


def test_compare_maps_of_different_depths():
    a = build_map(synthetic_scores("small", 12))
    b = build_map(synthetic_scores("large", 30, seed=3))
    out = compare_maps([a, b], bins=20)
    table = out["depth_table"]
    assert list(table.columns) == ["model", "domain", "technique", "depth_bin", "covered"]
    assert len(table) == 2 * 2 * 4 * 20
    assert set(table["depth_bin"]) == set(range(20))
    assert out["summary"]["small"]["n_layers"] == 12 and out["summary"]["large"]["n_layers"] == 30
    assert len(out["differences"]) == 2 * 4  # one pair of models per (domain, technique)
    for diff in out["differences"]:
        sel = table[(table["domain"] == diff["domain"]) & (table["technique"] == diff["technique"])]
        ca = set(sel.loc[(sel["model"] == diff["model_a"]) & sel["covered"], "depth_bin"])
        cb = set(sel.loc[(sel["model"] == diff["model_b"]) & sel["covered"], "depth_bin"])
        assert set(diff["only_a"]) == ca - cb and set(diff["only_b"]) == cb - ca
        if ca | cb:
            assert diff["jaccard"] == pytest.approx(len(ca & cb) / len(ca | cb))
        else:
            assert math.isnan(diff["jaccard"])
    # every covered bin overlaps an interval's depth range, and every interval covers >= 1 bin
    for model, info in out["summary"].items():
        for iv in info["intervals"]:
            bins = table[(table["model"] == model) & (table["domain"] == iv["domain"])
                         & (table["technique"] == iv["technique"]) & table["covered"]]["depth_bin"]
            assert any(b / 20 < iv["end_depth"] and (b + 1) / 20 > iv["start_depth"] for b in bins)


def test_compare_maps_same_map_agrees_and_errors():
    a = build_map(synthetic_scores("m", 12))
    renamed = LayerMap(table=a.table.assign(model="m2"),
                           intervals=[{**iv, "model": "m2"} for iv in a.intervals], rules=a.rules)
    out = compare_maps([a, renamed], bins=10)
    assert all(d["jaccard"] == 1.0 or math.isnan(d["jaccard"]) for d in out["differences"])
    assert all(not d["only_a"] and not d["only_b"] for d in out["differences"])
    point = compare_maps([a], bins=40, coverage="point")["depth_table"]
    assert point.groupby(["domain", "technique"])["covered"].sum().max() <= 12
    with pytest.raises(MedmapError, match="'m'"):
        compare_maps([a, build_map(synthetic_scores("m", 30))])
    with pytest.raises(MedmapError):
        compare_maps([])
    with pytest.raises(MedmapError, match="bins"):
        compare_maps([a], bins=0)


def test_import_has_no_torch_and_only_tables_store_and_errors():
    code = ("import sys, medmap.maps; bad = [m for m in sys.modules if m == 'torch' or "
            "(m.startswith('medmap.') and m.split('.')[1] not in ('maps', 'errors', 'options', 'store', 'concepts', "
            "'techniques'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
