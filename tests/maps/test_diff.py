"""compare --diff: two saved tiny runs (the second of a perturbed model): B - A per layer and metric,
a paired bootstrap CI where per-unit arrays exist (planted shift found, no shift not found), intervals
moved, CKA from the capture caches (1 on the diagonal for a run with itself), the files and the
figure, the CLI, and the errors."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

import medmap
from medmap.cli.main import main
from medmap.errors import MedmapError
from medmap.maps.diff import CKA_COLUMNS, DIFF_COLUMNS, MOVED_COLUMNS, paired_ci
from test_api import ORGANS, SMALL
from tiny import tiny_model


@pytest.fixture(scope="module")
def labs(tmp_path_factory):
    d = tmp_path_factory.mktemp("labs")
    rows = [{"domain_spec": {"name": "labs", "labels": {"organ": "categorical"}, "primary": "organ"}}]
    for organ, tests in ORGANS.items():
        for t in tests:
            rows.append({"id": f"labs-{t}", "domain": "labs", "prompt": f"The lab test {t} mostly measures the",
                         "labels": {"organ": organ}, "answer": f" {organ}"})
    f = d / "labs.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return f


@pytest.fixture(scope="module")
def runs(labs, tmp_path_factory):
    """Run A of a tiny llama, run B of the same model with its layer-2 MLP perturbed."""
    root = tmp_path_factory.mktemp("diffruns")
    base = tiny_model("llama")
    pert = tiny_model("llama")
    with torch.no_grad():
        for p in pert.model.model.layers[2].mlp.parameters():
            p.add_(0.3 * torch.randn_like(p))
    pert.name = "tiny-llama-ft"
    for lm, name in ((base, "a"), (pert, "b")):
        medmap.map(lm, techniques=["geometry", "lesion"], concepts=labs, config=SMALL, out=root / name,
                   progress=False)
    return root / "a", root / "b"


def test_diff_of_two_runs(runs, tmp_path):
    a, b = medmap.load(runs[0]), medmap.load(runs[1])
    res = a.diff(b, out=tmp_path / "d")
    diff, cka, moved = res["diff"], res["cka"], res["intervals"]
    assert list(diff.columns) == list(DIFF_COLUMNS) and list(cka.columns) == list(CKA_COLUMNS)
    assert list(moved.columns) == list(MOVED_COLUMNS)
    lane = diff[(diff.domain == "labs") & (diff.technique == "lesion") & (diff.metric == "logprob_drop")]
    lane = lane.sort_values("layer")
    ra = a.scores[(a.scores.domain == "labs") & (a.scores.technique == "lesion") & (a.scores.metric == "logprob_drop")].sort_values("layer")
    rb = b.scores[(b.scores.domain == "labs") & (b.scores.technique == "lesion") & (b.scores.metric == "logprob_drop")].sort_values("layer")
    assert np.allclose(lane["diff"], rb["value"].to_numpy() - ra["value"].to_numpy())
    # the runs keep per-unit arrays of the causal techniques (units/<domain>/<technique>.npz): paired CIs
    assert lane["ci_low"].notna().all() and (lane["n_units"] > 1).all()  # the sampled items (max_items)
    assert any("no per-unit values" in n and "labs/geometry" in n for n in res["notes"])  # geometry has none
    # CKA: 4 x 4 layers; the perturbation at layer 2 leaves layers 0-1 identical
    assert len(cka) == 16 and set(cka.domain) == {"labs"}
    m = cka.pivot(index="layer_a", columns="layer_b", values="cka").to_numpy()
    assert np.allclose(np.diag(m)[:2], 1.0) and np.diag(m)[2] < 1 - 1e-6
    for name in ("diff.csv", "cka.csv", "intervals.csv", "diff.json", "figures/diff.png", "figures/cka.png"):
        assert (tmp_path / "d" / name).is_file(), name
    back = pd.read_csv(tmp_path / "d" / "diff.csv")
    assert list(back.columns) == list(DIFF_COLUMNS) and len(back) == len(diff)


def test_a_run_with_itself(runs):
    a = medmap.load(runs[0])
    res = a.diff(medmap.load(runs[0]))
    assert (res["diff"]["diff"].fillna(0) == 0).all()
    assert not res["intervals"]["moved"].any()
    m = res["cka"].pivot(index="layer_a", columns="layer_b", values="cka").to_numpy()
    assert np.allclose(np.diag(m), 1.0)


def _units(folder, ids, arr):
    d = folder / "units" / "labs"
    d.mkdir(parents=True, exist_ok=True)
    np.savez(d / "lesion.npz", logprob_drop=arr, ids=np.array(ids))


def test_paired_bootstrap_finds_a_planted_shift_and_no_shift(runs, tmp_path):
    import shutil

    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    shutil.copytree(runs[0], a_dir)
    shutil.copytree(runs[1], b_dir)
    rng = np.random.default_rng(0)
    ids = [f"labs-{t}" for ts in ORGANS.values() for t in ts]
    base = rng.normal(1.0, 1.0, size=(len(ids), 4))
    shift = np.array([0.0, 0.0, 0.5, 0.0])
    noise = rng.normal(0, 0.05, size=base.shape)
    _units(a_dir, ids, base)
    # B lists the units in another order and misses two: matching is by id
    order = rng.permutation(len(ids))[:-2]
    _units(b_dir, [ids[i] for i in order], (base + shift + noise)[order])
    res = medmap.load(a_dir).diff(medmap.load(b_dir), n_boot=500)
    lane = res["diff"][(res["diff"].domain == "labs") & (res["diff"].technique == "lesion")
                       & (res["diff"].metric == "logprob_drop")]
    lane = lane.sort_values("layer")
    assert (lane["n_units"] == len(ids) - 2).all()
    lo, hi = lane["ci_low"].to_numpy(), lane["ci_high"].to_numpy()
    assert lo[2] > 0.3 and hi[2] < 0.7  # the planted shift, found
    for k in (0, 1, 3):
        assert lo[k] < 0 < hi[k]  # no shift: the CI covers 0
    note = next(n for n in res["notes"] if "no per-unit" in n)
    assert "labs/geometry (all metrics)" in note and "logprob_drop," not in note
    # the specific rows are differences of means (no units of their own); the planted file holds logprob_drop only
    assert "labs/lesion (accuracy, accuracy@specific, accuracy_intact, kl, kl@specific, logprob_drop@specific)" in note


def test_paired_ci_edge_cases():
    lo, hi = paired_ci(np.zeros((1, 3)), 100, 0.95, 0)
    assert np.isnan(lo).all() and np.isnan(hi).all()
    lo, hi = paired_ci(np.zeros((5, 2)), 100, 0.95, 0)
    assert np.allclose(lo, 0) and np.allclose(hi, 0)


def test_cli_and_errors(runs, tmp_path, capsys):
    main(["compare", "--diff", str(runs[0]), str(runs[1]), "--out", str(tmp_path / "cli")])
    err = capsys.readouterr().err
    assert "diff.csv" in err and (tmp_path / "cli" / "figures" / "diff.png").is_file()
    with pytest.raises(SystemExit):
        main(["compare", "--diff", str(runs[0]), "--out", str(tmp_path / "x")])
    a = medmap.load(runs[0])
    deeper = a.scores.assign(n_layers=6)
    other = medmap.api.KnowledgeMap(layer_map=medmap.maps.build_map(deeper), scores=deeper)
    with pytest.raises(MedmapError, match="same number of decoder layers"):
        a.diff(other)
    # an in-memory map has no cache: no CKA, and the notes say so
    mem = medmap.api.KnowledgeMap(layer_map=a.layer_map, scores=a.scores)
    res = a.diff(mem)
    assert res["cka"].empty and any("no captured activations" in n for n in res["notes"])
