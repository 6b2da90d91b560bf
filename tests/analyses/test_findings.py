"""The findings' verdict rules, table-driven (boundaries included), and the findings read from planted
score tables with and without their controls."""

import math

import numpy as np
import pandas as pd
import pytest

from medmap.analyses import verdicts as V
from medmap.analyses.findings import findings

R, N, I = V.REPRODUCED, V.NOT_REPRODUCED, V.INCONCLUSIVE
NAN = float("nan")


@pytest.mark.parametrize("n17, n_layers, expected", [
    (0, 30, N), (1, 30, I), (7, 30, I), (8, 30, R), (30, 30, R),   # a quarter of 30 is 7.5
    (1, 4, R), (0, 4, N), (1, 1, R), (3, 12, R), (2, 12, I),
])
def test_boundary_verdict(n17, n_layers, expected):
    assert V.boundary_verdict(n17, n_layers) == expected


@pytest.mark.parametrize("n_circ, n_layers, expected", [(0, 18, N), (1, 18, I), (4, 18, I), (5, 18, R), (18, 18, R)])
def test_circular_verdict(n_circ, n_layers, expected):
    assert V.circular_verdict(n_circ, n_layers) == expected


@pytest.mark.parametrize("value, circular", [(0.25, False), (0.2500001, True), (0.9, True), (NAN, False), (None, False)])
def test_is_circular_threshold(value, circular):
    assert V.is_circular(value) is circular


@pytest.mark.parametrize("best, best_lo, worst, worst_hi, expected", [
    (0.95, 0.90, 0.60, 0.70, R),      # CIs apart
    (0.95, 0.90, 0.60, 0.90, I),      # touching CIs (not strictly below), drop 0.35 > 0.1
    (0.95, 0.90, 0.60, NAN, I),       # no CI, drop > 0.1
    (0.95, 0.90, 0.85, 0.92, N),      # drop exactly 0.1 is not more than 0.1
    (0.95, 0.90, 0.86, 0.92, N),
    (0.95, NAN, 0.84, NAN, I),
    (NAN, NAN, NAN, NAN, N),
])
def test_nonlinear_verdict(best, best_lo, worst, worst_hi, expected):
    assert V.nonlinear_verdict(best, best_lo, worst, worst_hi) == expected


@pytest.mark.parametrize("lo, hi, expected", [
    (0.01, 0.2, R), (0.0, 0.2, I), (-0.1, 0.1, I), (-0.2, -0.01, N), (-0.2, 0.0, I), (NAN, NAN, I), (NAN, -0.1, N)])
def test_gap_verdict(lo, hi, expected):
    assert V.gap_verdict(lo, hi) == expected


@pytest.mark.parametrize("mid, multi, recovered, single, expected", [
    (2, 2, True, 0, R), (1, 3, True, 5, R),
    (1, 1, False, 0, I),     # no recovery
    (0, 2, True, 0, I),      # collapsed, but only outside intermediate depth
    (0, 0, False, 3, I), (0, 0, False, 0, N), (0, 0, True, 0, N)])
def test_collapse_verdict(mid, multi, recovered, single, expected):
    assert V.collapse_verdict(mid, multi, recovered, single) == expected


@pytest.mark.parametrize("layer, n_layers, intermediate", [
    (3, 12, True), (2, 12, False), (9, 12, True), (10, 12, False), (7, 30, False), (8, 30, True), (22, 30, True),
    (23, 30, False)])
def test_intermediate_depth(layer, n_layers, intermediate):
    assert V.is_intermediate(layer, n_layers) is intermediate


@pytest.mark.parametrize("n_collapsed, n_not_surviving, beaten", [
    (3, 0, True), (3, 2, True), (3, 3, False), (0, 0, None), (3, NAN, None)])
def test_readings_control(n_collapsed, n_not_surviving, beaten):
    c = V.readings_control(n_collapsed, n_not_surviving)
    assert c["name"] == V.READINGS and c["beaten"] is beaten


@pytest.mark.parametrize("observed, null95, p, p_max, beaten", [
    (1.0, 0.5, 0.009, 0.01, True),
    (1.0, 0.5, 0.01, 0.01, False),     # p must be strictly below
    (1.0, 0.5, 0.02, 0.01, False),
    (1.0, 0.5, NAN, 0.01, None),       # null95 alone cannot judge p < 0.01
    (1.0, 0.5, NAN, 0.05, True),       # ... but can judge p < 0.05
    (0.5, 0.5, NAN, 0.05, False),
    (1.0, NAN, NAN, 0.05, None),       # the control did not run
    (0.1, 0.5, 0.001, 0.05, True),     # the p-value wins over null95 when both are there
])
def test_null_control(observed, null95, p, p_max, beaten):
    c = V.null_control(observed, null95, p, p_max)
    assert c["name"] == V.PERMUTATION_NULL and c["beaten"] is beaten
    if V.finite(null95):
        assert math.isclose(c["margin"], observed - null95)
    else:
        assert c["margin"] is None and c["value"] is None


