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

import json
from contextlib import contextmanager, nullcontext
from pathlib import Path

from medmap.errors import plot_skipped
from medmap.config import RunConfig, config_from_dict, load_config

__all__ = ["RunConfig", "analyze", "capture", "check_context", "compare", "config_from_dict", "default_run_dir",
           "load_config", "load_model_for_rank", "measure_robustness", "rebuild_report", "run", "session"]


def default_run_dir(cfg: RunConfig) -> Path:
    name = Path(cfg.model).name.replace(".gguf", "") if cfg.model else "model"
    return Path("runs") / f"{name}-{cfg.digest(robustness=False)[:8]}"


def primary_overrides(cfg: RunConfig, sets) -> dict:
    """The map's metric where the tables' defaults do not apply: each set's own geometry metric (from its
    domain spec, so a new domain gets one) and the configured saliency statistic."""
    from medmap.analyses.geometry import curve_metric

    curve = cfg.analyze.geometry.map_curve
    out = {(cs.domain, "geometry"): curve_metric(cs.spec, curve) for cs in sets if curve_metric(cs.spec, curve)}
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

    info = inspect_model(cfg.model, trust_remote_code=cfg.trust_remote_code)
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
                          offload_folder=cfg.offload_folder, trust_remote_code=cfg.trust_remote_code,
                          note=note)


def resolve_sets(cfg: RunConfig, sets=None):
    """The concept sets of ``cfg`` (or ``sets`` already read), validated (no model needed)."""
    from medmap import concepts as C

    if sets is None:
        sets = C.resolve_sets(list(cfg.domains) if cfg.domains else None, cfg.concepts)
    C.validate_sets(sets)
    return sets


