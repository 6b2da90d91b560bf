"""Controls of the geometry metrics: fast paths against their oracles, the permutation design, p-values,
planted cases (a structure planted must be found, an absent one must not be), collapse readings."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.metrics import silhouette_score

from medmap.analyses import geometry_metrics as gm
from medmap.analyses import permutation as pm
from medmap.analyses.collapse import collapse_measures, collapse_ranges
from medmap.analyses.controls import GeometryPlan, build_plan, lexical_rows
from medmap.analyses.geometry import GeometryOptions, _sil_ci, assemble, layer_metrics
from medmap.concepts import ConceptSet
from medmap.concepts.domains import DomainSpec, LabelSpec
from medmap.concepts.schema import ConceptItem

FAST = dict(n_epochs=30, n_boot=5, workers=1, per_template=False)


# ---- fast paths against their oracles --------------------------------------------------------------

@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_silhouette_many_equals_sklearn(metric):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(70, 6))
    D = cdist(X, X, metric=metric)
    np.fill_diagonal(D, 0)
    Y = np.stack([rng.integers(0, 5, 70) for _ in range(40)])
    Y[0] = np.r_[np.zeros(69, int), 1]  # a class with a single member
    Y[1] = 0  # one class only: NaN
    got = pm.silhouette_many(D, Y)
    assert np.isnan(got[1])
    for y, g in zip(Y[2:], got[2:]):
        assert abs(g - silhouette_score(D, y, metric="precomputed")) < 1e-10
    assert abs(got[0] - silhouette_score(D, Y[0], metric="precomputed")) < 1e-10


def _resample_silhouette(D, y, w):
    """Oracle, one item at a time: the silhouette of a resample with multiplicities ``w``, an item's own
    copies left out of its class (they are no other member of it)."""
    s, total = 0.0, 0.0
    for i in np.nonzero(w)[0]:
        same = [j for j in range(len(y)) if y[j] == y[i] and j != i and w[j] > 0]
        if not same:
            total += w[i]
            continue
        a = sum(w[j] * D[i, j] for j in same) / sum(w[j] for j in same)
        b = min(sum(w[j] * D[i, j] for j in range(len(y)) if y[j] == k and w[j] > 0)
                / sum(w[j] for j in range(len(y)) if y[j] == k and w[j] > 0)
                for k in set(y[w > 0]) - {y[i]})
        s += w[i] * (b - a) / max(a, b)
        total += w[i]
    return s / total


def test_weighted_silhouette_equals_the_resample_oracle():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 4))
    D = cdist(X, X)
    y = rng.integers(0, 3, 50)
    idx = [rng.integers(0, 50, 50) for _ in range(10)]
    W = np.stack([np.bincount(i, minlength=50) for i in idx])
    got = pm.silhouette_many(D, np.tile(y, (10, 1)), W)
    for w, g in zip(W, got):
        assert abs(g - _resample_silhouette(D, y, w)) < 1e-10
    # weights of one are the plain silhouette
    assert abs(pm.silhouette_many(D, y[None], np.ones((1, 50)))[0] - silhouette_score(D, y, metric="precomputed")) < 1e-10


def test_half_samples_keep_whole_concepts_and_equal_the_subset_silhouette():
    rng = np.random.default_rng(1)
    units = np.repeat(np.arange(15), 3)
    W = pm.half_samples(units, 20, 0)
    assert W.shape == (20, 45) and set(np.unique(W)) <= {0.0, 1.0}
    assert np.all(W.reshape(20, 15, 3).std(-1) == 0) and np.all(W.sum(1) == 7 * 3)  # whole concepts, 7 of 15
    assert np.array_equal(W, pm.half_samples(units, 20, 0)) and not np.array_equal(W, pm.half_samples(units, 20, 1))
    X = rng.normal(size=(45, 4))
    D = cdist(X, X)
    y = rng.integers(0, 3, 45)
    for w, g in zip(W, pm.silhouette_many(D, np.tile(y, (20, 1)), W)):
        keep = w > 0
        assert abs(g - silhouette_score(D[np.ix_(keep, keep)], y[keep], metric="precomputed")) < 1e-10


def test_silhouette_ci_is_centred_on_its_estimate_and_as_wide_as_the_sampling_spread():
    """Oracle: new samples of 60 concepts (3 paraphrases each) from one population; the spread of the
    estimates across samples is what the interval of one sample must estimate (the half-sample standard
    error is somewhat conservative: measured 1.1-1.4 times the true spread)."""
    centres = np.random.default_rng(0).normal(size=(4, 6)) * 1.5
    estimates, halfwidths = [], []
    o = GeometryOptions(n_boot=60)
    for seed in range(24):
        rng = np.random.default_rng(seed + 1)
        y_c = rng.integers(0, 4, 60)
        X = np.repeat(centres[y_c] + rng.normal(size=(60, 6)), 3, 0) + 0.3 * rng.normal(size=(180, 6))
        y, units = np.repeat(y_c, 3), np.repeat(np.arange(60), 3)
        v, lo, hi = _sil_ci(cdist(X, X), y, units, o, seed)
        assert abs((lo + hi) / 2 - v) < 1e-12 and lo < v < hi
        estimates.append(v)
        halfwidths.append((hi - lo) / 2)
    true_se, se = np.std(estimates), np.mean(halfwidths) / 1.959964
    assert 0.8 * true_se < se < 2.0 * true_se


def _contrast(X, a, b, n_perm=100, n_boot=30):
    """Metrics of one layer of a set with two categorical labelings a, b (per concept; 3 paraphrases
    each) and the contrast a - b."""
    rows = [{"labels": {"a": f"a{a[c]}", "b": f"b{b[c]}"}, "concept": f"c{c}", "template": t}
            for c in range(len(a)) for t in ("neutral", "neutral2", "neutral3")]
    spec = DomainSpec("two", (LabelSpec("a", "categorical"), LabelSpec("b", "categorical")), primary="a",
                      contrasts=(("a", "b"),))
    cs = ConceptSet("two", _items("two", rows), "test", spec=spec)
    o = GeometryOptions(**{**FAST, "n_boot": n_boot, "n_perm": n_perm, "probes": False})
    out, _ = layer_metrics(X, spec, {"a": cs.label_values("a"), "b": cs.label_values("b")}, o, 0, build_plan(cs, o))
    return {r["metric"]: r for r in out}


def test_silhouette_gap_from_class_sizes_alone_is_inside_its_null_and_a_planted_gap_outside():
    """Labels a (4 classes) and b (12 small classes) on 48 concepts with no structure: the gap a - b is
    positive from class sizes alone (a minimum over more, smaller classes is lower), so a rule "CI above
    0" would call it; its null (the gap of the two labelings' nulls) keeps the class sizes and holds it."""
    gaps, hits = [], 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        a, b = rng.permutation(np.arange(48) % 4), rng.permutation(np.arange(48) % 12)
        X = np.repeat(rng.normal(size=(48, 8)), 3, 0) + 0.3 * rng.normal(size=(144, 8))
        m = _contrast(X, a, b)
        gaps.append(m["silhouette_gap.a_minus_b"]["value"])
        hits += m["silhouette_gap.a_minus_b@p"]["value"] < 0.05
    assert np.mean(gaps) > 0.02 and hits <= 1
    rng = np.random.default_rng(9)
    a, b = rng.permutation(np.arange(48) % 4), rng.permutation(np.arange(48) % 12)
    X = np.repeat(rng.normal(size=(48, 8)) + 2.5 * np.eye(4, 8)[a], 3, 0) + 0.3 * rng.normal(size=(144, 8))
    m = _contrast(X, a, b)
    g = m["silhouette_gap.a_minus_b"]
    assert m["silhouette_gap.a_minus_b@p"]["value"] < 0.05 and g["value"] > m["silhouette_gap.a_minus_b@null95"]["value"]
    assert g["ci_low"] > 0


