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


@pytest.mark.parametrize("multi, recovered, single, expected", [
    (2, True, 0, R), (1, True, 5, R), (1, False, 0, I), (0, False, 3, I), (0, False, 0, N), (0, True, 0, N)])
def test_collapse_verdict(multi, recovered, single, expected):
    assert V.collapse_verdict(multi, recovered, single) == expected


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


@pytest.mark.parametrize("random_domains, beaten", [(0, True), (1, True), (2, False), (5, False), (NAN, None)])
def test_random_init_control(random_domains, beaten):
    assert V.random_init_control(3, random_domains)["beaten"] is beaten


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
        rows += _rows("age", "boundary_17_18.age@p", np.full(L, p))
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
    rows += _rows("progression", "circularity.stage.copd@p", np.full(L, 0.001))
    circ2 = np.r_[np.full(6, 0.1), np.full(6, 0.4)]
    rows += _rows("progression", "circularity.stage.ckd", circ2)
    rows += _rows("progression", "circularity.stage.ckd@null95", np.full(L, 0.5))  # order-shuffled paths do as well
    sp = np.linspace(0.0, 0.3, L)
    rows += _rows("drugs", "silhouette_umap.specialty", sp)
    rows += _rows("drugs", "silhouette_umap.mechanism", sp / 3)
    gap = sp - sp / 3
    rows += _rows("drugs", "silhouette_gap.specialty_minus_mechanism", gap, lo=gap - 0.05, hi=gap + 0.05)
    rows += _rows("drugs", "silhouette_gap.specialty_minus_mechanism@lexical", np.full(L, 0.1))
    rows += _rows("drugs", "silhouette_gap.specialty_minus_mechanism@p", np.full(L, 0.01))
    flag = (np.arange(L) == 5).astype(float)
    for d in ("age", "drugs", "symptoms"):
        rows += _rows(d, "collapse_flag", flag, lo=np.full(L, NAN), hi=np.full(L, NAN))
        rows += _rows(d, "collapse_flag@random_init", (np.arange(L) == 5) * float(d == "age"))
    got = _by_id(findings(pd.DataFrame(rows), "m"))
    assert got["progression_circular.copd"]["verdict"] == R
    ckd = got["progression_circular.ckd"]
    assert ckd["verdict_raw"] == R and ckd["verdict"] == N and ckd["control"][0]["beaten"] is False
    d = got["drugs_specialty_over_mechanism"]
    assert d["verdict_raw"] == R and d["verdict"] == R and d["control"][1]["margin"] == pytest.approx(0.1)
    assert d["control"][0]["name"] == "permutation null" and d["control"][0]["beaten"] is True
    # the gap is no larger than class sizes alone give: the null explains it
    rows = [r for r in rows if r["metric"] != "silhouette_gap.specialty_minus_mechanism@p"]
    rows += _rows("drugs", "silhouette_gap.specialty_minus_mechanism@p", np.full(L, 0.3))
    d = _by_id(findings(pd.DataFrame(rows), "m"))["drugs_specialty_over_mechanism"]
    assert d["verdict_raw"] == R and d["verdict"] == N and d["control"][0]["beaten"] is False
    c = got["activation_collapse"]
    assert c["layer"] == 5 and c["verdict_raw"] == R and c["verdict"] == R
    assert c["control"][0]["value"] == 1 and c["control"][0]["beaten"] is True


def test_collapse_random_init_from_effective_rank_and_reference_left_out():
    flag = (np.arange(L) == 5).astype(float)
    rows = []
    for d in ("age", "drugs"):
        rows += _rows(d, "collapse_flag", flag, lo=np.full(L, NAN), hi=np.full(L, NAN))
        eff = np.full(L, 40.0)
        eff[5] = 10.0  # the random-init model collapses at the same layer
        rows += _rows(d, "effective_rank@random_init", eff)
    rows += _rows("reference", "collapse_flag", (np.arange(L) == 7).astype(float))
    c = _by_id(findings(pd.DataFrame(rows), "m"))["activation_collapse"]
    assert c["control"][0]["value"] == 2 and c["control"][0]["beaten"] is False and c["verdict"] == N
    assert "7" not in c["detail"]  # the reference set is not a medical domain


def test_rules_text_names_every_threshold():
    text = findings(pd.DataFrame(_age()), "m")["rules"]
    for name in ("BOUNDARY_LAYER_FRACTION", "BOUNDARY_P_MAX", "NONLINEAR_MIN_DROP", "CIRCULARITY_THRESHOLD",
                 "COLLAPSE_MIN_DOMAINS", "lexical baseline", "random-init"):
        assert name in text
