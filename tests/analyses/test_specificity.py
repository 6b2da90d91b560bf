"""The specificity control: a domain identical to the reference set has specific curves inside their CI
of zero and a "not specific" lane; a planted extra effect at some layers gives specific intervals there;
the reference set is run once per run; without it the lanes fall back to raw curves, and say so."""

import json

import numpy as np
import pandas as pd
import pytest

from medmap.analyses.specificity import (REFERENCE_DOMAIN, definition, difference_ci, specific_rows,
                                         units_from_json, units_to_json)
from medmap.maps import MapRules, build_map

L = 12


def test_identical_sets_give_zero_inside_the_ci():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, (30, L))
    value, lo, hi = difference_ci(ref.copy(), ref, 200, 0)
    assert np.allclose(value, 0)
    assert (lo <= 0).all() and (hi >= 0).all() and (hi > lo).all()


def test_planted_effect_lies_above_zero_only_where_planted():
    rng = np.random.default_rng(1)
    ref = rng.normal(0, 1, (40, L))
    dom = ref.copy()
    dom[:, 3:6] += 2.0
    value, lo, hi = difference_ci(dom, ref, 200, 0)
    assert (lo[3:6] > 0).all()
    others = np.r_[0:3, 6:L]
    assert np.allclose(value[others], 0) and (lo[others] <= 0).all() and (hi[others] >= 0).all()


def test_bootstrap_resamples_both_sets():
    """A domain with no spread of its own still gets a CI from the reference's spread (and vice versa)."""
    ref = np.random.default_rng(2).normal(0, 1, (25, L))
    dom = np.ones((25, L))
    _, lo, hi = difference_ci(dom, ref, 300, 0)
    assert (hi - lo > 0.3).all()
    _, lo2, hi2 = difference_ci(dom, dom[:1], 300, 0)  # one reference unit: no CI
    assert np.isnan(lo2).all() and np.isnan(hi2).all()


def test_definitions_per_technique():
    sal = {"mean_abs.both": np.array([[1.0, 1.0, 2.0], [2.0, 2.0, 4.0]])}
    share = definition("saliency", "mean_abs.both")[0](sal, "mean_abs.both", sal)
    np.testing.assert_allclose(share, [[0.25, 0.25, 0.5]] * 2)  # twice the gradient, same shares
    les = {"accuracy": np.array([[0.0, 1.0]]), "accuracy_intact": np.array([[1.0, 1.0]])}
    np.testing.assert_allclose(definition("lesion", "accuracy")[0](les, "accuracy", les), [[-1.0, 0.0]])
    lens = {"lens_logprob": np.array([[-9.0, -5.0, -1.0], [-9.0, -9.2, -8.5]])}  # the second rises < 1 nat
    np.testing.assert_allclose(definition("lens", "lens_logprob")[0](lens, "lens_logprob", lens),
                               [[0.0, 0.5, 1.0], [np.nan] * 3])
    # the anchor: the first layer where the reference's median beats a uniform guess (-log V)
    ref = {"lens_logprob": np.array([[-90.0, -9.0, -5.0, -1.0]] * 3), "uniform_logprob": np.full((3, 1), -10.8)}
    np.testing.assert_allclose(definition("lens", "lens_logprob")[0](ref, "lens_logprob", ref),
                               [[np.nan, 0.0, 0.5, 1.0]] * 3)
    drop = {"logprob_drop": np.array([[4.0, 2.0], [1.0, 1.0]]), "answer_tokens": np.array([[2.0], [1.0]])}
    np.testing.assert_allclose(definition("lesion", "logprob_drop")[0](drop, "logprob_drop", drop), [[2.0, 1.0], [1.0, 1.0]])
    assert definition("lesion", "accuracy_intact") is None and definition("geometry", "x") is None


def test_saliency_of_a_domain_with_larger_gradients_everywhere_is_not_specific():
    """Harder answers scale the gradient at every layer: shares, hence the specific curve, do not move."""
    rng = np.random.default_rng(3)
    ref = {"mean_abs.both": rng.uniform(1, 2, (6, L))}
    dom = {"mean_abs.both": ref["mean_abs.both"] * 5}
    rows = specific_rows("saliency", dom, ref, 200, 0)
    assert [r["metric"] for r in rows] == ["mean_abs.both@specific"] * L
    assert all(abs(r["value"]) < 1e-12 and r["ci_low"] <= 0 <= r["ci_high"] for r in rows)