def test_knn_many_equals_knn_accuracy():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3))
    nb = NearestNeighbors(n_neighbors=6).fit(X).kneighbors(X)[1]
    Y = np.stack([rng.integers(0, 4, 60) for _ in range(20)])
    got = pm.knn_many(nb, Y)
    assert np.allclose(got, [gm.knn_accuracy(X, y, 5) for y in Y])


def test_multioutput_r2_equals_per_permutation_loop():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(80, 7))
    t = X[:, 0] * 2 + rng.normal(size=80)
    T = np.stack([rng.permutation(t) for _ in range(30)] + [t])
    got = pm.r2_many(X, T, seed=3)
    assert np.allclose(got, [gm.r2_linear(X, row, seed=3) for row in T], atol=1e-10)


def test_age_strengths_many_equals_age_steps():
    rng = np.random.default_rng(5)
    ages = np.repeat(np.arange(30), 2)
    X = rng.normal(size=(60, 8)) + (ages >= 18)[:, None] * 3
    T = np.stack([ages] + [rng.permutation(ages) for _ in range(12)])
    a, S = pm.age_strengths_many(X, T)
    for row, s in zip(T, S):
        a_ref, _, s_ref = gm.age_steps(X, row)
        assert np.array_equal(a, a_ref)
        assert np.allclose(s, s_ref, equal_nan=True)


