"""The whole job: concept sets -> model -> techniques -> map -> findings -> figures and report.

A run folder holds the resolved config, provenance, the scores, the map, the findings, figures and
``report.html``; its ``cache/`` makes a killed run resume and a rerun recompute nothing. A run that has
finished writes ``DONE.json`` last; running the same config again only says so. With ``seeds`` > 1 or
``paraphrases`` it also maps the other seeds and each prompt template and writes ``robustness.csv`` /
``robustness.json`` (how much each interval moves). Prompt lengths are checked against the model's
context before any weights are loaded.

Under torchrun every rank loads its own copy of the model and takes its share of the sweeps; rank 0
alone writes the run folder and builds the map, findings, figures and report."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from medmap.analyses.causal import CausalOptions
from medmap.analyses.geometry import GeometryOptions
from medmap.analyses.runner import AnalyzeOptions
from medmap.techniques import TECHNIQUES
from medmap.concepts.domains import default_domains, domain_order
from medmap.errors import ConfigError

DOMAINS = default_domains()


@dataclass(frozen=True)
class RunConfig:
    model: str = "smollm2-135m"
    """Bundled model name, local HF folder, .gguf file, or hub id."""
    domains: tuple[str, ...] = DOMAINS
    """Domains to map."""
    techniques: tuple[str, ...] = TECHNIQUES
    """Techniques to run."""
    concepts: str | None = None
    """A user JSONL concept file instead of the built-in sets."""
    dtype: str = "float32"
    """float32, bfloat16 or float16."""
    device_map: Any = None
    """Passed to transformers/accelerate (e.g. 'auto') for models larger than one device."""
    max_memory: Any = None
    """Per-device memory for the device map, e.g. {0: '20GiB', cpu: '60GiB'} or '0=20GiB,cpu=60GiB'."""
    offload_folder: str | None = None
    """Where accelerate writes the weights a device map places on 'disk'."""
    cache: str | None = None
    """Folder of the content-addressed cache of stage results (default: ``cache/`` in the run folder); a
    shared one lets runs in other folders, and in-memory maps, reuse each other's results."""
    seed: int = 0
    """Seed of every random choice (UMAP, bootstrap, item sampling)."""
    seeds: int = 1
    """Robustness: with N > 1 the run also maps seeds seed+1 ... seed+N-1 and reports how much each
    interval moves across the N seeds (robustness.json/.csv). The main map always uses ``seed``."""
    paraphrases: bool = False
    """Robustness: also map each prompt template (the items' ``template`` field) on its own and report
    how much each interval moves across phrasings."""
    analyze: AnalyzeOptions = field(default_factory=AnalyzeOptions)
    map_rules: dict = field(default_factory=dict)
    """Overrides of the map rules (sigma, rise_window, percentile, min_run, max_runs)."""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["domains"], d["techniques"] = list(self.domains), list(self.techniques)
        return d

    @property
    def robustness(self) -> bool:
        return self.seeds > 1 or self.paraphrases

    def digest(self, robustness: bool = True) -> str:
        """Hash of the resolved config. Where the weights are kept never counts. With
        ``robustness=False`` (the run folder's name) the robustness options are left out, so adding
        ``--seeds`` to a run reuses its folder and cache; left at their defaults they never count, so
        configs written before they existed keep their digest."""
        d = self.to_dict()
        for k in _PLACEMENT:  # where the weights are kept does not change any result
            d.pop(k, None)
        if not (robustness and self.robustness):
            d.pop("seeds")
            d.pop("paraphrases")
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


_PLACEMENT = ("max_memory", "offload_folder", "cache")


