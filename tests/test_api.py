"""The notebook API: medmap.map() on a tiny model and a user file of a new domain, the KnowledgeMap object,
medmap.load() of CLI-made and saved run folders, and comparison."""

import json

import numpy as np
import pandas as pd
import pytest

import medmap
from medmap.api import INTERVAL_COLUMNS, KnowledgeMap
from medmap.cli.main import main
from medmap.errors import MedmapError
from tiny import saved_tiny, tiny_model

SMALL = {"analyze": {"geometry": {"n_epochs": 20, "n_boot": 3, "workers": 1, "pca_dims": 8},
                     "causal": {"max_items": 6, "max_pairs": 4, "n_boot": 10}}}
ORGANS = {"liver": ["bilirubin", "albumin", "ALT", "AST", "GGT", "ALP"],
          "kidney": ["creatinine", "urea", "eGFR", "cystatin", "potassium", "phosphate"],
          "blood": ["haemoglobin", "platelets", "ferritin", "MCV", "INR", "fibrinogen"]}


@pytest.fixture(scope="module")
def labs_file(tmp_path_factory):
    """A domain no built-in resembles: lab tests labelled by organ system (declared in a header line)."""
    d = tmp_path_factory.mktemp("labs")
    rows = [{"domain_spec": {"name": "labs", "labels": {"organ": "categorical"}, "primary": "organ"}}]
    organs = list(ORGANS)
    for organ, tests in ORGANS.items():
        for t in tests:
            other = organs[(organs.index(organ) + 1) % 3]
            rows.append({"id": f"labs-{t}", "domain": "labs", "prompt": f"The lab test {t} mostly measures the",
                         "labels": {"organ": organ}, "answer": f" {organ}",
                         "pair": {"corrupted_prompt": f"The lab test {ORGANS[other][0]} mostly measures the",
                                  "clean_answer": f" {organ}", "corrupted_answer": f" {other}"}})
    f = d / "labs.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return f


@pytest.fixture(scope="module")
def km(labs_file):
    lm = tiny_model("llama")
    return medmap.map(lm, techniques=["geometry", "lesion", "patching"], concepts=labs_file, config=SMALL,
                      progress=False)


def test_map_of_a_new_domain_in_memory(km):
    assert isinstance(km, KnowledgeMap) and km.path is None
    assert list(km.scores.columns) == ["model", "n_layers", "domain", "technique", "metric", "layer", "value",
                                       "ci_low", "ci_high"]
    # the reference set's rows come along (the control of the causal techniques); it is not a lane of the map
    assert set(km.scores.domain) == {"labs", "reference"} and km.domains == ["labs"] and km.n_layers == 4
    assert "silhouette_umap.organ" in set(km.scores.metric)
    assert list(km.intervals.columns) == list(INTERVAL_COLUMNS)
    lanes = set(zip(km.layer_map.table.technique, km.layer_map.table.metric))
    assert ("geometry", "silhouette_umap.organ") in lanes and ("lesion", "logprob_drop@specific") in lanes
    assert "<table>" in km._repr_html_() and "tiny-llama" in km._repr_html_()


def test_plots_and_report(km, tmp_path):
    from matplotlib.figure import Figure

    assert isinstance(km.plot(), Figure)
    assert isinstance(km.plot(domain="labs", technique="lesion"), Figure)
    with pytest.raises(MedmapError, match="no domain 'age'"):
        km.plot(domain="age")
    page = km.report(tmp_path / "labs.html").read_text()
    assert "Knowledge map" in page and "labs" in page


def test_save_load_roundtrip_and_compare(km, tmp_path):
    km.save(tmp_path / "run")
    back = medmap.load(tmp_path / "run")
    pd.testing.assert_frame_equal(back.scores, km.scores, check_dtype=False)
    pd.testing.assert_frame_equal(back.intervals, km.intervals, check_dtype=False)
    assert back.path == tmp_path / "run"
    res = km.compare(back, out=tmp_path / "cmp")  # two runs of one model: told apart as '<model> #k'
    assert {"depth_table", "differences", "summary"} <= set(res)
    assert set(res["summary"]) == {"tiny-llama #1", "tiny-llama #2"}
    assert all(d["jaccard"] == 1 or d["jaccard"] != d["jaccard"] for d in res["differences"])
    assert (tmp_path / "cmp" / "compare.html").is_file()
    with pytest.raises(MedmapError, match="not a medmap run folder"):
        medmap.load(tmp_path / "cmp")


def test_load_reads_a_cli_run_folder(tmp_path, labs_file):
    folder = saved_tiny(tmp_path / "model")
    cfg = tmp_path / "run.yaml"
    import yaml

    cfg.write_text(yaml.safe_dump({**SMALL, "techniques": ["geometry", "lesion"]}))
    main(["run", "--model", str(folder), "--concepts", str(labs_file), "--config", str(cfg),
          "--out", str(tmp_path / "cli")])
    k = medmap.load(tmp_path / "cli")
    assert set(k.scores.technique) == {"geometry", "lesion"} and k.findings_doc["model"]
    assert np.isfinite(k.scores.value).any()
    assert list(k.findings.columns[:3]) == ["id", "domain", "title"]
