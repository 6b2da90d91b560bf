"""Robustness across seeds and prompt templates: the spread of each interval (maps.robustness, on
synthetic maps with known answers) and `medmap run --seeds N --paraphrases` on a tiny model."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from medmap.cli.main import main
from medmap.errors import ConfigError
from medmap.maps import build_map
from medmap.maps.robustness import SPREAD_COLUMNS, interval_spread, layer_coverage, match_interval
from medmap.pipeline import RunConfig, config_from_dict, default_run_dir
from tiny import saved_tiny

N = 12


def _scores(step_at: int, lesion_peak: int | None = 6) -> pd.DataFrame:
    """Geometry: a step whose fastest rise is around ``step_at``; lesion: a bump at ``lesion_peak``."""
    layers = np.arange(N)
    rows = [("geometry", "silhouette_umap.category", float(v)) for v in 1 / (1 + np.exp(-3.0 * (layers - step_at)))]
    if lesion_peak is not None:
        rows += [("lesion", "logprob_drop", float(v)) for v in np.exp(-((layers - lesion_peak) ** 2) / 2.0)]
    return pd.DataFrame([{"model": "m", "n_layers": N, "domain": "symptoms", "technique": t, "metric": m,
                          "layer": i % N, "value": v, "ci_low": np.nan, "ci_high": np.nan}
                         for i, (t, m, v) in enumerate(rows)])


def _row(df, group, technique):
    sel = df[(df.group == group) & (df.technique == technique)]
    assert len(sel) == 1, sel
    return sel.iloc[0]


def test_match_interval_prefers_overlap_then_closeness():
    assert match_interval(4, 6, [(0, 1), (5, 9), (3, 6)]) == (3, 6)
    assert match_interval(4, 6, [(0, 2), (8, 9)]) is None
    assert match_interval(4, 6, [(2, 4), (6, 8)]) == (2, 4)  # equal overlap and distance: the earlier


def test_identical_maps_have_zero_spread():
    main = build_map(_scores(5))
    spread = interval_spread(main, {"seed": {"a": main, "b": build_map(_scores(5))}})
    assert len(spread) == len(main.intervals) and list(spread.columns) == list(SPREAD_COLUMNS)
    assert spread["identical"].all() and (spread["present_frac"] == 1).all()
    assert (spread[["start_std", "end_std", "start_depth_std", "end_depth_std"]] == 0).all().all()
    assert (spread["start_min"] == spread["start"]).all() and (spread["end_max"] == spread["end"]).all()


def test_shifted_interval_spread_and_absence_are_measured():
    main = build_map(_scores(5))
    shifted = build_map(_scores(7))
    no_lesion = build_map(_scores(5, lesion_peak=None))
    g_main = next(i for i in main.intervals if i["technique"] == "geometry")
    g_shift = next(i for i in shifted.intervals if i["technique"] == "geometry")
    assert g_shift["start"] == g_main["start"] + 2  # the synthetic step moved by two layers
    groups = {"seed": {"s0": main, "s1": shifted}, "template": {"t0": main, "t1": no_lesion}}
    spread = interval_spread(main, groups)
    geo = _row(spread, "seed", "geometry")
    assert (geo.start_min, geo.start_max, geo.start_std) == (g_main["start"], g_main["start"] + 2, 1.0)
    assert geo.end_std == 1.0 and geo.start_depth_std == pytest.approx(1 / N) and not geo.identical
    les = _row(spread, "template", "lesion")  # one template has no lesion curve: not counted
    assert (les.n_variants, les.n_present, les.present_frac, bool(les.identical)) == (1, 1, 1.0, True)
    cov = layer_coverage(groups)
    g = cov[(cov.group == "seed") & (cov.technique == "geometry")].set_index("layer")["covered_frac"]
    assert g[g_main["start"]] == 0.5 and g[g_main["start"] + 2] == 1.0 and g[g_main["end"] + 2] == 0.5


def test_interval_absent_from_a_variant_lowers_presence():
    main = build_map(_scores(5, lesion_peak=2))
    far = build_map(_scores(5, lesion_peak=9))  # lesion interval moved away: no overlap
    les = _row(interval_spread(main, {"seed": {"a": main, "b": far}}), "seed", "lesion")
    assert (les.n_variants, les.n_present, les.present_frac) == (2, 1, 0.5)
    assert les.start_std == 0 and not les.identical


def test_robustness_options_are_checked():
    with pytest.raises(ConfigError, match="seeds: must be >= 1"):
        config_from_dict({"seeds": 0})
    with pytest.raises(ConfigError, match="seeds: must be an integer"):
        config_from_dict({"seeds": "three"})
    with pytest.raises(ConfigError, match="paraphrases: must be true or false"):
        config_from_dict({"paraphrases": "yes"})
    plain, robust = RunConfig(), config_from_dict({"seeds": 3, "paraphrases": True})
    assert default_run_dir(plain) == default_run_dir(robust)  # same folder: the cache is shared
    assert plain.digest() != robust.digest()  # but a finished plain run is not "already finished"


# -- a whole run on a tiny model ---------------------------------------------------------------

CONFIG = {
    "domains": ["age", "symptoms"], "techniques": ["geometry", "lesion", "patching"], "seeds": 2,
    "paraphrases": True,
    "analyze": {"geometry": {"n_epochs": 20, "n_boot": 3, "workers": 1, "pca_dims": 10},
                # every item and pair: saliency, lesion and patching do not depend on the seed
                "causal": {"max_items": 0, "max_pairs": 0, "n_boot": 10}},
    # the paper's geometry interval: a random-weight model's geometry beats no control, and these tests are
    # about how intervals spread across variants
    "map_rules": {"geometry_control": "raw"},
}


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny-llama")
    return saved_tiny(d, num_hidden_layers=8)  # enough layers for the map's rules to find intervals


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    """age: templates t0 (with patching pairs) and t1 (none); symptoms: t0 (with pairs) for two
    categories, and three t1 items (no pairs) of which one category has a single member."""
    from medmap.concepts import load_builtin, to_jsonl

    d = tmp_path_factory.mktemp("cfg")
    ages = {10, 14, 18, 50, 54, 70}
    age = load_builtin("age").subset(lambda it: it.template in ("t0", "t1") and it.labels["age"] in ages)
    sym = load_builtin("symptoms")
    cats = ("cardiovascular", "respiratory")
    t0 = sym.subset(lambda it: it.template == "t0" and it.labels["category"] in cats)
    t1 = [it for it in sym.items if it.template == "t1" and it.labels["category"] == "cardiovascular"][:2]
    t1 += [it for it in sym.items if it.template == "t1" and it.labels["category"] == "respiratory"][:1]
    (d / "small.jsonl").write_text(to_jsonl(age) + to_jsonl(t0) + to_jsonl(sym.subset(lambda it: it in t1)))
    p = d / "run.yaml"
    p.write_text(yaml.safe_dump({**CONFIG, "concepts": str(d / "small.jsonl")}))
    return p


@pytest.fixture(scope="module")
def run_a(tiny_folder, config_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "a"
    main(["run", "--model", str(tiny_folder), "--config", str(config_file), "--out", str(out)])
    return out


def test_seeds_and_templates_write_the_spread(run_a):
    df = pd.read_csv(run_a / "robustness.csv")
    rob = json.loads((run_a / "robustness.json").read_text())
    intervals = json.loads((run_a / "map.json").read_text())["intervals"]
    assert list(df.columns) == list(SPREAD_COLUMNS)
    assert len(df) == 2 * len(intervals) > 0  # every interval of the map, across seeds and across templates
    assert rob["settings"]["seeds"] == [0, 1]
    assert rob["settings"]["templates"] == {"age": ["t0", "t1"], "symptoms": ["t0", "t1"]}
    assert sorted(rob["variants"]["seed"]) == ["seed=0", "seed=1"]
    assert sorted(rob["variants"]["template"]) == ["t0", "t1"]
    seeds = df[df.group == "seed"]
    assert (seeds.n_variants == 2).all()
    # every item and pair of the domains is used, but the lanes of lesion and patching come from their
    # specific curves, whose general-knowledge reference sample (max_items of it) is drawn with the seed:
    # they may move with the seed too, and the spread says by how much
    fixed = seeds[seeds.technique != "geometry"]
    assert len(fixed) and (fixed[["start_std", "end_std"]] >= 0).all().all()
    geo = df[(df.group == "template") & (df.technique == "geometry")].set_index("domain")
    assert geo.loc["age", "n_variants"] == 2 and geo.loc["symptoms", "n_variants"] == 1
    html = (run_a / "report.html").read_text()
    assert '<section id="robustness">' in html and "single member" in html


def test_a_template_that_cannot_be_analysed_is_recorded(run_a):
    skipped = json.loads((run_a / "robustness.json").read_text())["skipped"]
    why = {(s["variant"], s["domain"], s["technique"]): s["reason"] for s in skipped}
    assert "'respiratory' have a single member" in why[("t1", "symptoms", "geometry")]
    assert why[("t1", "symptoms", "patching")] == "no item has a patching pair"
    assert why[("t1", "age", "patching")] == "no item has a patching pair"
    assert all(s["group"] == "template" for s in skipped)  # the seeds analyse what the main run does


def test_same_config_same_robustness_and_rerun_recomputes_nothing(run_a, tiny_folder, config_file, tmp_path):
    b = tmp_path / "b"
    main(["run", "--model", str(tiny_folder), "--config", str(config_file), "--out", str(b)])
    for name in ("robustness.csv", "robustness.json", "map.csv"):
        assert (run_a / name).read_bytes() == (b / name).read_bytes(), name
    entries = sorted(p.relative_to(b / "cache") for p in (b / "cache").rglob("manifest.json"))
    before = {p: (b / "cache" / p).stat().st_mtime_ns for p in entries}
    (b / "DONE.json").unlink()
    main(["run", "--model", str(tiny_folder), "--config", str(config_file), "--out", str(b)])
    after = sorted(p.relative_to(b / "cache") for p in (b / "cache").rglob("manifest.json"))
    assert after == entries and all((b / "cache" / p).stat().st_mtime_ns == t for p, t in before.items())
    assert (run_a / "robustness.csv").read_bytes() == (b / "robustness.csv").read_bytes()


def test_plain_rerun_of_the_folder_drops_stale_robustness(tiny_folder, config_file, tmp_path):
    cfg = yaml.safe_load(config_file.read_text())
    cfg.update(seeds=2, paraphrases=False, domains=["symptoms"], techniques=["lesion"])
    p = tmp_path / "one.yaml"
    p.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "r"
    main(["run", "--model", str(tiny_folder), "--config", str(p), "--out", str(out)])
    assert (out / "robustness.csv").is_file()
    main(["run", "--model", str(tiny_folder), "--config", str(p), "--out", str(out), "--seeds", "1"])
    assert not (out / "robustness.csv").exists() and not (out / "robustness.json").exists()
    assert 'id="robustness"' not in (out / "report.html").read_text()


def test_torchrun_two_ranks_give_the_same_robustness(run_a, tiny_folder, config_file, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    two = tmp_path / "two"
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                        "-m", "medmap", "run", "--model", str(tiny_folder), "--config", str(config_file),
                        "--out", str(two)], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    for name in ("robustness.csv", "robustness.json", "map.csv"):
        assert (run_a / name).read_bytes() == (two / name).read_bytes(), name
