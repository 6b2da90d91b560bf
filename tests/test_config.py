"""The run config validates itself: every bad value is a ConfigError naming the key path, before any
model loads; cache keys and digests of unchanged options are those of earlier versions."""

import hashlib
import json
from dataclasses import asdict, replace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from medmap.analyses.causal import CausalOptions
from medmap.analyses.geometry import GeometryOptions
from medmap.analyses.judge import JudgeOptions, OpenAIJudge
from medmap.analyses.runner import AnalyzeOptions
from medmap.config import MAX_CONFIG_NODES, RunConfig, config_from_dict, load_config
from medmap.errors import ConfigError
from medmap.maps import MapRules
from medmap.pipeline import RunConfig as PipelineRunConfig
from medmap.pipeline import load_config as pipeline_load_config

# key path in the message  <-  bad config
BAD = [
    ("domains: must be a list", {"domains": 5}),
    ("seed: must be an integer", {"seed": "abc"}),
    ("seed: must be an integer", {"seed": 1.7}),
    ("seed: must be an integer", {"seed": True}),
    ("seed: must be >= 0", {"seed": -1}),
    ("analyze: must be a mapping", {"analyze": [1, 2]}),
    ("analyze.geometry: must be a mapping", {"analyze": {"geometry": "fast"}}),
    ("map_rules: must be a mapping", {"map_rules": [1, 2]}),
    ("map_rules.percentile: must be a number", {"map_rules": {"percentile": "high"}}),
    ("map_rules.percentile: must be <= 100", {"map_rules": {"percentile": 101}}),
    ("map_rules.sigma: must be a finite number", {"map_rules": {"sigma": float("inf")}}),
    ("analyze.causal.batch_size: must be >= 1", {"analyze": {"causal": {"batch_size": 0}}}),
    ("analyze.causal.saliency_stat: must be one of", {"analyze": {"causal": {"saliency_stat": "nope"}}}),
    ("analyze.geometry.n_neighbors: must be >= 2 (got -1)", {"analyze": {"geometry": {"n_neighbors": -1}}}),
    ("analyze.causal.max_items: must be >= 0", {"analyze": {"causal": {"max_items": -5}}}),
    ("domains: names 'dosage' more than once", {"domains": ["dosage", "dosage"]}),
    ("domains: unknown domain(s) bogus", {"domains": ["age", "bogus"]}),
    ("techniques: must have at least 1", {"techniques": []}),
    ("techniques[0]: must be one of", {"techniques": "geometry_x"}),
    ("dtype: must be one of", {"dtype": "int8"}),
    ("device_map: is not valid JSON", {"device_map": "{bad"}),
    ("max_memory: max_memory", {"max_memory": "0:1"}),
    ("analyze.judge.kind: must be one of", {"analyze": {"judge": {"kind": "gpt"}}}),
    ("analyze.judge.layers[1]: must be >= 0", {"analyze": {"judge": {"layers": [1, -2]}}}),
    ("analyze.judge.url: must start with http", {"analyze": {"judge": {"url": "ftp://x/v1"}}}),
    ("analyze.pooling: must be one of", {"analyze": {"pooling": "max"}}),
    ("analyze.geometry.n_neigbors: unknown option; allowed: n_neighbors", {"analyze": {"geometry": {"n_neigbors": 5}}}),
    ("bogus: unknown option", {"bogus": 1}),
    ("seeds: must be >= 1", {"seeds": 0}),
    ("paraphrases: must be true or false", {"paraphrases": "yes"}),
    ("trust_remote_code: must be true or false", {"trust_remote_code": "yes"}),
    ("model: must not be empty", {"model": ""}),
]


@pytest.mark.parametrize("needle, bad", BAD, ids=[b[0].split(":")[0] for b in BAD])
def test_bad_config_names_the_key_path(needle, bad):
    with pytest.raises(ConfigError) as e:
        config_from_dict(bad, "run.yaml")
    msg = str(e.value)
    assert msg.startswith("run.yaml: ") and needle in msg, msg
    assert "\n" not in msg and "Traceback" not in msg


def test_command_line_values_name_the_flag(tmp_path):
    with pytest.raises(ConfigError, match=r"^--seed: must be >= 0 \(got -1\)$"):
        load_config(None, {"seed": -1})
    p = tmp_path / "run.yaml"
    p.write_text("analyze: {geometry: {n_neighbors: -1}}\n")
    with pytest.raises(ConfigError, match=rf"^{p}: analyze.geometry.n_neighbors: must be >= 2 \(got -1\)$"):
        load_config(p, {"seed": None})


