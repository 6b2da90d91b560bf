"""Linear probes with control tasks: a planted label is selective, a random label is not."""

import numpy as np

from medmap.analyses.probes import probe_rows


def _rows(F, values, kind="categorical", control=None, **kw):
    rng = np.random.default_rng(99)
    control = rng.permutation(values) if control is None else control
    return {m: (v, lo, hi) for m, v, lo, hi in probe_rows(F, "lab", kind, values, control, **kw)}


def _paraphrases(n_concepts=60, reps=3):
    """Three close paraphrases per concept (features near the concept's centre), a label random per
    concept and a control label random per concept."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(n_concepts, 40)) * 3
    concept = np.repeat(np.arange(n_concepts), reps)
    F = centres[concept] + rng.normal(scale=0.3, size=(len(concept), 40))
    y = rng.integers(0, 3, n_concepts)[concept]
    control = rng.permutation(rng.integers(0, 3, n_concepts))[concept]
    return rng, centres, concept, F, y, control


def test_planted_label_is_selective_and_random_label_is_not():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 40)
    F = rng.normal(size=(160, 30))
    planted = F + 2.5 * np.eye(4, 30)[y]
    r = _rows(planted, y)
    acc, lo, hi = r["probe_acc.lab"]
    assert acc > 0.7 and lo <= acc <= hi
    assert r["probe_selectivity.lab"][0] > 0.5
    r = _rows(F, rng.permutation(y))  # a label the activations know nothing of
    assert abs(r["probe_selectivity.lab"][0]) < 0.15
    assert r["probe_acc.lab"][0] < 0.45


def test_control_task_catches_memorisation_of_concepts():
    """Three close paraphrases per concept, labels random per concept: the task probe scores well by
    memorising concepts (folds are over items), and so does the control task: selectivity near zero."""
    rng, centres, concept, F, y, control = _paraphrases()
    r = _rows(F, y, control=control)
    assert r["probe_acc.lab"][0] > 0.5  # memorised
    assert abs(r["probe_selectivity.lab"][0]) < 0.2


def test_folds_grouped_by_concept_do_not_score_memorisation():
    """The same paraphrase set: with folds grouped by concept (``cv_groups``, what the geometry passes) a
    label random per concept is at chance, task and control alike; a label planted in the features is
    still found. Identical twins (the lexical representation of paraphrases of one span) are recognised
    perfectly under item folds."""
    from medmap.analyses.geometry_metrics import r2_linear

    rng, centres, concept, F, y, control = _paraphrases()
    r = _rows(F, y, control=control, cv_groups=concept)
    assert r["probe_acc.lab"][0] < 0.5  # chance is 1/3: nothing to generalise from
    assert abs(r["probe_selectivity.lab"][0]) < 0.2
    planted = F + 6.0 * np.eye(3, 40)[y]
    assert _rows(planted, y, control=control, cv_groups=concept)["probe_acc.lab"][0] > 0.6  # found: twice chance
    twins = centres[concept]  # paraphrases with identical features
    assert _rows(twins, y, control=control)["probe_acc.lab"][0] > 0.9
    assert _rows(twins, y, control=control, cv_groups=concept)["probe_acc.lab"][0] < 0.5
    t = rng.uniform(0, 80, len(centres))[concept]  # a continuous label, random per concept
    leaky, grouped = r2_linear(twins, t), r2_linear(twins, t, groups=concept)
    assert grouped < 0.1 and leaky > grouped + 0.3


def test_continuous_probe_r2_and_selectivity():
    rng = np.random.default_rng(2)
    t = rng.uniform(0, 80, 150)
    F = rng.normal(size=(150, 20))
    F[:, 3] += t / 10
    r = _rows(F, t, kind="continuous")
    assert r["probe_r2.lab"][0] > 0.7 and r["probe_selectivity.lab"][0] > 0.6  # best possible: 0.84
    r = _rows(rng.normal(size=(150, 20)), t, kind="continuous")
    assert r["probe_r2.lab"][0] < 0.1 and abs(r["probe_selectivity.lab"][0]) < 0.2


def test_probe_is_deterministic_and_unprobeable_labels_are_nan():
    rng = np.random.default_rng(3)
    F = rng.normal(size=(40, 5))
    y = rng.integers(0, 2, 40)
    assert _rows(F, y, seed=4) == _rows(F, y, seed=4)
    r = _rows(F, np.zeros(40, int))  # one class
    assert np.isnan(r["probe_acc.lab"][0]) and "probe_selectivity.lab" not in r
    r = probe_rows(F, "lab", "categorical", y, None, selectivity=True)
    assert [m for m, *_ in r] == ["probe_acc.lab"]  # no control labels: no selectivity


def _stages(rng, planted: bool, groups=3, stages=(10, 7, 5), per=6, dims=12):
    """Items of ``groups`` diseases with their own stage counts. Planted: the stage inside each disease
    is written on a disease-specific direction; absent: the features hold only the disease."""
    F, stage, disease = [], [], []
    for g in range(groups):
        direction = np.eye(dims)[5 + g]
        for s in range(stages[g]):
            for _ in range(per):
                x = rng.normal(size=dims) + 4.0 * np.eye(dims)[g]  # the disease itself is easy to read
                if planted:
                    x = x + 2.0 * s * direction
                F.append(x)
                stage.append(s)
                disease.append(f"d{g}")
    return np.array(F), np.array(stage), np.array(disease)


def _within_control(rng, stage, disease):
    out = stage.copy()
    for g in np.unique(disease):
        m = disease == g
        out[m] = rng.permutation(stage[m])
    return out


def test_stage_within_disease_is_probed_inside_each_disease():
    """A stage is ordinal only inside its disease: planted within-disease stage gives a high R^2 and
    selectivity; features that hold only the disease give nothing."""
    rng = np.random.default_rng(5)
    F, stage, disease = _stages(rng, planted=True)
    r = _rows(F, stage, kind="ordinal", control=_within_control(rng, stage, disease), groups=disease)
    assert set(r) == {"probe_r2.lab", "probe_selectivity.lab"}
    assert r["probe_r2.lab"][0] > 0.7 and r["probe_selectivity.lab"][0] > 0.6
    F, stage, disease = _stages(rng, planted=False)
    r = _rows(F, stage, kind="ordinal", control=_within_control(rng, stage, disease), groups=disease)
    assert r["probe_r2.lab"][0] < 0.1 and abs(r["probe_selectivity.lab"][0]) < 0.2


def test_groups_too_small_to_probe_give_nan():
    rng = np.random.default_rng(6)
    F = rng.normal(size=(12, 4))
    r = _rows(F, np.tile([0, 1, 2], 4), kind="ordinal", groups=np.repeat(["a", "b", "c"], 4))
    assert np.isnan(r["probe_r2.lab"][0])
