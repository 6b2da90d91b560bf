"""End-to-end runs on a tiny random model saved as a local Hugging Face folder."""

import json

import pytest
import yaml

from medmap.cli.main import main
from tiny import saved_tiny

CONFIG = {
    "domains": ["age", "symptoms"],
    "concepts": None,  # set by the fixture: a small subset of the built-in sets
    "analyze": {"geometry": {"n_epochs": 30, "n_boot": 5, "workers": 1, "pca_dims": 10},
                "causal": {"max_items": 8, "max_pairs": 6, "n_boot": 20, "per_position": 2}},
}


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny-llama")
    return saved_tiny(d)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    from medmap.concepts import load_builtin, to_jsonl

    d = tmp_path_factory.mktemp("cfg")
    age = load_builtin("age").subset(lambda it: it.template == "t0" and it.labels["age"] % 2 == 0)
    sym = load_builtin("symptoms").subset(lambda it: it.template == "t0")
    (d / "small.jsonl").write_text(to_jsonl(age) + to_jsonl(sym))
    p = d / "run.yaml"
    p.write_text(yaml.safe_dump({**CONFIG, "concepts": str(d / "small.jsonl")}))
    return p


def test_run_writes_everything_and_is_deterministic(tiny_folder, config_file, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    main(["run", "--model", str(tiny_folder), "--config", str(config_file), "--out", str(a)])
    for f in ("config.json", "provenance.json", "scores.csv", "map.csv", "map.json", "findings.json",
              "embeddings/age.json", "DONE.json", "figures/patching_positions.png"):
        assert (a / f).is_file(), f
    assert "per layer and position" in (a / "report.html").read_text()
    times = json.loads((a / "stage_times.json").read_text())  # a geometry stage's capture is timed apart
    assert {"age/capture", "age/geometry", "symptoms/capture", "age/lesion"} <= set(times)
    assert all(v >= 0 for v in times.values())
    main(["run", "--model", str(tiny_folder), "--config", str(config_file), "--out", str(a)])
    assert "already finished with this configuration" in " ".join(capsys.readouterr().err.split())
    main(["run", "--model", str(tiny_folder), "--config", str(config_file), "--out", str(b)])
    assert (a / "map.csv").read_bytes() == (b / "map.csv").read_bytes()
    assert (a / "scores.csv").read_bytes() == (b / "scores.csv").read_bytes()


def test_corrupted_cache_entry_is_recomputed(tiny_folder, config_file, tmp_path):
    out = tmp_path / "r"
    main(["run", "--model", str(tiny_folder), "--config", str(config_file), "--out", str(out)])
    before = (out / "map.csv").read_bytes()
    victim = next((out / "cache" / "lesion").glob("*/scores.csv"))
    victim.write_text(victim.read_text()[:50])  # truncated
    (out / "DONE.json").unlink()
    main(["run", "--model", str(tiny_folder), "--config", str(config_file), "--out", str(out)])
    assert (out / "map.csv").read_bytes() == before


def test_unknown_config_option_is_rejected(tiny_folder, tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text("analyze: {geometry: {n_neigbors: 5}}\n")
    with pytest.raises(SystemExit):
        main(["run", "--model", str(tiny_folder), "--config", str(p), "--out", str(tmp_path / "x")])
    assert "n_neigbors" in capsys.readouterr().err