def test_stage_paths_many_equals_stage_path():
    rng = np.random.default_rng(6)
    stages = np.repeat(np.arange(8), 3)
    X = rng.normal(size=(24, 5))
    S = np.stack([stages] + [rng.permutation(stages) for _ in range(15)])
    rho, circ = pm.stage_paths_many(X, S)
    for row, r, c in zip(S, rho, circ):
        r_ref, c_ref, _ = gm.stage_path(X, row)
        assert abs(r - r_ref) < 1e-10 and abs(c - c_ref) < 1e-10


def test_stage_bootstrap_resamples_within_stages():
    rng = np.random.default_rng(7)
    stages = np.repeat(np.arange(5), 3)
    X = rng.normal(size=(15, 4))
    idx = pm.stage_resamples(stages, 6, np.random.default_rng(0))
    assert all(np.array_equal(np.sort(stages[i]), np.sort(stages)) for i in idx)  # each stage keeps its size
    rho, circ = pm.stage_paths_boot(X, stages, idx)
    for i, r, c in zip(idx, rho, circ):
        r_ref, c_ref, _ = gm.stage_path(X[i], stages[i])
        assert abs(r - r_ref) < 1e-10 and abs(c - c_ref) < 1e-10
    assert pm.stage_resamples(np.arange(5), 6, rng) is None  # one item per stage: nothing to resample


def test_p_value_and_null95():
    null = np.array([0.1, 0.2, 0.3, 0.5, np.nan])
    assert pm.p_value(0.3, null) == (1 + 2) / (1 + 4)
    assert pm.p_value(0.9, null) == 1 / 5
    assert np.isnan(pm.p_value(np.nan, null))
    assert pm.null95(null) == np.percentile([0.1, 0.2, 0.3, 0.5], 95)


# ---- the permutation design ------------------------------------------------------------------------

def _items(domain, rows):
    return tuple(ConceptItem(id=f"{domain}-{i}", domain=domain, prompt=f"item {i}", **r) for i, r in enumerate(rows))