def test_top_level_seed_seeds_every_technique_unless_given():
    cfg = config_from_dict({"seed": 7, "analyze": {"causal": {"seed": 2}}})
    assert (cfg.analyze.geometry.seed, cfg.analyze.causal.seed, cfg.analyze.judge.seed) == (7, 2, 7)
    assert config_from_dict({"seed": 5}).analyze.geometry.seed == 5


def test_option_classes_validate_on_construction_and_replace():
    for make in (lambda: GeometryOptions(n_neighbors=1), lambda: CausalOptions(patch_positions="some"),
                 lambda: JudgeOptions(timeout_s=0), lambda: MapRules(min_run=0),
                 lambda: AnalyzeOptions(capture_batch_size=0), lambda: replace(GeometryOptions(), seed=-3)):
        with pytest.raises(ConfigError):
            make()


# The cache keys of unchanged options must not change: these are the option dicts of the versions
# before the options validated themselves (written out, not computed).
OLD_GEOMETRY = {"n_neighbors": 15, "min_dist": 0.1, "umap_metric": "euclidean", "n_epochs": 200, "metric_dims": 30,
                "pca_dims": 50, "n_boot": 30, "knn_k": 5, "anisotropy_k": 20, "collapse_ratio": 0.5, "workers": 0,
                "seed": 0, "backend": "umap-learn"}
OLD_CAUSAL = {"saliency_stat": "mean_abs", "saliency_group": 8, "batch_size": 16, "max_items": 48, "max_pairs": 40,
              "patch_positions": "last", "per_position": 0, "min_gap": 0.1, "n_boot": 200, "seed": 0}
OLD_JUDGE = {"kind": "none", "model": None, "url": None, "api_key_env": "OPENAI_API_KEY", "max_items": 16,
             "layers": None, "max_new_tokens": 32, "timeout_s": 60, "seed": 0, "n_boot": 200}
OLD_CONFIG = {"model": "smollm2-135m", "domains": ["age", "symptoms", "diseases", "progression", "drugs", "dosage"],
              "techniques": ["geometry", "saliency", "lesion", "patching"], "concepts": None, "dtype": "float32",
              "device_map": None, "seed": 0,
              "analyze": {"pooling": "last", "capture_batch_size": 32, "geometry": OLD_GEOMETRY, "causal": OLD_CAUSAL,
                          "judge": OLD_JUDGE},
              "map_rules": {}}


def _json(d):
    return json.dumps(d, sort_keys=True, default=str)


# The geometry's controls (issue 11) and item selection (neutral templates) changed what the geometry
# computes, so its options gained these keys (and its cache entries are recomputed); the others are as before.
NEW_GEOMETRY = {**OLD_GEOMETRY, "templates": "neutral", "per_template": True, "n_perm": 200, "lexical": True,
                "lexical_kind": "embedding", "probes": True, "probe_folds": 5, "probe_c": 1.0, "collapse_top_k": 3,
                "map_curve": "umap"}


def test_cache_keys_of_unchanged_options_are_unchanged():
    assert _json(asdict(GeometryOptions())) == _json(NEW_GEOMETRY)
    assert _json(asdict(CausalOptions())) == _json(OLD_CAUSAL)
    assert _json(asdict(JudgeOptions())) == _json(OLD_JUDGE)
    g = GeometryOptions(min_dist=0, n_neighbors=10)  # an int stays an int: same JSON as before
    assert _json(asdict(g)) == _json({**NEW_GEOMETRY, "min_dist": 0, "n_neighbors": 10})


# The specificity control (analyze.reference) and the lens (a default technique) changed every run's
# results, so they count in the digest: runs of earlier versions are recomputed (their cached geometry is
# reused, its cache key holds neither). Every other key is as before.
# The geometry's new options count too (above); an empty ``controls`` is left out of the digest.
CURRENT_CONFIG = {**OLD_CONFIG, "techniques": OLD_CONFIG["techniques"] + ["lens"],
                  "analyze": {**OLD_CONFIG["analyze"], "geometry": NEW_GEOMETRY, "reference": True}}


def test_default_digest_is_that_of_earlier_versions():
    old = hashlib.sha256(_json(CURRENT_CONFIG).encode()).hexdigest()  # placement popped, robustness at defaults
    assert RunConfig().digest() == old
    assert RunConfig().digest(robustness=False) == old