def _check_keys(d: dict, allowed, where: str) -> None:
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def config_from_dict(d: dict, where: str = "config") -> RunConfig:
    d = dict(d or {})
    _check_keys(d, [f.name for f in fields(RunConfig)], where)
    an = dict(d.pop("analyze", {}) or {})
    _check_keys(an, [f.name for f in fields(AnalyzeOptions)], f"{where}: analyze")
    g = dict(an.pop("geometry", {}) or {})
    c = dict(an.pop("causal", {}) or {})
    j = dict(an.pop("judge", {}) or {})
    seed = int(d.get("seed", 0))
    _check_keys(g, [f.name for f in fields(GeometryOptions)], f"{where}: analyze.geometry")
    _check_keys(c, [f.name for f in fields(CausalOptions)], f"{where}: analyze.causal")
    from medmap.analyses.judge import JudgeOptions

    _check_keys(j, [f.name for f in fields(JudgeOptions)], f"{where}: analyze.judge")
    j.setdefault("seed", seed)
    if isinstance(j.get("layers"), list):
        j["layers"] = tuple(j["layers"])
    g.setdefault("seed", seed)
    c.setdefault("seed", seed)
    try:
        opts = AnalyzeOptions(geometry=GeometryOptions(**g), causal=CausalOptions(**c), judge=JudgeOptions(**j), **an)
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from None
    for key in ("domains", "techniques"):
        if key in d:
            v = d[key]
            d[key] = tuple(x.strip() for x in (v.split(",") if isinstance(v, str) else v))
    bad = [x for x in d.get("domains", ()) if x not in domain_order()]
    if bad and not d.get("concepts"):  # a user's concept file may name any domain
        raise ConfigError(f"{where}: unknown domain(s) {', '.join(bad)}; choose from {', '.join(domain_order())} "
                          "(or give a concept file with --concepts)")
    bad = [x for x in d.get("techniques", ()) if x not in TECHNIQUES]
    if bad:
        raise ConfigError(f"{where}: unknown technique(s) {', '.join(bad)}; choose from {', '.join(TECHNIQUES)}")
    if d.get("dtype", "float32") not in ("float32", "bfloat16", "float16"):
        raise ConfigError(f"{where}: dtype '{d['dtype']}' is not one of float32, bfloat16, float16")
    if isinstance(d.get("device_map"), str) and d["device_map"].lstrip().startswith("{"):
        try:
            d["device_map"] = json.loads(d["device_map"])
        except ValueError as e:
            raise ConfigError(f"{where}: device_map is not valid JSON ({e})") from None
    from medmap.maps import MapRules

    _check_keys(d.get("map_rules", {}) or {}, [f.name for f in fields(MapRules)], f"{where}: map_rules")
    seeds = d.get("seeds", 1)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"{where}: seeds must be an integer >= 1 (the number of seeds to map), got {seeds!r}")
    if not isinstance(d.get("paraphrases", False), bool):
        raise ConfigError(f"{where}: paraphrases must be true or false, got {d['paraphrases']!r}")
    return RunConfig(analyze=opts, **d)


def load_config(path: str | Path | None, overrides: dict) -> RunConfig:
    d: dict = {}
    if path:
        import yaml

        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: no such config file")
        try:
            d = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML ({e})") from None
        if not isinstance(d, dict):
            raise ConfigError(f"{p}: the config must be a mapping of options")
    d.update({k: v for k, v in overrides.items() if v is not None})
    return config_from_dict(d, str(path or "options"))


def default_run_dir(cfg: RunConfig) -> Path:
    name = Path(cfg.model).name.replace(".gguf", "") if cfg.model else "model"
    return Path("runs") / f"{name}-{cfg.digest(robustness=False)[:8]}"


def primary_overrides(cfg: RunConfig, sets) -> dict:
    """The map's metric where the tables' defaults do not apply: each set's own geometry metric (from its
    domain spec, so a new domain gets one) and the configured saliency statistic."""
    out = {(cs.domain, "geometry"): cs.spec.primary_metric for cs in sets if cs.spec.primary_metric}
    out[("*", "saliency")] = f"{cfg.analyze.causal.saliency_stat}.both"
    return out


def measure_robustness(cfg: RunConfig, kmap, v, rules, primary=None):
    """How much ``kmap``'s intervals move across the seed and template variants ``v``
    (:func:`medmap.analyses.variants.run_variants`); see :mod:`medmap.maps.robustness`."""
    from medmap.maps import build_map
    from medmap.maps.robustness import measure_robustness as spread

    groups: dict[str, dict] = {"seed": {f"seed={cfg.seed}": kmap}} if cfg.seeds > 1 else {}
    skipped = list(v.skipped)
    for var in v.variants:
        if var.scores.empty:
            skipped.append({"group": var.group, "variant": var.name, "domain": "*", "technique": "*",
                            "reason": "nothing in this variant could be analysed"})
            continue
        groups.setdefault(var.group, {})[var.name] = build_map(var.scores, rules, primary)
    return spread(kmap, groups, skipped, v.settings)


def check_context(cfg: RunConfig, sets, note=print) -> None:
    """Reject a prompt (with its longest answer) longer than the model's context, reading only the
    model's config and tokenizer: before any weights are loaded."""
    from medmap.models import check_fits, inspect_model

    info = inspect_model(cfg.model)
    if info.context_length is None:
        note(f"the context length of '{info.name}' is not in its config; prompt lengths not checked")
        return
    check_fits(sets, info)


def architecture_facts(lm) -> dict:
    """What a consumer of the run folder needs about the architecture without loading the model: the
    model type, where the decoder layers are and the LoRA target modules (``medmap recommend --format
    peft`` reads them; for an architecture found by structure they are that search's result)."""
    spec = lm.arch.spec
    return {"model_type": spec.model_type, "layers": spec.layers, "layers_pattern": spec.layers_pattern,
            "lora_targets": list(spec.lora_targets), "found_by_structure": spec.fallback}