def test_permutation_keeps_concepts_together_and_templates_balanced():
    rows = []
    for c in range(12):
        for t in ("neutral", "neutral2"):
            rows.append({"labels": {"kind": "ab"[c % 2], "stage": c % 4, "group": "xy"[c // 6]},
                         "concept": f"c{c}", "template": t})
    rows.append({"labels": {"kind": "a", "stage": 0, "group": "x"}, "concept": "lonely", "template": "neutral"})
    spec = DomainSpec("toy", (LabelSpec("kind", "categorical"), LabelSpec("group", "categorical"),
                              LabelSpec("stage", "ordinal", within="group")), primary="kind")
    cs = ConceptSet("toy", _items("toy", rows), "test", spec=spec)
    plan = build_plan(cs, GeometryOptions(n_perm=50, seed=3))
    assert plan.info["permutation"]["kind"]["unit"] == "concept"
    items = [cs.items[i] for i in plan.sel]
    concept = np.array([it.concept for it in items])
    tpl = np.array([it.template for it in items])
    group = np.array([it.labels["group"] for it in items])
    orig_stage = np.array([it.labels["stage"] for it in items])
    P, S = plan.perms["kind"], plan.perms["stage"]
    for row in P:
        for c in set(concept):  # a concept's paraphrases share their label
            assert len(set(row[concept == c])) == 1
        for t in set(tpl):  # each template keeps its label composition
            assert sorted(row[tpl == t]) == sorted(gm.encode([it.labels["kind"] for it in items])[tpl == t])
    assert all(row[concept == "lonely"][0] == gm.encode([it.labels["kind"] for it in items])[concept == "lonely"][0]
               for row in P)  # alone in its template set: nothing to swap with
    for row in S:  # stages shuffled within each group only
        for g in ("x", "y"):
            assert sorted(row[group == g]) == sorted(orig_stage[group == g])
    assert not all(np.array_equal(row, P[0]) for row in P)
    again = build_plan(cs, GeometryOptions(n_perm=50, seed=3))
    assert np.array_equal(again.perms["kind"], P) and np.array_equal(again.control["kind"], plan.control["kind"])
    assert not np.array_equal(build_plan(cs, GeometryOptions(n_perm=50, seed=4)).perms["kind"], P)


def test_label_varying_within_concept_is_shuffled_by_item_within_template():
    rows = [{"labels": {"kind": "ab"[i % 2]}, "concept": "same", "template": "neutral"} for i in range(10)]
    spec = DomainSpec("toy", (LabelSpec("kind", "categorical"),), primary="kind")
    cs = ConceptSet("toy", _items("toy", rows), "test", spec=spec)
    plan = build_plan(cs, GeometryOptions(n_perm=20))
    assert plan.info["permutation"]["kind"]["unit"] == "item"
    assert all(sorted(r) == [0] * 5 + [1] * 5 for r in plan.perms["kind"])


# ---- planted cases ---------------------------------------------------------------------------------

def _categorical_set(n_per=20, k=3, template="neutral"):
    rows = [{"labels": {"kind": f"k{c}"}, "concept": f"c{c}-{i}", "template": template}
            for c in range(k) for i in range(n_per)]
    spec = DomainSpec("toy", (LabelSpec("kind", "categorical"),), primary="kind")
    return ConceptSet("toy", _items("toy", rows), "test", spec=spec)


def _scores(acts, cs, lexical, **opts):
    from medmap.analyses.geometry import geometry

    df, _ = geometry(acts, cs, model="synthetic", options=GeometryOptions(**{**FAST, **opts}), lexical=lexical)
    return df.set_index(["metric", "layer"]).value


def test_label_only_in_tokens_has_no_excess_and_label_planted_deep_has_excess():
    rng = np.random.default_rng(0)
    cs = _categorical_set()
    y = gm.encode(cs.label_values("kind"))
    n, d, L = len(y), 24, 4
    tokens = rng.normal(size=(n, d)) + 3 * np.eye(3, d)[y]  # the label is in the tokens
    acts = np.empty((n, L + 1, d))
    for l in range(L + 1):  # every layer: a random rotation of the tokens plus noise (nothing new)
        Q = np.linalg.qr(rng.normal(size=(d, d)))[0]
        acts[:, l] = tokens @ Q + rng.normal(scale=0.5, size=(n, d))
    s = _scores(acts, cs, tokens, n_perm=100)
    for l in range(L):
        assert s[("silhouette_raw.kind@p", l)] < 0.05  # the structure is there...
        assert s[("silhouette_raw.kind@excess", l)] <= 0.02  # ...but the tokens alone have as much
    # now the tokens know nothing of the label; layer 3 (acts index 4) has it planted
    tokens = rng.normal(size=(n, d))
    acts = rng.normal(size=(n, L + 1, d))
    acts[:, 4] += 3 * np.eye(3, d)[y]
    s = _scores(acts, cs, tokens, n_perm=100)
    assert s[("silhouette_raw.kind@excess", 3)] > 0.1 and s[("silhouette_raw.kind@p", 3)] < 0.05
    assert s[("silhouette_umap.kind@excess", 3)] > 0.1
    for l in range(3):
        assert s[("silhouette_raw.kind@excess", l)] < 0.05
        assert s[("silhouette_raw.kind@lexical", l)] == s[("silhouette_raw.kind@lexical", 3)]  # layer-free


def test_cue_rows_separate_a_token_cue_from_structure_without_it():
    """A label planted only in the items carrying the cue (and in their tokens) is found on the cued side,
    with a lexical baseline as high; the cue-free side has neither."""
    rng = np.random.default_rng(1)
    rows = [{"labels": {"kind": f"k{c}", "stem": i % 2 == 0}, "concept": f"c{c}-{i}", "template": "neutral"}
            for c in range(3) for i in range(24)]
    spec = DomainSpec("toy", (LabelSpec("kind", "categorical"),), primary="kind", cues=("stem",))
    cs = ConceptSet("toy", _items("toy", rows), "test", spec=spec)
    y = gm.encode(cs.label_values("kind"))
    cued = np.array([r["labels"]["stem"] for r in rows])
    n, d, L = len(y), 24, 2
    tokens = rng.normal(size=(n, d)) + 4 * np.eye(3, d)[y] * cued[:, None]
    acts = np.stack([tokens + rng.normal(scale=0.3, size=(n, d)) for _ in range(L + 1)], 1)
    s = _scores(acts, cs, tokens, n_perm=0)
    for l in range(L):
        assert s[("silhouette_raw.kind[stem=true]", l)] > 0.3
        assert s[("silhouette_raw.kind[stem=true]@lexical", l)] > 0.3
        assert abs(s[("silhouette_raw.kind[stem=false]", l)]) < 0.1
        assert abs(s[("silhouette_raw.kind[stem=false]@lexical", l)]) < 0.1
    with pytest.raises(Exception, match="cue 'kind' is a metric label"):
        from medmap.concepts.domains import spec_from_dict
        spec_from_dict("toy", {"labels": {"kind": "categorical"}, "primary": "kind", "cues": ["kind"]})


def _progression(X_of_stage, n_groups=6, n_stages=8):
    rows = [{"labels": {"disease": f"d{g}", "stage": s}, "concept": f"d{g}s{s}", "template": "neutral"}
            for g in range(n_groups) for s in range(n_stages)]
    spec = DomainSpec("prog", (LabelSpec("disease", "categorical"), LabelSpec("stage", "ordinal", within="disease")),
                      primary="stage")
    cs = ConceptSet("prog", _items("prog", rows), "test", spec=spec)
    X = np.stack([X_of_stage(g, s) for g in range(n_groups) for s in range(n_stages)])
    o = GeometryOptions(n_perm=200, probes=False, **{**FAST, "n_epochs": 10})
    plan = build_plan(cs, o)
    labels = {lab.name: cs.label_values(lab.name) for lab in spec.labels}
    rows, _ = layer_metrics(X, spec, labels, o, 0, plan)
    return {r["metric"]: r["value"] for r in rows}


def test_random_stage_order_has_circularity_inside_its_null_and_a_circle_outside():
    hits = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        pos = {(g, s): rng.normal(size=10) for g in range(6) for s in range(8)}
        m = _progression(lambda g, s: pos[(g, s)])
        hits += m["circularity.stage@p"] < 0.05
    assert hits <= 2  # a random ordering of the stage centroids: inside its null (5% false alarms)
    rng = np.random.default_rng(0)

    def circle(g, s):  # a path that turns back to its start: the last stage close to the first
        a = s / 8 * 2 * np.pi
        return np.r_[np.cos(a), np.sin(a), np.zeros(8)] * 5 + rng.normal(scale=0.05, size=10)

    m = _progression(circle)
    assert m["circularity.stage"] > m["circularity.stage@null95"] and m["circularity.stage@p"] < 0.05


def test_planted_age_boundary_is_outside_its_null():
    rows = [{"labels": {"age": a, "sex": sx}, "concept": f"{a}-{sx}", "template": "neutral"}
            for a in range(40) for sx in ("f", "m")]
    spec = DomainSpec("agey", (LabelSpec("sex", "categorical"), LabelSpec("age", "continuous", boundaries=(17,))),
                      primary="age", split_by="sex")
    cs = ConceptSet("agey", _items("agey", rows), "test", spec=spec)
    rng = np.random.default_rng(0)
    ages = np.array(cs.label_values("age"))
    X = rng.normal(scale=0.3, size=(len(ages), 12))
    X[:, 0] += ages * 0.1
    X[:, 1] += (ages >= 18) * 4
    o = GeometryOptions(n_perm=100, probes=False, **FAST)
    rows, _ = layer_metrics(X, spec, {l.name: cs.label_values(l.name) for l in spec.labels}, o, 0, build_plan(cs, o))
    m = {r["metric"]: r["value"] for r in rows}
    assert m["boundary_17_18.age@p"] < 0.05 and m["boundary_17_18.age"] > m["boundary_17_18.age@null95"]
    assert m["r2_raw.age@p"] < 0.05 and m["r2_umap.age.f@p"] < 0.05


def test_excess_rows_need_both_references():
    rows = [{"metric": "m", "layer": 0, "value": 0.5, "ci_low": 0.4, "ci_high": 0.6},
            {"metric": "m@null95", "layer": 0, "value": 0.1, "ci_low": np.nan, "ci_high": np.nan},
            {"metric": "q", "layer": 0, "value": 0.3, "ci_low": np.nan, "ci_high": np.nan},
            {"metric": "r", "layer": 0, "value": 0.3, "ci_low": np.nan, "ci_high": np.nan},
            {"metric": "r@null95", "layer": 0, "value": 0.1, "ci_low": np.nan, "ci_high": np.nan}]
    lex = [{"metric": "m", "layer": -1, "value": 0.2, "ci_low": 0.1, "ci_high": 0.3},
           {"metric": "q", "layer": -1, "value": 0.1, "ci_low": np.nan, "ci_high": np.nan}]
    out = {r["metric"]: r for r in lexical_rows(rows, lex)}
    assert out["m@lexical"]["value"] == 0.2 and out["m@lexical"]["layer"] == 0
    assert np.isclose(out["m@excess"]["value"], 0.3) and np.isclose(out["m@excess"]["ci_low"], 0.2)
    assert "q@excess" not in out and "q@lexical" in out  # no null: no excess
    assert np.isnan(out["r@excess"]["value"])  # a null but no lexical value: NaN


# ---- collapse ---------------------------------------------------------------------------------------

def test_collapse_from_massive_dimensions_does_not_survive_standardising():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 64))
    massive = X.copy()
    massive[:, 5] = 1000 + 100 * rng.normal(size=200)  # one huge coordinate that varies a little
    m = collapse_measures(massive, top_k=3)
    assert m["mean_cosine"] > 0.95 and m["effective_rank"] < 2
    assert m["mean_cosine@standardized"] < 0.2 and m["effective_rank@standardized"] > 30
    assert m["effective_rank@notop3"] > 30
    low_rank = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 64))  # a collapse of the representation
    m = collapse_measures(low_rank, top_k=3)
    assert m["effective_rank@standardized"] < 3 and m["effective_rank@notop3"] < 3


