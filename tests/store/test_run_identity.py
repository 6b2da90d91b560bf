"""A finished run is "already finished" only for the same inputs: options, concept contents (not the
file's path), model weights and results version. A changed input recomputes what it affects; outputs
of another config are never left behind; recomputed cache entries are reported."""

import json

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from medmap.cli.main import main
from medmap.concepts import load_builtin
from tiny import saved_tiny, small_run_config


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return saved_tiny(tmp_path_factory.mktemp("identity") / "model")


def _setup(tmp_path, techniques=("lesion",)):
    return small_run_config(tmp_path, techniques, geometry={"n_epochs": 20})


def _run(model_dir, cfg, out, capsys, *extra):
    main(["run", "--model", str(model_dir), "--config", str(cfg), "--out", str(out), *extra])
    return " ".join(capsys.readouterr().err.split())


def test_edited_concepts_are_recomputed_not_reported_stale(model_dir, tmp_path, capsys):
    cfg, out = _setup(tmp_path), tmp_path / "run"
    _run(model_dir, cfg, out, capsys)
    before = pd.read_csv(out / "scores.csv")
    old_prov = json.loads((out / "provenance.json").read_text())
    assert "already finished" in _run(model_dir, cfg, out, capsys)
    # every answer edited, same file, same path
    rows = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({**r, "answer": " banana"}) + "\n" for r in rows))
    err = _run(model_dir, cfg, out, capsys)
    assert "already finished" not in err and "outputs of an earlier run removed" in err
    after = pd.read_csv(out / "scores.csv")
    assert not after["value"].equals(before["value"])
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["concept_sets"]["symptoms"]["sha256"] != old_prov["concept_sets"]["symptoms"]["sha256"]
    assert prov["run_identity"] != old_prov["run_identity"]
    assert json.loads((out / "DONE.json").read_text())["run_identity"] == prov["run_identity"]
    # a deleted concept file is an error, not "already finished"
    (tmp_path / "c.jsonl").unlink()
    with pytest.raises(SystemExit) as e:
        main(["run", "--model", str(model_dir), "--config", str(cfg), "--out", str(out)])
    assert e.value.code == 2 and "no such concept file" in capsys.readouterr().err


def test_changed_weights_are_recomputed(tmp_path, capsys):
    model = saved_tiny(tmp_path / "model")
    cfg, out = _setup(tmp_path), tmp_path / "run"
    _run(model, cfg, out, capsys)
    before = pd.read_csv(out / "scores.csv")
    weights = load_file(str(model / "model.safetensors"))
    name = next(k for k in weights if "mlp" in k)
    weights[name] = weights[name] * 3
    save_file(weights, str(model / "model.safetensors"), metadata={"format": "pt"})
    assert "already finished" not in _run(model, cfg, out, capsys)
    assert not pd.read_csv(out / "scores.csv")["value"].equals(before["value"])


def test_outputs_of_another_config_are_removed(model_dir, tmp_path, capsys):
    cfg, out = _setup(tmp_path, ("geometry", "lesion")), tmp_path / "run"
    _run(model_dir, cfg, out, capsys)
    assert (out / "embeddings" / "symptoms.json").is_file()
    lesion_only = _setup(tmp_path, ("lesion",))
    _run(model_dir, lesion_only, out, capsys)
    assert not (out / "embeddings").exists()
    assert set(pd.read_csv(out / "scores.csv")["technique"]) == {"lesion"}
    assert 'id="umap"' not in (out / "report.html").read_text()


def test_recomputed_cache_entries_are_reported(model_dir, tmp_path, capsys):
    cfg, out = _setup(tmp_path), tmp_path / "run"
    _run(model_dir, cfg, out, capsys)
    victim = next((out / "cache" / "lesion").glob("*/scores.csv"))
    victim.write_text(victim.read_text()[:40])
    (out / "DONE.json").unlink()
    err = _run(model_dir, cfg, out, capsys)
    assert f"recomputed {victim.parent}: scores.csv does not match its sha256" in err
    done = json.loads((out / "DONE.json").read_text())
    assert done["recomputed"] == [{"path": str(victim.parent), "reason": "scores.csv does not match its sha256"}]


def test_results_version_is_part_of_identity_and_keys(monkeypatch, tmp_path):
    from medmap import config as config_module
    from medmap.config import RunConfig
    from medmap.store import Cache
    from medmap.store import cache as cache_module

    cfg = RunConfig()
    cache = Cache(tmp_path)
    v1_identity, v1_entry = cfg.identity({"age": "h"}, "m"), cache.entry("lesion", {"model": "m"})
    monkeypatch.setattr(config_module, "RESULTS_VERSION", config_module.RESULTS_VERSION + 1)
    monkeypatch.setattr(cache_module, "RESULTS_VERSION", config_module.RESULTS_VERSION + 1)
    assert cfg.identity({"age": "h"}, "m") != v1_identity
    assert cache.entry("lesion", {"model": "m"}) != v1_entry


def test_dtype_is_part_of_technique_keys(tiny_llama):
    from medmap.analyses.runner import AnalyzeOptions, technique_key
    from medmap.models import LoadedModel

    cs = load_builtin("symptoms")
    base = technique_key(tiny_llama, cs, "lesion", AnalyzeOptions())
    assert "dtype" not in base  # float32 keys are those of earlier versions
    half = LoadedModel(tiny_llama.model.to(torch.bfloat16), tiny_llama.tokenizer, tiny_llama.arch, tiny_llama.name,
                       tiny_llama.identity)
    try:
        assert technique_key(half, cs, "geometry", AnalyzeOptions())["dtype"] == "torch.bfloat16"
    finally:
        tiny_llama.model.to(torch.float32)
