"""Linear probes with control tasks: a planted label is selective, a random label is not."""

import numpy as np

from medmap.analyses.probes import probe_rows


def _rows(F, values, kind="categorical", control=None, **kw):
    rng = np.random.default_rng(99)
    control = rng.permutation(values) if control is None else control
    return {m: (v, lo, hi) for m, v, lo, hi in probe_rows(F, "lab", kind, values, control, **kw)}


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
    rng = np.random.default_rng(1)
    n_concepts, reps = 60, 3
    centres = rng.normal(size=(n_concepts, 40)) * 3
    concept = np.repeat(np.arange(n_concepts), reps)
    F = centres[concept] + rng.normal(scale=0.3, size=(len(concept), 40))
    y = rng.integers(0, 3, n_concepts)[concept]
    control = rng.permutation(rng.integers(0, 3, n_concepts))[concept]
    r = _rows(F, y, control=control)
    assert r["probe_acc.lab"][0] > 0.5  # memorised
    assert abs(r["probe_selectivity.lab"][0]) < 0.2


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