def test_collapse_range_flags_every_layer_of_a_range():
    r = np.array([2, 2.5, 3, 2, 1.5, 30, 31, 29, 30, 28, 30, 31.0])
    assert collapse_ranges(r, 0.5).tolist() == [1] * 5 + [0] * 7
    assert collapse_ranges(np.array([30, 30, 5, 30, 30.0]), 0.5).tolist() == [0] * 5  # one layer: not a range
    assert collapse_ranges(np.array([30, 30, 5, 4, 30.0]), 0.5).tolist() == [0, 0, 1, 1, 0]


def test_assemble_adds_collapse_rows_for_every_reading():
    rng = np.random.default_rng(0)
    cs = _categorical_set(n_per=8)
    spec, o = cs.spec, GeometryOptions(**{**FAST, "n_perm": 0, "probes": False})
    labels = {"kind": cs.label_values("kind")}
    results = [layer_metrics(rng.normal(size=(len(cs), 10)), spec, labels, o, l, build_plan(cs, o)) for l in range(3)]
    df, emb2 = assemble(results, cs, model="m", options=o)
    names = set(df.metric)
    for m in ("collapse_flag", "collapse_range_flag", "collapse_range_flag@standardized", "collapse_range_flag@notop3",
              "mean_cosine@standardized", "effective_rank@notop3"):
        assert m in names
    assert emb2.shape == (3, len(cs), 2)