def finished(out: Path, identity: str) -> bool:
    """Whether ``out`` holds a finished run of exactly these inputs (``DONE.json``'s run identity)."""
    try:
        done = json.loads((Path(out) / "DONE.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(done, dict) and done.get("run_identity") == identity


@contextmanager
def session(cfg: RunConfig, out: Path, note=print, *, force: bool = False, wait: bool = False, lm=None, sets=None,
            what: str = "run folder"):
    """What every command that writes a folder does first, before any model loads: the concept sets read
    and validated (``sets`` when already read), the domains' inferred specs said, the folder checked
    (:func:`medmap.store.runfolder.check_out_folder`; ``force`` accepts a non-empty folder that is not a
    medmap folder), the prompts checked against the model's context, and the folder locked for the whole
    block (a second medmap on it fails at once naming the holder, or waits with ``wait``). Yields
    ``(sets, identity)``: the run identity (options, concept contents, model weights, results version).
    Under torchrun rank 0 checks and locks; every rank gets the same answers."""
    from medmap import parallel
    from medmap.models import identify
    from medmap.store.runfolder import RunLock, check_out_folder

    out = Path(out)
    sets = resolve_sets(cfg, sets)
    for cs in sets:
        for msg in cs.spec.inferred:
            note(msg)

    def prepare() -> str:
        check_out_folder(out, force=force, what=what)
        return cfg.identity({s.domain: s.hash for s in sets}, lm.identity if lm is not None else identify(cfg.model))

    identity = parallel.on_main(prepare)
    if lm is None:
        check_context(cfg, sets, note)
    note(f"{what}: {out}" + (f" (torchrun: {parallel.world_size()} ranks)" if parallel.active() else ""))
    lock = RunLock(out, wait=wait, note=note) if parallel.is_main() else nullcontext()
    parallel.on_main(lock.__enter__, share=False)
    try:
        yield sets, identity
    finally:
        lock.__exit__(None, None, None)


def run(cfg: RunConfig, out: Path, progress, note=print, *, force: bool = False, wait: bool = False, lm=None,
        sets=None) -> dict:
    """Execute the run into ``out``; returns a summary. Under torchrun (``medmap.parallel.init()``
    called) every rank calls this; rank 0 checks the folder, holds its lock and writes. ``lm`` (an
    already loaded model) and ``sets`` (concept sets already read) replace what ``cfg.model`` and
    ``cfg.domains`` / ``cfg.concepts`` name. Nothing is written before :func:`session`'s checks pass.
    A run whose inputs are those of the folder's finished run only says so; otherwise the outputs of the
    earlier run are removed first, and the cache recomputes what the change affects."""
    from medmap import parallel

    with session(cfg, out, note, force=force, wait=wait, lm=lm, sets=sets) as (sets, identity):
        if parallel.on_main(lambda: finished(out, identity)):  # rank 0 decides for every rank
            return {"status": "already finished", "out": str(out)}
        return _run(cfg, Path(out), sets, progress, note, lm)


def analyze(cfg: RunConfig, out: Path, progress, note=print, *, force: bool = False, wait: bool = False):
    """The techniques alone (``medmap analyze``): ``scores.csv`` and the embeddings in ``out``, no map or
    report. Returns the scores."""
    from medmap import parallel
    from medmap.analyses.runner import analyze as run_analyses
    from medmap.store import Cache, write_json

    with session(cfg, out, note, force=force, wait=wait) as (sets, _):
        parallel.on_main(lambda: write_json(Path(out) / "config.json", cfg.to_dict()), share=False)
        lm = load_model_for_rank(cfg, note)
        cache = Cache(Path(cfg.cache) if cfg.cache else Path(out) / "cache")
        scores = run_analyses(lm, sets, list(cfg.techniques), Path(out), cfg.analyze, progress=progress, cache=cache,
                              controls=cfg.controls, note=note)
        parallel.on_main(lambda: report_recomputed(cache, note), share=False)
        return scores


def capture(cfg: RunConfig, out: Path, progress, note=print, *, force: bool = False, wait: bool = False) -> dict:
    """Pooled activations of every layer for each concept set (``medmap capture``), exported as
    ``out/<domain>/activations.safetensors`` with a manifest. Returns domain -> shape."""
    from medmap import parallel
    from medmap.analyses.runner import capture_acts
    from medmap.capture.cached import export_capture
    from medmap.store import Cache

    shapes = {}
    with session(cfg, out, note, force=force, wait=wait, what="capture folder") as (sets, _):
        lm = load_model_for_rank(cfg, note)
        cache = Cache(Path(cfg.cache) if cfg.cache else Path(out) / "cache")
        for cs in sets:
            with progress(f"capture {cs.domain}", len(cs)) as adv:
                acts = capture_acts(lm, cs, cache, pooling=cfg.analyze.pooling,
                                    batch_size=cfg.analyze.capture_batch_size, on_step=adv)
            if parallel.is_main():
                export_capture(Path(out) / cs.domain, lm, cs, acts, cfg.analyze.pooling)
            shapes[cs.domain] = tuple(acts.shape)
        parallel.on_main(lambda: report_recomputed(cache, note), share=False)
    return shapes


def report_recomputed(cache, note) -> None:
    """Say which cache entries were found corrupted or stale and recomputed, and why."""
    for r in cache.rejected:
        note(f"recomputed {r['path']}: {r['reason']}")


def _run(cfg: RunConfig, out: Path, sets, progress, note, lm=None) -> dict:
    import time

    from medmap import parallel
    from medmap.analyses.runner import analyze
    from medmap.store import Cache, provenance, write_json
    from medmap.store.runfolder import clear_outputs
    from medmap.store.schema import RESULTS_VERSION

    def start() -> None:
        removed = clear_outputs(out)
        if removed and (out / "cache").is_dir():
            note(f"{out}: outputs of an earlier run removed ({', '.join(removed)}); the cache keeps what still applies")
        write_json(out / "config.json", cfg.to_dict())

    parallel.on_main(start, share=False)
    timings: dict[str, float] = {}
    t0 = time.time()
    lm = lm if lm is not None else load_model_for_rank(cfg, note)
    timings["load_model"] = time.time() - t0
    hashes = {s.domain: s.hash for s in sets}
    identity = cfg.identity(hashes, lm.identity)
    parallel.on_main(lambda: write_json(out / "provenance.json", provenance(
        model=lm.name, model_identity=lm.identity, model_source=lm.source, n_layers=lm.n_layers,
        architecture=architecture_facts(lm), seed=cfg.seed,
        concept_sets={s.domain: {"origin": s.origin, "sha256": s.hash, "n_items": len(s), "spec": s.spec.to_dict()}
                      for s in sets}, config_digest=cfg.digest(), run_identity=identity,
        results_version=RESULTS_VERSION, ranks=parallel.world_size())), share=False)

    t = time.time()
    cache = Cache(Path(cfg.cache) if cfg.cache else out / "cache")
    scores = analyze(lm, sets, list(cfg.techniques), out, cfg.analyze, progress=progress, cache=cache,
                     controls=cfg.controls, note=note)
    timings["analyze"] = time.time() - t
    variants = None
    if cfg.robustness:  # every rank takes its share of the variants' sweeps, as for the main analysis
        from medmap.analyses.reference import reference_for
        from medmap.analyses.variants import run_variants

        t = time.time()
        reference = reference_for(sets, list(cfg.techniques), cfg.analyze)[0]
        variants = run_variants(lm, sets, list(cfg.techniques), cfg.analyze, cache, seed=cfg.seed,
                                seeds=cfg.seeds, paraphrases=cfg.paraphrases, progress=progress,
                                reference=reference)
        timings["robustness"] = time.time() - t
    primary = primary_overrides(cfg, sets)
    return parallel.on_main(lambda: _finish(cfg, out, scores, lm, timings, t0, note, identity, cache, variants,
                                            primary))


def _finish(cfg: RunConfig, out: Path, scores, lm, timings: dict, t0: float, note, identity: str, cache,
            variants=None, primary=None) -> dict:
    """Map, findings, figures, report and DONE.json (rank 0 only under torchrun)."""
    import time

    from medmap.analyses.findings import findings
    from medmap.maps import build_map
    from medmap.store import write_json

    report_recomputed(cache, note)
    t = time.time()
    kmap = build_map(scores, cfg.rules, primary)
    kmap.save(out)
    write_json(out / "findings.json", findings(scores, lm.name))
    timings["map_findings"] = time.time() - t
    if variants is not None:
        t = time.time()
        measure_robustness(cfg, kmap, variants, cfg.rules, primary).save(out)
        timings["robustness"] += time.time() - t
    t = time.time()
    try:
        from medmap.report import build_report

        build_report(out)  # draws every figure once, saves it under figures/ and embeds it
    except ImportError as e:
        note(plot_skipped("report", e))
    timings["report"] = time.time() - t
    timings["total"] = time.time() - t0
    write_json(out / "timings.json", timings)
    write_json(out / "DONE.json", {"config_digest": cfg.digest(), "run_identity": identity,
                                   "recomputed": list(cache.rejected), "timings": timings})
    return {"status": "finished", "out": str(out), "timings": timings, "recomputed": list(cache.rejected)}


def rebuild_report(run_dir: Path, note=print, *, wait: bool = False) -> Path:
    """Figures and ``report.html`` of a finished run folder, again (no model needed): every file is checked
    against its schema before anything is written, and the folder is locked meanwhile."""
    from medmap.errors import MedmapError
    from medmap.report import build_report
    from medmap.report.data import load_run
    from medmap.store.runfolder import RunLock, is_medmap_folder

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MedmapError(f"{run_dir}: no such run folder")
    if not (run_dir / "scores.csv").is_file() or not is_medmap_folder(run_dir):
        raise MedmapError(f"{run_dir}: not a medmap run folder (no scores.csv); name the folder `medmap run` wrote")
    load_run(run_dir)
    with RunLock(run_dir, wait=wait, note=note):
        return build_report(run_dir)  # draws and saves every figure once


def compare(run_dirs, out: Path, note=print, *, force: bool = False, wait: bool = False) -> Path:
    """The comparison report of finished run folders (``out/compare.html``): each run's files checked
    against their schemas, ``out`` checked and locked before anything is written."""
    from medmap.errors import MedmapError
    from medmap.report import build_compare_report
    from medmap.report.data import load_run
    from medmap.store.runfolder import RunLock, check_out_folder

    for d in run_dirs:
        if Path(d).resolve() == Path(out).resolve():
            raise MedmapError(f"--out {out}: is one of the runs compared; name a folder of its own")
        if load_run(d).scores is None:
            raise MedmapError(f"{d}: not a medmap run folder (no scores.csv); compare needs finished runs")
    check_out_folder(out, force, "comparison folder")
    with RunLock(out, wait=wait, note=note):
        return build_compare_report(run_dirs, out)