def load_model_for_rank(cfg: RunConfig, note=print):
    """The configured model; under torchrun this rank's own copy (on GPU ``LOCAL_RANK`` when every rank
    has one), loaded (and converted into the cache) first by each machine's local rank 0."""
    from medmap import parallel
    from medmap.models import load_model

    device_map = parallel.rank_device_map(cfg.device_map, cfg.max_memory)
    with parallel.local_main_first():
        return load_model(cfg.model, dtype=cfg.dtype, device_map=device_map, max_memory=cfg.max_memory,
                          offload_folder=cfg.offload_folder, progress=note)


def run(cfg: RunConfig, out: Path, progress, note=print, *, lm=None, sets=None) -> dict:
    """Execute the run into ``out``; returns a summary. Under torchrun (``medmap.parallel.init()``
    called) every rank calls this; rank 0 writes. ``lm`` (an already loaded model) and ``sets`` (concept
    sets already read) replace what ``cfg.model`` and ``cfg.domains`` / ``cfg.concepts`` name."""
    import time

    from medmap import concepts as C
    from medmap import parallel
    from medmap.analyses.runner import analyze
    from medmap.maps import MapRules
    from medmap.store import Cache, provenance, write_json

    out = Path(out)
    done = out / "DONE.json"

    def finished() -> bool:
        if done.is_file():
            try:
                return json.loads(done.read_text()).get("config_digest") == cfg.digest()
            except ValueError:
                pass
        return False

    if parallel.on_main(finished):  # rank 0 decides for every rank
        return {"status": "already finished", "out": str(out)}
    # everything that can be checked without a model is checked first
    if sets is None:
        sets = C.resolve_sets(list(cfg.domains) if cfg.concepts is None or cfg.domains != DOMAINS else None,
                              cfg.concepts)
    C.validate_sets(sets)
    for cs in sets:
        for msg in cs.spec.inferred:
            note(msg)
    rules = MapRules(**cfg.map_rules)
    if lm is None:
        check_context(cfg, sets, note)
    parallel.on_main(lambda: write_json(out / "config.json", cfg.to_dict()), share=False)
    timings: dict[str, float] = {}
    t0 = time.time()
    lm = lm if lm is not None else load_model_for_rank(cfg, note)
    timings["load_model"] = time.time() - t0
    parallel.on_main(lambda: write_json(out / "provenance.json", provenance(
        model=lm.name, model_identity=lm.identity, model_source=lm.source, n_layers=lm.n_layers,
        architecture=architecture_facts(lm), seed=cfg.seed, concept_sets={s.domain: {"origin": s.origin, "sha256": s.hash, "n_items": len(s),
                                                "spec": s.spec.to_dict()} for s in sets}, config_digest=cfg.digest(), ranks=parallel.world_size())),
        share=False)

    t = time.time()
    cache = Cache(Path(cfg.cache) if cfg.cache else out / "cache")
    scores = analyze(lm, sets, list(cfg.techniques), out, cfg.analyze, progress=progress, cache=cache)
    timings["analyze"] = time.time() - t
    variants = None
    if cfg.robustness:  # every rank takes its share of the variants' sweeps, as for the main analysis
        from medmap.analyses.variants import run_variants

        t = time.time()
        variants = run_variants(lm, sets, list(cfg.techniques), cfg.analyze, cache, seed=cfg.seed,
                                seeds=cfg.seeds, paraphrases=cfg.paraphrases, progress=progress)
        timings["robustness"] = time.time() - t
    primary = primary_overrides(cfg, sets)
    return parallel.on_main(lambda: _finish(cfg, out, scores, lm, rules, timings, t0, note, variants, primary))


def _finish(cfg: RunConfig, out: Path, scores, lm, rules, timings: dict, t0: float, note, variants=None,
            primary=None) -> dict:
    """Map, findings, figures, report and DONE.json (rank 0 only under torchrun)."""
    import time

    from medmap.analyses.findings import findings
    from medmap.maps import build_map
    from medmap.store import write_json

    t = time.time()
    kmap = build_map(scores, rules, primary)
    kmap.save(out)
    write_json(out / "findings.json", findings(scores, lm.name))
    timings["map_findings"] = time.time() - t
    if variants is not None:
        t = time.time()
        measure_robustness(cfg, kmap, variants, rules, primary).save(out)
        timings["robustness"] += time.time() - t
    else:  # left by an earlier run of this folder with --seeds or --paraphrases
        for name in ("robustness.json", "robustness.csv"):
            (out / name).unlink(missing_ok=True)
    t = time.time()
    try:
        from medmap.report import build_report, write_figures

        write_figures(out)
        build_report(out)
    except ImportError as e:
        note(f"report skipped: {e} (install medmap[plot])")
    timings["report"] = time.time() - t
    timings["total"] = time.time() - t0
    write_json(out / "timings.json", timings)
    write_json(out / "DONE.json", {"config_digest": cfg.digest(), "timings": timings})
    return {"status": "finished", "out": str(out), "timings": timings}