def test_layer_metrics_without_plan_uses_every_item():
    rng = np.random.default_rng(0)
    cs = _categorical_set(n_per=6)
    rows, emb2 = layer_metrics(rng.normal(size=(len(cs), 8)), cs.spec, {"kind": cs.label_values("kind")},
                               GeometryOptions(**FAST), 0)
    assert emb2.shape == (len(cs), 2)
    assert not any(r["metric"].endswith("@null95") for r in rows)
    assert GeometryPlan(np.arange(3), ["", "", ""]).perms == {}


# ---- end to end on a tiny model ----------------------------------------------------------------------

def _tiny_set(neutral=True):
    from tiny import one_token_set

    cs = one_token_set(n=30)
    if neutral:
        return cs
    return ConceptSet("toy", tuple(it.model_copy(update={"template": "t1" if it.template == "neutral" else "t0"})
                                   for it in cs.items), "test", spec=cs.spec)


def test_tiny_model_end_to_end_controls_rows_and_cache(tmp_path):
    import json

    from medmap.analyses.runner import AnalyzeOptions, analyze
    from medmap.store import Cache
    from tiny import tiny_model

    lm = tiny_model("llama", num_hidden_layers=2)
    opts = AnalyzeOptions(geometry=GeometryOptions(n_epochs=20, n_boot=4, workers=1, n_perm=30))
    cache = Cache(tmp_path / "cache")
    notes = []
    s = analyze(lm, [_tiny_set()], ["geometry"], tmp_path / "a", opts, cache=cache, controls=("random_init",),
                note=notes.append)
    names = set(s.metric)
    for m in ("silhouette_umap.kind", "silhouette_raw.kind", "knn_acc.kind"):
        for c in ("null95", "p", "p_layers", "lexical", "excess", "random_init"):
            assert f"{m}@{c}" in names, f"{m}@{c}"
    assert "_null" not in s.columns and not s.metric.str.contains("@p_layers@").any()
    for m in ("probe_acc.kind", "probe_selectivity.kind", "probe_acc.kind@lexical", "probe_acc.kind@random_init",
              "silhouette_raw.kind[neutral]", "silhouette_raw.kind[t0]", "probe_acc.kind[t0]",
              "collapse_range_flag", "collapse_range_flag@random_init", "effective_rank@standardized",
              "effective_rank@notop3", "effective_rank@lexical"):
        assert m in names, m
    assert not any(m.count("@") > 1 for m in names)
    assert set(s[s.metric.str.contains("@random_init")].layer) == {0, 1}
    info = json.loads((tmp_path / "a" / "geometry.json").read_text())["toy"]
    assert info["templates"]["used"] == ["neutral"] and not info["templates"]["fallback"] and notes == []
    emb = json.loads((tmp_path / "a" / "embeddings" / "toy.json").read_text())
    assert len(emb["items"]) == 30 and all(it["id"].endswith("neutral") for it in emb["items"])
    entries = {p.parent.name for p in (tmp_path / "cache").glob("*/*/manifest.json")} or \
        {p.name for p in (tmp_path / "cache").iterdir()}
    assert entries
    # rerun: everything from the cache, the same numbers (determinism under the seed is the cache key)
    again = analyze(lm, [_tiny_set()], ["geometry"], tmp_path / "b", opts, cache=cache, controls=("random_init",))
    assert again.equals(s)
    fresh = analyze(lm, [_tiny_set()], ["geometry"], tmp_path / "c", opts, controls=("random_init",))
    assert np.allclose(fresh.value, s.value, equal_nan=True)  # recomputed from scratch: the same