def test_placement_and_trust_remote_code_are_not_hashed():
    base = config_from_dict({})
    for placed in ({"device_map": "auto"}, {"device_map": '{"": "cpu"}'}, {"max_memory": {0: "1GiB"}},
                   {"offload_folder": "/tmp/o", "device_map": "auto"}, {"trust_remote_code": True}):
        cfg = config_from_dict(placed)
        assert cfg.digest() == base.digest(), placed
    assert config_from_dict({"trust_remote_code": True}).trust_remote_code is True
    assert config_from_dict({"dtype": "bfloat16"}).digest() != base.digest()


def test_identity_uses_concept_content_model_and_version():
    cfg = RunConfig(concepts="/some/where.jsonl")
    moved = RunConfig(concepts="/elsewhere/where.jsonl")
    a = cfg.identity({"age": "h1"}, "m1")
    assert a == moved.identity({"age": "h1"}, "m1")  # the path does not count, the content does
    assert a != cfg.identity({"age": "h2"}, "m1")
    assert a != cfg.identity({"age": "h1"}, "m2")


def test_domains_default_to_the_concept_file_s():
    cfg = config_from_dict({"concepts": "x.jsonl"})
    assert cfg.domains is None and cfg.to_dict()["domains"] is None
    assert config_from_dict({}).to_dict()["domains"] == list(OLD_CONFIG["domains"])
    assert config_from_dict({"domains": "age, drugs"}).domains == ("age", "drugs")


def test_round_trip_through_config_json():
    cfg = config_from_dict({"seed": 3, "domains": ["age"], "map_rules": {"sigma": 2},
                            "analyze": {"geometry": {"n_neighbors": 5}}})
    again = config_from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.digest() == cfg.digest()
    assert cfg.to_dict()["map_rules"] == {"sigma": 2}


def test_pipeline_reexports():
    assert PipelineRunConfig is RunConfig and pipeline_load_config is load_config


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines.append("max_memory: {0: *a11}")
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=f"more than {MAX_CONFIG_NODES} values"):
        load_config(p, {})


def test_deep_nesting_is_refused(tmp_path):
    p = tmp_path / "deep.yaml"
    p.write_text("device_map: " + "[" * 60 + "]" * 60 + "\n")
    with pytest.raises(ConfigError, match="nests deeper"):
        load_config(p, {})


def test_python_tags_and_bad_yaml_are_refused(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("model: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p, {})
    p.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(p, {})


def test_judge_url_with_credentials_is_refused_and_never_echoed():
    secret = "s3cr3t-key"
    with pytest.raises(ConfigError) as e:
        config_from_dict({"analyze": {"judge": {"kind": "openai", "url": f"https://user:{secret}@api.example/v1"}}})
    assert "analyze.judge.url" in str(e.value) and secret not in str(e.value)
    with pytest.raises(ConfigError) as e:
        OpenAIJudge(f"https://user:{secret}@api.example/v1", "m")
    assert secret not in str(e.value)
    cfg = config_from_dict({"analyze": {"judge": {"kind": "openai", "url": "https://api.example/v1", "model": "m"}}})
    assert "api_key" not in json.dumps(cfg.to_dict()).replace("api_key_env", "")


# -- any config: a clear error or a config, never anything else ------------------------------------

KEYS = ["model", "domains", "techniques", "seed", "seeds", "paraphrases", "dtype", "device_map", "max_memory",
        "analyze", "map_rules", "concepts", "trust_remote_code", "bogus"]
SUBKEYS = ["geometry", "causal", "judge", "pooling", "n_neighbors", "sigma", "percentile", "url", "layers",
           "batch_size", "min_dist", "kind"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=8), st.sampled_from(["age", "auto", "{", "0=1GiB", "http://u:p@h", "last"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.sampled_from(SUBKEYS), inner, max_size=4)),
                      max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6))
@example({"analyze": {"geometry": {"n_neighbors": -1}}})
@example({"domains": ["dosage", "dosage"]})
@example({"map_rules": {"sigma": 1e308, "percentile": float("nan")}})
@example({"max_memory": {"cpu": {"a": 1}}})
def test_any_config_is_accepted_or_refused_with_one_line(d):
    try:
        cfg = config_from_dict(d, "cfg.yaml")
    except ConfigError as e:
        assert str(e).startswith("cfg.yaml: ") and "\n" not in str(e)
    else:
        assert isinstance(cfg, RunConfig)
        json.dumps(cfg.to_dict())  # always serialisable: config.json can be written
        cfg.digest()