@pytest.mark.parametrize("observed, lo, lexical, beaten", [
    (0.2, 0.05, 0.04, True), (0.2, 0.05, 0.05, False), (0.2, 0.05, 0.1, False),
    (0.2, NAN, 0.1, True),  # without a CI, the value itself
    (0.2, NAN, 0.2, False), (0.2, 0.05, NAN, None), (NAN, NAN, 0.1, False)])
def test_lexical_control(observed, lo, lexical, beaten):
    c = V.lexical_control(observed, lo, lexical)
    assert c["name"] == V.LEXICAL_BASELINE and c["beaten"] is beaten


@pytest.mark.parametrize("n_random, beaten", [(0, True), (2, True), (3, False), (NAN, None)])
def test_random_init_control(n_random, beaten):
    assert V.random_init_control(0, 0)["beaten"] is None  # nothing survived to test
    c = V.random_init_control(3, n_random)
    assert c["beaten"] is beaten
    if beaten is not None:
        assert c["margin"] == 3 - n_random and (c["margin"] > 0) == beaten  # margin and beaten agree


def _c(beaten):
    return {"name": "x", "beaten": beaten}


@pytest.mark.parametrize("raw, controls, expected", [
    (R, [_c(True)], R), (R, [_c(True), _c(True)], R),
    (R, [_c(True), _c(False)], N), (R, [_c(None)], I), (R, [_c(True), _c(None)], I), (R, [], I),
    (R, [_c(None), _c(False)], N),
    (I, [_c(True)], I), (I, [_c(False)], N), (I, [_c(None)], I),
    (N, [_c(True)], N), (N, [_c(None)], N), (N, [], N),
])
def test_controlled_verdict(raw, controls, expected):
    assert V.controlled_verdict(raw, controls) == expected


# ---- findings read from planted score tables ------------------------------------------------------

L = 12


def _rows(domain, metric, values, lo=None, hi=None):
    values = np.asarray(values, dtype=float)
    lo = values - 0.01 if lo is None else np.asarray(lo, dtype=float)
    hi = values + 0.01 if hi is None else np.asarray(hi, dtype=float)
    return [{"model": "m", "n_layers": L, "domain": domain, "technique": "geometry", "metric": metric,
             "layer": k, "value": values[k], "ci_low": lo[k], "ci_high": hi[k]} for k in range(len(values))]


def _age(strength17=3.0, with_controls=True, p=0.001, lexical=1.0):
    rows = _rows("age", "boundary_at.age", [17] * 6 + [40] * 6)
    strength = np.full(L, 1.0)
    strength[4] = strength17
    rows += _rows("age", "boundary_17_18.age", strength, lo=np.full(L, NAN), hi=np.full(L, NAN))
    r2 = np.array([0.9, 0.95, 0.9, 0.6, 0.5, 0.55, 0.6, 0.8, 0.9, 0.95, 0.97, 0.98])
    rows += _rows("age", "r2_umap.age", r2, lo=r2 - 0.03, hi=r2 + 0.03)
    if with_controls:
        rows += _rows("age", "boundary_17_18.age@p", np.full(L, p / 2))
        rows += _rows("age", "boundary_17_18.age@p_layers", np.full(L, p))  # the best layer is picked
        rows += _rows("age", "boundary_17_18.age@null95", np.full(L, 1.5))
        rows += _rows("age", "boundary_17_18.age@lexical", np.full(L, lexical))
        rows += _rows("age", "r2_umap.age@null95", np.full(L, 0.05))
        rows += _rows("age", "r2_umap.age@p", np.full(L, 0.001))
    return rows


def _by_id(doc):
    return {f["id"]: f for f in doc["findings"]}