def test_set_without_neutral_template_falls_back_to_all_items_and_says_so(tmp_path):
    import json

    from medmap.analyses.runner import AnalyzeOptions, analyze
    from tiny import tiny_model

    lm = tiny_model("llama", num_hidden_layers=1)
    notes = []
    opts = AnalyzeOptions(geometry=GeometryOptions(n_epochs=10, n_boot=2, workers=1, n_perm=10, lexical=False,
                                                   probes=False))
    s = analyze(lm, [_tiny_set(neutral=False)], ["geometry"], tmp_path, opts, note=notes.append)
    info = json.loads((tmp_path / "geometry.json").read_text())["toy"]["templates"]
    assert info["fallback"] and info["n_items"] == 60 and len(notes) == 1 and "no neutral template" in notes[0]
    assert "silhouette_raw.kind@lexical" not in set(s.metric) and "silhouette_raw.kind@excess" in set(s.metric)
    assert s[s.metric == "silhouette_raw.kind@excess"].value.isna().all()  # no lexical value: NaN


def test_template_option_and_controls_are_validated():
    from medmap.analyses.controls import select_templates
    from medmap.errors import ConfigError
    from medmap.pipeline import config_from_dict

    cs = _tiny_set()
    assert len(select_templates(cs.items, "t0", "toy").indices) == 30
    assert len(select_templates(cs.items, "all", "toy").indices) == 60
    assert GeometryOptions(templates=["t0", "neutral"]).templates == "t0,neutral"
    with pytest.raises(ConfigError, match="none of t9"):
        select_templates(cs.items, "t9", "toy")
    cfg = config_from_dict({"controls": ["random_init"], "analyze": {"geometry": {"map_curve": "probe"}}})
    assert cfg.controls == ("random_init",)
    assert config_from_dict({"controls": "random_init"}).controls == ("random_init",)
    with pytest.raises(ConfigError, match="controls.*must be one of"):
        config_from_dict({"controls": ["random_weights"]})
    with pytest.raises(ConfigError, match="map_curve"):
        GeometryOptions(map_curve="best")
    from medmap.concepts import load_builtin
    from medmap.pipeline import primary_overrides

    assert primary_overrides(cfg, [load_builtin("drugs")])[("drugs", "geometry")] == "probe_acc.specialty"


def test_stage_cis_need_two_items_per_stage_and_the_mean_falls_back_to_groups():
    rng = np.random.default_rng(0)
    rows = [{"labels": {"disease": f"d{g}", "stage": s}, "concept": f"d{g}s{s}", "template": "neutral"}
            for g in range(4) for s in range(6)]
    spec = DomainSpec("prog", (LabelSpec("disease", "categorical"), LabelSpec("stage", "ordinal", within="disease")),
                      primary="stage")
    cs = ConceptSet("prog", _items("prog", rows), "test", spec=spec)
    o = GeometryOptions(n_perm=0, probes=False, **{**FAST, "n_boot": 20})
    out, _ = layer_metrics(rng.normal(size=(24, 6)), spec, {l.name: cs.label_values(l.name) for l in spec.labels},
                           o, 0, build_plan(cs, o))
    m = {r["metric"]: r for r in out}
    assert np.isnan(m["spearman.stage.d0"]["ci_low"])  # one item per stage: nothing to resample
    assert np.isfinite(m["spearman.stage"]["ci_low"]) and m["spearman.stage"]["ci_low"] <= m["spearman.stage"]["ci_high"]


def test_cli_rejects_an_unknown_control(tmp_path, capsys):
    from medmap.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["run", "--controls", "random_weights", "--domains", "age", "--out", str(tmp_path)])
    assert e.value.code != 0 and "must be one of 'random_init' (got 'random_weights')" in capsys.readouterr().err