def test_lens_of_harder_answers_rising_alike_is_not_specific_and_an_earlier_rise_is():
    """Planted: every answer's log-probability rises along the same curve over the layers, from the same
    start (the lens of an early layer says nothing yet); a domain of harder answers ends lower. It is not
    read earlier: its specific curve is 0 everywhere (the first definition, x(l) - x(last), put it 5-9
    nats "above" general knowledge at the first layers). A domain whose rise comes earlier is."""
    rng = np.random.default_rng(5)
    layers = np.arange(L)

    def trajectories(end, shift=0.0, n=30):
        s = 1 / (1 + np.exp(-(layers - L / 2 + shift)))
        s = (s - s[0]) / (s[-1] - s[0])
        return -11.0 + (end[:, None] + 11.0) * s[None, :] + rng.normal(scale=0.01, size=(n, L))

    ref = {"lens_logprob": trajectories(rng.uniform(-1.0, -0.2, 30))}
    hard = {"lens_logprob": trajectories(rng.uniform(-6.0, -4.0, 30))}
    rows = specific_rows("lens", hard, ref, 200, 0)
    assert all(abs(r["value"]) < 0.02 for r in rows) and all(r["ci_low"] <= 0.02 for r in rows)
    early = {"lens_logprob": trajectories(rng.uniform(-1.0, -0.2, 30), shift=2.0)}
    mid = specific_rows("lens", early, ref, 200, 0)[L // 2]
    assert mid["ci_low"] > 0.2


def test_lens_anchor_below_a_uniform_guess_does_not_make_a_domain_specific():
    """Planted (gemma3-270m's lens): layer 0 is 70-130 nats below every later layer and below a uniform
    guess, lower for the domain than for the reference; from layer 1 on both rise alike. Anchored at
    layer 0 the domain looked "read earlier" (its layer-1 share is larger); anchored where the lens
    first beats a uniform guess (layer 1) it is not, and layer 0 gets no value."""
    rng = np.random.default_rng(6)
    layers = np.arange(L)
    s = 1 / (1 + np.exp(-(layers - L / 2)))
    s = (s - s[1]) / (s[-1] - s[1])

    def anchored(layer0, n=30):
        end = rng.uniform(-4.0, -0.2, n)
        x = -11.0 + (end[:, None] + 11.0) * s[None, :] + rng.normal(scale=0.01, size=(n, L))
        x[:, 0] = layer0 + rng.normal(scale=5.0, size=n)
        return {"lens_logprob": x, "uniform_logprob": np.full((n, 1), -12.5)}

    ref, dom = anchored(-70.0), anchored(-130.0)
    notes: dict = {}
    rows = specific_rows("lens", dom, ref, 200, 0, notes=notes)
    assert notes == {"lens_logprob anchor_layer": 1} and np.isnan(rows[0]["value"])
    assert all(abs(r["value"]) < 0.02 and r["ci_low"] <= 0.02 for r in rows[1:])
    at_zero = specific_rows("lens", {"lens_logprob": dom["lens_logprob"]}, {"lens_logprob": ref["lens_logprob"]}, 200, 0)
    assert at_zero[1]["ci_low"] > 0.05  # without the floor (anchor at layer 0): the artefact


def test_specific_rows_do_not_depend_on_the_order_of_the_units():
    """A fresh run and a resumed one (units read back from the cache) hold the metrics in other orders."""
    rng = np.random.default_rng(4)
    units = {m: rng.normal(size=(5, L)) for m in ("logprob_drop", "kl", "accuracy", "accuracy_intact")}
    reversed_units = dict(reversed(list(units.items())))
    a = specific_rows("lesion", units, units, 50, 0)
    b = specific_rows("lesion", reversed_units, reversed_units, 50, 0)
    assert a == b and {r["metric"] for r in a} == {"logprob_drop@specific", "kl@specific", "accuracy@specific"}


def test_units_round_trip_through_json_with_nan():
    u = {"kl": np.array([[0.1, np.nan], [0.3, 0.4]])}
    back = units_from_json(json.loads(json.dumps(units_to_json(u)).replace("NaN", "null")))
    np.testing.assert_array_equal(back["kl"], u["kl"])


# ---- the map's lanes from planted curves -----------------------------------------------------------

def _rows(domain, technique, metric, value, lo, hi):
    return [{"model": "m", "n_layers": L, "domain": domain, "technique": technique, "metric": metric, "layer": k,
             "value": value[k], "ci_low": lo[k], "ci_high": hi[k]} for k in range(L)]


def _planted_scores():
    raw = np.r_[3.0, 2.5, np.full(L - 2, 0.2)]  # lesions of the first layers break everything
    raw[7:9] = 0.8
    rows = []
    for d in ("age", "drugs", REFERENCE_DOMAIN):
        rows += _rows(d, "lesion", "logprob_drop", raw, raw - 0.1, raw + 0.1)
    zero = np.zeros(L)
    rows += _rows("age", "lesion", "logprob_drop@specific", zero, zero - 0.2, zero + 0.2)  # identical to reference
    spec = np.zeros(L)
    spec[7:9] = 0.6
    rows += _rows("drugs", "lesion", "logprob_drop@specific", spec, spec - 0.2, spec + 0.2)
    return pd.DataFrame(rows)


def test_map_lanes_from_specific_curves():
    km = build_map(_planted_scores())
    lanes = {(x["domain"], x["technique"]): x for x in km.lanes}
    assert set(lanes) == {("age", "lesion"), ("drugs", "lesion")}  # the reference set is not a lane
    assert lanes[("age", "lesion")]["status"] == "not specific" and lanes[("age", "lesion")]["curve"] == "specific"
    assert lanes[("drugs", "lesion")]["status"] == "mapped"
    (iv,) = km.intervals  # the generic early layers are gone; the planted ones remain (widened by smoothing)
    assert iv["domain"] == "drugs" and 6 <= iv["start"] <= 7 and 8 <= iv["end"] <= 9
    assert set(km.table.metric) == {"logprob_drop@specific"}
    assert not km.table[km.table.domain == "age"].in_interval.any()
    assert km.to_json_dict()["lanes"] == km.lanes


def test_raw_rule_and_missing_specific_rows():
    raw_map = build_map(_planted_scores(), MapRules(causal_curve="raw"))
    assert {(i["domain"], i["start"]) for i in raw_map.intervals} >= {("age", 0), ("drugs", 0)}
    assert all(x["curve"] == "raw" and "causal_curve" in x["reason"] for x in raw_map.lanes)
    s = _planted_scores()
    s = s[~s.metric.str.endswith("@specific")]
    km = build_map(s)
    assert all(x["curve"] == "raw" and x["status"] == "mapped" and "reference set not run" in x["reason"]
               for x in km.lanes)
    with pytest.raises(Exception, match="causal_curve"):
        MapRules(causal_curve="both")


def test_lanes_survive_save_and_load(tmp_path):
    from medmap.maps import load_map

    km = build_map(_planted_scores())
    km.save(tmp_path)
    back = load_map(tmp_path)
    assert back.lanes == km.lanes and back.equals(km)


# ---- the reference set through the runner, on a tiny model -----------------------------------------

FACTS = [("The capital of France is", " Paris", "capitals"), ("The capital of Italy is", " Rome", "capitals"),
         ("A kilometre has a thousand", " metres", "units"), ("An hour has sixty", " minutes", "units"),
         ("A cow says", " moo", "animals"), ("A dog says", " woof", "animals"),
         ("Two plus two is", " four", "arithmetic"), ("Three plus three is", " six", "arithmetic")]


def _set(domain):
    from medmap.concepts.schema import ConceptItem, PatchPair
    from medmap.concepts.sets import ConceptSet

    def pair(k):  # each fact paired with its neighbour of the same category, both ways
        j = k ^ 1
        return PatchPair(corrupted_prompt=FACTS[j][0], clean_answer=FACTS[k][1], corrupted_answer=FACTS[j][1])

    items = tuple(ConceptItem(id=f"{domain}-{k}", domain=domain, prompt=p, labels={"category": c}, answer=a,
                              pair=pair(k)) for k, (p, a, c) in enumerate(FACTS))
    return ConceptSet(domain, items, "test")


def test_a_domain_identical_to_the_reference_is_not_specific(tiny_llama, tmp_path, monkeypatch):
    from medmap.analyses import runner
    from medmap.analyses.runner import AnalyzeOptions, analyze
    from medmap.analyses.causal import CausalOptions

    calls = []
    real = runner.run_technique
    monkeypatch.setattr(runner, "run_technique", lambda lm, cs, t, *a, **k: calls.append((cs.domain, t)) or
                        real(lm, cs, t, *a, **k))
    # min_gap below any gap: a random-weight model barely tells the answers apart; the pairs it prefers
    # the wrong way round are still left out (LD_clean <= 0), alike in every set
    opts = AnalyzeOptions(causal=CausalOptions(n_boot=100, saliency_group=2, min_gap=-1e9))
    sets = [_set("twin"), _set("other"), _set(REFERENCE_DOMAIN)]
    scores = analyze(tiny_llama, sets, ["saliency", "lesion", "patching", "lens"], tmp_path, opts)
    assert sorted(c for c in calls if c[0] == REFERENCE_DOMAIN) == [(REFERENCE_DOMAIN, t) for t in
                                                                    ("lens", "lesion", "patching", "saliency")]
    spec = scores[scores.metric.str.endswith("@specific")]
    assert set(spec.domain) == {"twin", "other"}
    assert {"mean_abs.both@specific", "logprob_drop@specific", "kl@specific", "accuracy@specific",
            "recovery@specific", "lens_logprob@specific"} <= set(spec.metric)
    undefined = spec.value.isna()  # the lens of items whose answer does not rise by 1 nat (random weights)
    assert set(spec[undefined].metric) <= {"lens_logprob@specific"}
    spec = spec[~undefined]
    assert (spec.value.abs() < 1e-9).all()
    assert ((spec.ci_low <= 1e-12) & (spec.ci_high >= -1e-12)).all()
    km = build_map(scores)
    lanes = [x for x in km.lanes if x["technique"] != "geometry"]
    assert len(lanes) == 8 and all(x["status"] == "not specific" for x in lanes)
    assert not km.intervals
    doc = json.loads((tmp_path / "specificity.json").read_text())
    assert doc["reference"]["status"] == "ran" and doc["reference"]["n_items"] == len(FACTS)
    anchors = {(n["domain"], n["what"]) for n in doc["notes"]}  # the lens's anchor layer, said per domain
    assert anchors == {("twin", "lens_logprob anchor_layer"), ("other", "lens_logprob anchor_layer")}


def test_lesion_specificity_is_per_answer_token(tiny_llama):
    """Two answers of different length: the per-item lengths line up with the sampled items."""
    from medmap.analyses.causal import CausalOptions, answer_lengths
    from medmap.capture.scoring import answer_tokens

    cs = _set("twin")
    n = answer_lengths(tiny_llama, cs, CausalOptions(max_items=5, seed=3))
    assert n.shape == (5, 1) and (n >= 1).all()
    from medmap.analyses.causal import sample

    want = [len(t) for t in answer_tokens(tiny_llama.tokenizer, [it.answer for it in sample(cs.answered, 5, 3)])]
    assert n[:, 0].tolist() == want


def test_without_a_reference_set_the_run_says_so(tiny_llama, tmp_path, monkeypatch):
    import medmap.concepts
    from medmap.analyses.runner import AnalyzeOptions, analyze
    from medmap.analyses.causal import CausalOptions
    from medmap.errors import ConceptError

    def missing(domain):
        raise ConceptError(f"the built-in '{domain}' concept set is not shipped in this version of medmap")

    monkeypatch.setattr(medmap.concepts, "load_builtin", missing)
    notes = []
    opts = AnalyzeOptions(causal=CausalOptions(n_boot=20))
    scores = analyze(tiny_llama, [_set("twin")], ["lens"], tmp_path, opts, note=notes.append)
    assert not scores.metric.str.endswith("@specific").any()
    assert notes and "raw curves" in notes[0]
    doc = json.loads((tmp_path / "specificity.json").read_text())
    assert doc["reference"]["status"] == "unavailable" and "raw curves" in doc["reference"]["note"]
    lane = build_map(scores).lanes[0]
    assert lane["curve"] == "raw" and "reference set not run" in lane["reason"]
    off = analyze(tiny_llama, [_set("twin"), _set(REFERENCE_DOMAIN)], ["lens"], tmp_path / "off",
                  AnalyzeOptions(causal=CausalOptions(n_boot=20), reference=False))
    assert not off.metric.str.endswith("@specific").any()
    assert json.loads((tmp_path / "off" / "specificity.json").read_text())["reference"]["status"] == "off"


def test_a_run_folder_may_hold_reference_rows_beside_its_concept_sets():
    """The reference set is run without being one of the run's concept sets: reading the run back accepts
    its rows (and still refuses domains that are neither)."""
    from medmap.report.data import run_domains

    domains = run_domains({"concept_sets": {"age": {}, "drugs": {}}})
    assert domains[:2] == ("age", "drugs") and REFERENCE_DOMAIN in domains and "symptoms" not in domains
    assert run_domains({}) is None