def test_findings_with_controls_beaten_are_reproduced():
    got = _by_id(findings(pd.DataFrame(_age()), "m"))
    b = got["age_boundary_17_18"]
    assert b["verdict_raw"] == R and b["verdict"] == R and b["layer"] == 4
    names = [c["name"] for c in b["control"]]
    assert names == [V.PERMUTATION_NULL, V.LEXICAL_BASELINE]
    assert b["control"][0]["p"] == pytest.approx(0.001) and b["control"][0]["margin"] == pytest.approx(1.5)
    assert b["control"][1]["margin"] == pytest.approx(2.0) and all(c["beaten"] for c in b["control"])
    nl = got["age_nonlinear"]
    assert nl["verdict_raw"] == R and nl["verdict"] == R and nl["layer"] == 4


def test_findings_without_controls_are_at_most_inconclusive():
    got = _by_id(findings(pd.DataFrame(_age(with_controls=False)), "m"))
    for f in got.values():
        assert f["verdict_raw"] == R and f["verdict"] == I
        assert f["control"] and all(c["beaten"] is None for c in f["control"])


def test_a_layer_picked_as_the_best_is_judged_over_the_layers():
    # p < 0.01 at the layer itself, but not once the choice of the best of 12 layers is paid for
    rows = [r for r in _age() if r["metric"] != "boundary_17_18.age@p_layers"]
    b = _by_id(findings(pd.DataFrame(rows), "m"))["age_boundary_17_18"]
    assert b["control"][0]["beaten"] is None and b["verdict"] == I  # no family-wise rows: not judged
    rows += _rows("age", "boundary_17_18.age@p_layers", np.full(L, 0.04))
    b = _by_id(findings(pd.DataFrame(rows), "m"))["age_boundary_17_18"]
    assert b["control"][0]["over_layers"] is True and b["control"][0]["beaten"] is False and b["verdict"] == N
    assert "best layer" in b["control"][0]["rule"]


def test_a_control_not_beaten_makes_not_reproduced():
    got = _by_id(findings(pd.DataFrame(_age(p=0.2)), "m"))
    assert got["age_boundary_17_18"]["verdict_raw"] == R and got["age_boundary_17_18"]["verdict"] == N
    got = _by_id(findings(pd.DataFrame(_age(lexical=3.5)), "m"))  # the lexical baseline has a bigger step
    b = got["age_boundary_17_18"]
    assert b["verdict"] == N and b["control"][1]["beaten"] is False and b["control"][1]["margin"] < 0


def test_progression_drugs_and_collapse_controls():
    circ = np.r_[np.full(6, 0.1), np.full(6, 0.6)]
    rows = _rows("progression", "circularity.stage.copd", circ)
    rows += _rows("progression", "circularity.stage.copd@null95", np.full(L, 0.3))
    rows += _rows("progression", "circularity.stage.copd@p_layers", np.full(L, 0.001))
    circ2 = np.r_[np.full(6, 0.1), np.full(6, 0.4)]
    rows += _rows("progression", "circularity.stage.ckd", circ2)
    rows += _rows("progression", "circularity.stage.ckd@null95", np.full(L, 0.5))  # order-shuffled paths do as well
    rows += _rows("progression", "circularity.stage.ckd@p_layers", np.full(L, 0.4))
    sp = np.linspace(0.0, 0.3, L)
    rows += _rows("drugs", "silhouette_umap.specialty", sp)
    rows += _rows("drugs", "silhouette_umap.mechanism", sp / 3)
    gap = sp - sp / 3
    rows += _rows("drugs", "silhouette_gap.specialty_minus_mechanism", gap, lo=gap - 0.05, hi=gap + 0.05)
    rows += _rows("drugs", "silhouette_gap.specialty_minus_mechanism@lexical", np.full(L, 0.1))
    rows += _rows("drugs", "silhouette_gap.specialty_minus_mechanism@p_layers", np.full(L, 0.01))
    got = _by_id(findings(pd.DataFrame(rows), "m"))
    assert got["progression_circular.copd"]["verdict"] == R
    ckd = got["progression_circular.ckd"]
    assert ckd["verdict_raw"] == R and ckd["verdict"] == N and ckd["control"][0]["beaten"] is False
    d = got["drugs_specialty_over_mechanism"]
    assert d["verdict_raw"] == R and d["verdict"] == R and d["control"][1]["margin"] == pytest.approx(0.1)
    assert d["control"][0]["name"] == "permutation null" and d["control"][0]["beaten"] is True
    # the gap is no larger than class sizes alone give: the null explains it
    rows = [r for r in rows if r["metric"] != "silhouette_gap.specialty_minus_mechanism@p_layers"]
    rows += _rows("drugs", "silhouette_gap.specialty_minus_mechanism@p_layers", np.full(L, 0.3))
    d = _by_id(findings(pd.DataFrame(rows), "m"))["drugs_specialty_over_mechanism"]
    assert d["verdict_raw"] == R and d["verdict"] == N and d["control"][0]["beaten"] is False


