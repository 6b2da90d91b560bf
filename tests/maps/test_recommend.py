"""Layer recommendations: the rule on planted curves (specific curves win over raw ones, agreement
votes, tie-breaks, weights, goals), the fallback to raw curves that says so, the exports (JSON, YAML,
PEFT) and a PEFT config that loads and trains only the named layers of a tiny model."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from medmap.api import KnowledgeMap, load
from medmap.cli.main import main
from medmap.errors import ConfigError, MedmapError
from medmap.maps import MapRules, build_map
from medmap.maps.recommend import COLUMNS, RecommendOptions, peft_config, recommend, to_records
from tiny import saved_tiny, tiny_model

N = 12


def rows(domain, technique, metric, values, spread=0.05):
    return [{"model": "m", "n_layers": N, "domain": domain, "technique": technique, "metric": metric, "layer": l,
             "value": float(v), "ci_low": float(v) - spread, "ci_high": float(v) + spread}
            for l, v in enumerate(values)]


def bump(at, base=0.0, height=1.0):
    v = np.full(N, base)
    v[list(at)] = height
    return v


def planted(specific=True) -> pd.DataFrame:
    """dosage: the raw causal curves peak where every task does (layers 0-1); the specific curves
    (domain minus reference) peak at 6-8. Geometry rises fastest at 2-4."""
    out = []
    for d in ("dosage", "drugs"):
        out += rows(d, "lesion", "logprob_drop", bump([0, 1], 0.1, 3.0))
        out += rows(d, "saliency", "mean_abs.both", bump([0, 1], 0.1, 2.0))
        out += rows(d, "patching", "recovery", bump([0, 1, 2], 0.0, 1.0))
        geo = np.r_[np.zeros(2), np.linspace(0, 0.6, 4), np.full(N - 6, 0.6)]
        out += rows(d, "geometry", "silhouette_umap.unit", geo)
        if specific:
            where = [6, 7] if d == "dosage" else [9, 10]
            out += rows(d, "lesion", "logprob_drop@specific", bump(where, 0.0, 1.0))
            out += rows(d, "saliency", "mean_abs.both@specific", bump([5, 6, 7], 0.0, 0.5))
            out += rows(d, "patching", "recovery@specific", bump([6, 7, 8], 0.0, 0.8))
    return pd.DataFrame(out)


@pytest.fixture
def km():
    scores = planted()
    return KnowledgeMap(layer_map=build_map(scores), scores=scores)


def test_specific_curves_put_the_agreeing_layers_first(km):
    rec = km.recommend("unlearn", "dosage", budget=3)
    assert list(rec.columns) == list(COLUMNS) and list(rec["rank"]) == [1, 2, 3]
    assert set(rec["layer"][:2]) == {6, 7}  # covered by all three specific curves
    assert rec["votes"].iloc[0] == 3
    assert rec.attrs["notes"] == []
    ev = rec["evidence"].iloc[0]
    assert {e["technique"] for e in ev} == {"lesion", "saliency", "patching"}
    assert all(e["curve"] == "specific" and e["metric"].endswith("@specific") for e in ev)
    assert "logprob_drop@specific" in rec["reasons"].iloc[0]
    assert not set(rec["layer"]) & {0, 1}  # the generic layers of the raw curves are not recommended


def test_without_specific_rows_raw_curves_are_used_and_said(km):
    scores = planted(specific=False)
    raw = KnowledgeMap(layer_map=build_map(scores), scores=scores)
    rec = raw.recommend("unlearn", ["dosage"], budget=2)
    assert set(rec["layer"]) == {0, 1}
    assert len(rec.attrs["notes"]) == 3 and all("@specific rows" in n and "raw" in n for n in rec.attrs["notes"])
    assert all(e["curve"] == "raw" for e in rec["evidence"].iloc[0])
    with pytest.raises(MedmapError, match="nothing to recommend"):
        raw.recommend("unlearn", "dosage", curves="specific")
    # curves="raw" ignores the specific rows even where present
    assert set(km.recommend("unlearn", "dosage", budget=2, curves="raw")["layer"]) == {0, 1}


def test_rule_table_votes_then_strength_then_layer():
    """Hand-computed ranking (sigma 0, 80th percentile): lesion covers 2-3, saliency 3-4, patching 3-5."""
    n = 10

    def r(t, m, at, h=1.0):
        v = np.zeros(n)
        v[at] = h
        # CIs of +-0.1: the planted layers' specific CIs lie above zero, so the map draws these lanes
        return [{"model": "m", "n_layers": n, "domain": "x", "technique": t, "metric": m, "layer": l, "value": v[l],
                 "ci_low": v[l] - 0.1, "ci_high": v[l] + 0.1} for l in range(n)]

    scores = pd.DataFrame(r("lesion", "logprob_drop@specific", [2, 3]) + r("saliency", "mean_abs.both@specific", [3, 4])
                          + r("patching", "recovery@specific", [3, 4, 5]) + r("lesion", "logprob_drop", [0, 1])
                          + r("saliency", "mean_abs.both", [0, 1]) + r("patching", "recovery", [0, 1]))
    lmap = build_map(scores, MapRules(sigma=0, percentile=80))
    rec = recommend(lmap, scores, "unlearn", budget=0)
    assert list(rec["layer"][:5]) == [3, 4, 2, 5, 0]
    assert list(rec["votes"][:5]) == [3, 2, 1, 1, 0]
    # L2 and L5 have one vote and the same mean strength (1/3): the lower layer first
    assert rec["effect"].iloc[2] == pytest.approx(1 / 3) and rec["effect"].iloc[3] == pytest.approx(1 / 3)
    assert len(rec) == n and sorted(rec["layer"]) == list(range(n))
    # with lesion's votes weighted 0, L2 has none left and falls behind L5 (which patching covers)
    w = recommend(lmap, scores, "unlearn", budget=0, weights={"lesion": 0.0})
    assert list(w["layer"][:3]) == [3, 4, 5] and w["votes"].iloc[0] == 2
    assert "no interval covers it" in rec["reasons"].iloc[-1]


def test_finetune_adds_where_the_domain_is_represented(km):
    ft = km.recommend("finetune", "dosage", budget=0)
    un = km.recommend("unlearn", "dosage", budget=0)
    geo_ft = {e["technique"] for ev in ft["evidence"] for e in ev}
    geo_un = {e["technique"] for ev in un["evidence"] for e in ev}
    assert "geometry" in geo_ft and "geometry" not in geo_un
    cover = [e for ev in ft["evidence"] for e in ev if e["technique"] == "geometry"]
    assert {(e["start"], e["end"]) for e in cover} == {(2, 4)} or {(e["start"], e["end"]) for e in cover} == {(3, 5)}


def test_several_domains_add_their_votes(km):
    rec = km.recommend("unlearn", ["dosage", "drugs"], budget=0)
    doms = {e["domain"] for ev in rec["evidence"] for e in ev}
    assert doms == {"dosage", "drugs"}
    # L6-7: dosage's three intervals + drugs' saliency and patching. L8: the two patching intervals only:
    # drugs' lesion top run (8-11 after smoothing) keeps just 9-10, its layers whose CI lies above 0
    assert set(rec["layer"][:2]) == {6, 7} and list(rec["votes"][:2]) == [5, 5]
    votes = rec.set_index("layer")["votes"]
    assert votes[8] == 2 and votes[9] == votes[10] == 1 and votes[11] == 0


def test_bad_requests_are_one_line_errors(km):
    with pytest.raises(ConfigError, match="goal"):
        km.recommend("debias", "dosage")
    with pytest.raises(MedmapError, match="no domain 'age'"):
        km.recommend("unlearn", "age")
    with pytest.raises(ConfigError, match="budget 13"):
        km.recommend("unlearn", "dosage", budget=13)
    with pytest.raises(ConfigError, match="curves"):
        RecommendOptions(curves="smooth")
    geo = planted()
    geo = geo[geo.technique == "geometry"]
    with pytest.raises(MedmapError, match="nothing to recommend"):
        KnowledgeMap(layer_map=build_map(geo), scores=geo).recommend("unlearn", "dosage")


def test_records_are_plain_json(km):
    rec = km.recommend("unlearn", "dosage", budget=2)
    doc = to_records(rec)
    assert doc["layers"] == list(rec["layer"]) and doc["goal"] == "unlearn" and doc["domains"] == ["dosage"]
    json.dumps(doc)  # no numpy or pandas objects left


# peft reads transformers' deprecated is_gradient_checkpointing (their call, not medmap's)
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_peft_config_loads_and_trains_only_the_named_layers():
    import peft
    import torch

    lm = tiny_model("llama")
    from medmap.models.registry import lora_targets

    pattern, targets = lora_targets(lm.model.config.model_type)
    cfg = json.loads(json.dumps(peft_config([3, 1], targets, pattern, r=4)))
    lc = peft.LoraConfig(**cfg)
    assert lc.layers_to_transform == [1, 3]
    model = peft.get_peft_model(tiny_model("llama").model, lc)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    layers = {int(n.split(".layers.")[1].split(".")[0]) for n in trainable}
    assert layers == {1, 3}
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable} == set(targets)
    # one training step changes weights of layers 1 and 3 only
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    ids = torch.randint(3, 300, (2, 12))
    for _ in range(2):  # LoRA B starts at zero: the second step moves A too
        opt.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= set(trainable)
    assert {int(n.split(".layers.")[1].split(".")[0]) for n in changed} == {1, 3}
    merged = model.merge_and_unload()
    base = tiny_model("llama").model
    diff = {n.split(".")[2] for n, p in merged.named_parameters()
            if not torch.allclose(p, dict(base.named_parameters())[n])}
    assert diff == {"1", "3"}


def _saved_run(tmp_path, provenance=None, config=None):
    scores = planted()
    km = KnowledgeMap(layer_map=build_map(scores), scores=scores, provenance=provenance, config=config)
    return km.save(tmp_path / "run")


def test_cli_formats(tmp_path, capsys):
    run = _saved_run(tmp_path, provenance={"architecture": {"model_type": "llama", "layers_pattern": "layers",
                                                            "lora_targets": ["q_proj", "v_proj"]}})
    main(["recommend", str(run), "--goal", "unlearn", "--domains", "dosage", "--budget", "2", "--format", "peft"])
    cfg = json.loads(capsys.readouterr().out)
    import peft

    lc = peft.LoraConfig(**cfg)
    assert sorted(lc.layers_to_transform) == [6, 7] and set(lc.target_modules) == {"q_proj", "v_proj"}
    main(["recommend", str(run), "--goal", "unlearn", "--domains", "dosage", "--budget", "2", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert sorted(doc["layers"]) == [6, 7] and doc["ranking"][0]["evidence"]
    main(["recommend", str(run), "--goal", "finetune", "--budget", "3", "--format", "yaml"])
    assert len(yaml.safe_load(capsys.readouterr().out)["layers"]) == 3
    main(["recommend", str(run), "--goal", "unlearn", "--weights", "lesion=2"])
    out = capsys.readouterr()
    assert "L6" in out.err + out.out and "rule:" in out.err + out.out
    with pytest.raises(SystemExit):
        main(["recommend", str(run), "--goal", "unlearn", "--weights", "lesion"])


def test_peft_targets_from_the_models_config(tmp_path):
    """A run without the architecture in its provenance: the model's config names its type, the
    architecture table its LoRA targets."""
    folder = saved_tiny(tmp_path / "gpt2", "gpt2")
    km = load(_saved_run(tmp_path, config={"model": str(folder)}))
    cfg = km.to_peft(goal="unlearn", domains="dosage", budget=2)
    assert cfg["target_modules"] == ["c_attn", "c_proj", "c_fc"] and cfg["layers_pattern"] == "h"
    bare = load(_saved_run(tmp_path / "bare"))
    with pytest.raises(MedmapError, match="target_modules"):
        bare.to_peft(goal="unlearn", budget=2)
    assert bare.to_peft(goal="unlearn", budget=2, target_modules=["x"])["target_modules"] == ["x"]


def test_a_pipeline_run_records_the_architecture(tmp_path):
    import medmap

    from test_api import SMALL  # noqa: F401 (same small settings)

    km = medmap.map(tiny_model("gpt2"), domains=["dosage"], techniques=["lesion"], config=SMALL, progress=False)
    assert km.provenance["architecture"]["lora_targets"] == ["c_attn", "c_proj", "c_fc"]
    cfg = km.to_peft(goal="unlearn", budget=2)
    assert len(cfg["layers_to_transform"]) == 2 and cfg["layers_pattern"] == "h"


def test_importing_medmap_does_not_import_peft():
    code = ("import sys, medmap, medmap.api, medmap.maps, medmap.maps.recommend, medmap.cli.main; "
            "assert 'peft' not in sys.modules, 'peft imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