def test_no_bootstrap_and_no_permutations_leave_empty_intervals_and_no_nulls():
    rng = np.random.default_rng(0)
    rows = [{"labels": {"a": f"a{i % 3}", "b": f"b{i % 2}"}, "concept": f"c{i}", "template": "neutral"}
            for i in range(30)]
    spec = DomainSpec("two", (LabelSpec("a", "categorical"), LabelSpec("b", "categorical")), primary="a",
                      contrasts=(("a", "b"),))
    cs = ConceptSet("two", _items("two", rows), "test", spec=spec)
    o = GeometryOptions(**{**FAST, "n_boot": 0, "n_perm": 0})
    out, _ = layer_metrics(rng.normal(size=(30, 6)), spec, {"a": cs.label_values("a"), "b": cs.label_values("b")},
                           o, 0, build_plan(cs, o))
    m = {r["metric"]: r for r in out}
    assert np.isfinite(m["silhouette_gap.a_minus_b"]["value"]) and np.isnan(m["silhouette_gap.a_minus_b"]["ci_low"])
    assert np.isnan(m["silhouette_umap.a"]["ci_low"]) and not any("@null95" in k for k in m)


def test_familywise_p_over_layers_pays_for_picking_the_best_layer():
    """Every permutation is the same relabeling at each layer: the null of the best layer is each
    permutation's maximum over the layers. Planted: a value beyond every null value at one layer gives the
    smallest p at that layer both ways; a value that beats its own layer's null but not the other layers'
    larger nulls has p < 0.05 at the layer and not over the layers."""
    from medmap.analyses.controls import NULL_KEY, familywise_rows, null_summary

    rng = np.random.default_rng(0)
    nulls = [rng.normal(0, 1, 200), rng.normal(0, 1, 200) + 1.5, rng.normal(0, 1, 200)]
    observed = [2.2, 10.0, 0.0]
    rows = [{"metric": "m", "layer": l, "value": v, "ci_low": np.nan, "ci_high": np.nan} for l, v in enumerate(observed)]
    for l, (v, null) in enumerate(zip(observed, nulls)):
        rows += null_summary("m", v, null, l)
    fw = {r["layer"]: r["value"] for r in familywise_rows(rows)}
    p = {r["layer"]: r["value"] for r in rows if r["metric"] == "m@p"}
    assert all(NULL_KEY not in r for r in rows)  # the nulls never reach the scores
    assert fw[1] == p[1] == pytest.approx(1 / 201)
    assert p[0] < 0.05 and fw[0] > 0.2  # layer 1's null (shifted by 1.5) is the best layer's chance level
    assert all(fw[l] >= p[l] for l in fw)
    # an oracle: the same numbers by a plain loop over permutations
    best = np.max(np.vstack(nulls), axis=0)
    assert fw[0] == pytest.approx((1 + np.sum(best >= 2.2)) / 201)


def test_r2_umap_ci_resamples_out_of_fold_predictions():
    """The CI of r2_umap is a bootstrap of the items' out-of-fold predictions (an oracle: scikit-learn's
    cross_val_predict and r2_score, resampled by the same seeded indices); refitting on resamples would
    put copies of an item on both sides of a fold."""
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict

    from medmap.analyses.geometry_labels import continuous_metrics
    from medmap.analyses.stats import bootstrap_ci
    from medmap.concepts.domains import LabelSpec

    rng = np.random.default_rng(3)
    t = np.repeat(np.arange(0, 60, 2.0), 4)
    emb = np.c_[t / 10 + rng.normal(0, 0.5, len(t)), rng.normal(size=(len(t), 4))]
    got = {}
    continuous_metrics(lambda m, v, lo=np.nan, hi=np.nan, null=None: got.setdefault(m, (v, lo, hi)),
                       LabelSpec("age", "continuous"), {"age": list(t)}, None, emb, emb, emb,
                       GeometryOptions(n_boot=50, seed=0), 7, None)
    pred = cross_val_predict(LinearRegression(), emb, t, cv=KFold(5, shuffle=True, random_state=0))
    value, lo, hi = got["r2_umap.age"]
    assert value == pytest.approx(r2_score(t, pred))
    assert (lo, hi) == pytest.approx(bootstrap_ci(lambda idx: r2_score(t[idx], pred[idx]), len(t), 50, 7))
    assert lo < value < hi and 0.8 < value


def test_nan_input_is_refused_in_one_line():
    from medmap.analyses.geometry import geometry
    from medmap.errors import NumericalError

    cs = _categorical_set(n_per=6)
    acts = np.random.default_rng(5).normal(size=(len(cs.items), 3, 8))
    acts[3, 2, 1] = np.nan
    with pytest.raises(NumericalError, match="NaN"):
        geometry(acts, cs, model="m", options=GeometryOptions(**FAST))