def _rank(low):
    """An effective-rank curve of L layers, 40 everywhere and 5 (collapsed) at ``low``."""
    eff = np.full(L, 40.0)
    eff[list(low)] = 5.0
    return eff


def _collapse(domains=("age", "drugs", "symptoms"), low=(4, 5, 6), readings=(4, 5, 6), random=None):
    rows = []
    for d in domains:
        rows += _rows(d, "effective_rank", _rank(low))
        rows += _rows(d, "effective_rank@standardized", _rank(readings))
        rows += _rows(d, "effective_rank@notop3", _rank(readings))
        if random is not None:
            rows += _rows(d, "effective_rank@random_init", _rank(random))
    return rows


def test_collapse_planted_range_beats_readings_and_random_init():
    c = _by_id(findings(pd.DataFrame(_collapse(random=())), "m"))["activation_collapse"]
    assert c["verdict_raw"] == R and c["verdict"] == R and c["value"] == 3 and c["layer"] == 4
    assert [x["name"] for x in c["control"]] == [V.READINGS, V.RANDOM_INIT]
    assert all(x["beaten"] for x in c["control"]) and "4-6" in c["detail"]
    # without the random-init model: capped at inconclusive
    c = _by_id(findings(pd.DataFrame(_collapse()), "m"))["activation_collapse"]
    assert c["verdict_raw"] == R and c["verdict"] == I and c["control"][1]["beaten"] is None


def test_collapse_carried_by_a_few_coordinates_is_not_reproduced():
    # planted: the rank drops at 4-6, but not once the huge coordinates are standardized or removed
    c = _by_id(findings(pd.DataFrame(_collapse(readings=(), random=())), "m"))["activation_collapse"]
    assert c["verdict_raw"] == R and c["verdict"] == N
    assert c["control"][0]["beaten"] is False and c["control"][0]["value"] == 3


def test_collapse_that_the_random_init_model_shows_too_is_not_reproduced():
    c = _by_id(findings(pd.DataFrame(_collapse(random=(4, 5, 6, 7))), "m"))["activation_collapse"]
    assert c["verdict_raw"] == R and c["verdict"] == N and c["control"][1]["value"] == 3
    assert c["control"][1]["beaten"] is False


def test_collapse_at_the_first_layers_or_in_one_domain_is_not_the_paper_finding():
    # layers 0-1 (depth < 25%) in three domains: collapsed, but not intermediate
    c = _by_id(findings(pd.DataFrame(_collapse(low=(0, 1), readings=(0, 1), random=())), "m"))["activation_collapse"]
    assert c["verdict_raw"] == I and c["verdict"] == I and c["value"] == 0
    # one domain alone: inconclusive; no range anywhere: not reproduced
    c = _by_id(findings(pd.DataFrame(_collapse(domains=("age",), random=())), "m"))["activation_collapse"]
    assert c["verdict_raw"] == I and "only single domains" in c["detail"]
    c = _by_id(findings(pd.DataFrame(_collapse(low=(), readings=(), random=())), "m"))["activation_collapse"]
    assert c["verdict_raw"] == N and c["verdict"] == N
    # a collapse that lasts to the last layer does not recover
    c = _by_id(findings(pd.DataFrame(_collapse(low=range(4, L), readings=range(4, L), random=())), "m"))
    c = c["activation_collapse"]
    assert c["verdict_raw"] == I and "does not recover" in c["detail"]


def test_collapse_leaves_the_reference_set_out():
    rows = _collapse(domains=("age",), random=()) + _collapse(domains=("reference",), random=())
    c = _by_id(findings(pd.DataFrame(rows), "m"))["activation_collapse"]
    assert c["verdict_raw"] == I and "only single domains" in c["detail"]  # the reference set is not medical


def test_rules_text_names_every_threshold():
    text = findings(pd.DataFrame(_age()), "m")["rules"]
    for name in ("BOUNDARY_LAYER_FRACTION", "BOUNDARY_P_MAX", "NONLINEAR_MIN_DROP", "CIRCULARITY_THRESHOLD",
                 "COLLAPSE_MIN_DOMAINS", "COLLAPSE_RATIO", "COLLAPSE_MIN_RUN", "INTERMEDIATE_DEPTH",
                 "lexical baseline", "random-init", "massive-activation readings"):
        assert name in text
