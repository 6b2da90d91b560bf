"""The table of domain facts: built-in entries, declared and inferred specs, and geometry that branches on
label kinds rather than domain names."""

import json

import numpy as np
import pytest

from medmap.analyses.geometry import GeometryOptions, geometry
from medmap.concepts import (ConceptSet, builtin_spec, builtin_specs, default_domains, infer_spec, load_file,
                             metric_problems, parse_jsonl, spec_from_dict, validate_sets)
from medmap.errors import ConceptError
from medmap.maps import PRIMARY_METRICS, build_map


def test_builtin_table_gives_the_paper_map_metrics():
    got = {d: s.primary_metric for d, s in builtin_specs().items()}
    assert got == {"age": "r2_umap.age", "symptoms": "silhouette_umap.category",
                   "diseases": "silhouette_umap.category", "progression": "spearman.stage",
                   "drugs": "silhouette_umap.specialty", "dosage": "silhouette_umap.unit",
                   "reference": "silhouette_umap.category"}
    assert "reference" not in default_domains()
    assert builtin_spec("progression").label("stage").within == "disease"
    assert PRIMARY_METRICS[("drugs", "geometry")] == "silhouette_umap.specialty"
    assert PRIMARY_METRICS[("drugs", "lesion")] == "logprob_drop"


@pytest.mark.parametrize("name, d, needle", [
    ("labs", {"labels": {"organ": "nominal"}}, "labels.organ"),
    ("labs", {"labels": {"organ": "categorical"}, "primary": "value"}, "primary 'value'"),
    ("labs", {"labels": {"v": "continuous", "g": {"kind": "ordinal", "within": "v"}}}, "within 'v'"),
    ("labs", {"labels": {"v": "categorical"}, "split_by": "w"}, "split_by 'w'"),
    ("labs", {"labels": {"v": {"kind": "categorical", "boundaries": [3]}}}, "boundaries"),
    ("labs", {"labels": {}, "colour": "red"}, "colour"),
    ("../x", {}, "domain name"),
    ("labs", {"unknown_key": 1}, "unknown_key"),
])
def test_bad_specs_are_one_line_errors_naming_the_key(name, d, needle):
    with pytest.raises(ConceptError) as e:
        spec_from_dict(name, d, "f.jsonl, line 1")
    msg = str(e.value)
    assert needle in msg and "\n" not in msg


def _items(labels_list, domain="labs"):
    rows = [{"id": f"i{k}", "domain": domain, "prompt": f"Item {k}.", "labels": lab}
            for k, lab in enumerate(labels_list)]
    return parse_jsonl("\n".join(json.dumps(r) for r in rows), "mem")[0]


def test_inference_by_label_values():
    labels = [{"organ": ["liver", "kidney"][k % 2], "value": k, "grade": k % 3, "flag": k % 2 == 0,
               "rare": "x" if k == 0 else "y", **({"partial": 1} if k else {})} for k in range(30)]
    cs = _items(labels)
    spec = cs.spec
    kinds = {lab.name: lab.kind for lab in spec.labels}
    assert kinds == {"organ": "categorical", "value": "continuous", "grade": "ordinal", "flag": "categorical"}
    assert spec.primary == "organ" and spec.primary_metric == "silhouette_umap.organ"
    text = " ".join(spec.inferred)
    assert "not declared" in text and "'rare' left out" in text and "'partial' left out" in text
    assert spec == infer_spec("labs", cs.items)


def test_declared_header_and_yaml_beside_the_file(tmp_path):
    rows = [{"id": f"i{k}", "domain": "labs", "prompt": f"Item {k}.",
             "labels": {"organ": ["liver", "kidney"][k % 2], "value": k}} for k in range(12)]
    header = {"domain_spec": {"name": "labs", "labels": {"organ": "categorical", "value": "ordinal"},
                              "primary": "value"}}
    f = tmp_path / "labs.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in [header] + rows))
    (cs,) = load_file(f)
    assert cs.spec.label("value").kind == "ordinal" and cs.spec.primary_metric == "spearman.value"
    assert cs.spec.inferred == ()
    g = tmp_path / "other.jsonl"
    g.write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "other.domains.yaml").write_text("labs:\n  labels: {value: continuous}\n  primary: value\n")
    (cs2,) = load_file(g)
    assert cs2.spec.label("value").kind == "continuous" and cs2.spec.label("organ") is None
    f.write_text("\n".join(json.dumps(r) for r in [header, header] + rows))
    with pytest.raises(ConceptError, match="declared twice"):
        load_file(f)
    f.write_text("\n".join(json.dumps(r) for r in [{"domain_spec": {"name": "nothing", "labels": {}}}] + rows))
    with pytest.raises(ConceptError, match="no item has them"):
        load_file(f)


def test_declared_labels_are_validated_against_items():
    spec = spec_from_dict("labs", {"labels": {"organ": "categorical", "value": "continuous"}, "primary": "organ"})
    items = _items([{"organ": "liver", "value": "high"}, {"organ": "liver", "value": 2},
                    {"organ": "kidney"}]).items
    probs = " | ".join(metric_problems(ConceptSet("labs", items, "mem", spec=spec)))
    assert "'value' is missing on 1 item" in probs
    with pytest.raises(ConceptError, match="labs"):
        validate_sets([ConceptSet("labs", items, "mem", spec=spec)])


def _planted(n_per=12, d=16, seed=0):
    """Activations [items, layers+1, d]: layer 2 (index 3) separates `organ` and orders `value`."""
    rng = np.random.default_rng(seed)
    organ = np.repeat(["liver", "kidney", "lung"], n_per)
    value = np.tile(np.arange(n_per), 3)
    acts = rng.normal(size=(len(organ), 4, d))
    acts[:, 3, :3] += 6 * (organ[:, None] == np.array(["liver", "kidney", "lung"]))
    acts[:, 3, 3] += value
    return acts, organ, value


def test_geometry_follows_label_kinds_not_domain_names():
    acts, organ, value = _planted()
    labels = [{"organ": str(o), "value": int(v)} for o, v in zip(organ, value)]
    o = GeometryOptions(n_epochs=30, n_boot=4, workers=1, pca_dims=8, metric_dims=4)
    # a domain no built-in resembles
    cs = _items(labels)
    df, _ = geometry(acts.astype(np.float32), cs, model="m", options=o)
    metrics = set(df.metric)
    assert {"silhouette_umap.organ", "knn_acc.organ", "r2_umap.value", "anisotropy.value"} <= metrics
    sil = df[df.metric == "silhouette_raw.organ"].set_index("layer").value
    assert sil[2] > 0.3 and sil[0] < 0.1  # planted at layer 2 only
    # the same data under a built-in name but declared as categorical only: no age metrics at all
    spec = spec_from_dict("age", {"labels": {"organ": "categorical"}, "primary": "organ"})
    df2, _ = geometry(acts.astype(np.float32), ConceptSet("age", cs.items, "mem", spec=spec), model="m", options=o)
    assert not any(m.startswith(("r2_", "boundary", "anisotropy")) for m in df2.metric)
    # the map of a new domain uses the spec's primary metric when it is passed
    kmap = build_map(df, primary={("labs", "geometry"): cs.spec.primary_metric})
    assert set(kmap.table.metric) == {"silhouette_umap.organ"}
