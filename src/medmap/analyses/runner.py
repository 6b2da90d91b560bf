"""Running techniques over concept sets with caching: a rerun with the same inputs recomputes nothing,
and a killed run resumes at the first (domain, technique) that has no valid cache entry.

Under torchrun (``medmap.parallel`` initialised) every rank runs this same code: rank 0 alone reads and
writes the cache and the output folder and broadcasts what it found (so every rank agrees on what to
compute, and no file system need be shared); the sweeps inside each technique are split over the
ranks and gathered in single-process order."""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from medmap import parallel
from medmap.analyses.causal import CausalOptions, lesion, patching, saliency
from medmap.analyses.controls import build_plan, renamed
from medmap.analyses.geometry import GeometryOptions, geometry
from medmap.analyses.judge import JudgeOptions
from medmap.analyses.stats import SCORE_COLUMNS
from medmap.techniques import TECHNIQUES, technique as technique_info
from medmap.capture.activations import capture
from medmap.capture.cached import SHARD_SIZE, capture_key, capture_set, load_mapped, store_capture
from medmap.capture.lexical import lexical_representation
from medmap.store import Cache, write_frame, write_json

CONTROLS = ("random_init",)
"""Opt-in controls of a run (config key ``controls``): random_init = the geometry of the same architecture
with re-initialised weights (rows ``M@random_init``)."""


@dataclass(frozen=True)
class AnalyzeOptions:
    pooling: str = "last"
    """Token pooling of captured activations: last, mean or span."""
    capture_batch_size: int = 32
    """Prompts per forward pass during capture."""
    geometry: GeometryOptions = field(default_factory=GeometryOptions)
    causal: CausalOptions = field(default_factory=CausalOptions)
    judge: JudgeOptions = field(default_factory=JudgeOptions)
    """Optional generation-based lesion degradation rated 1-10 by a judge model (off by default)."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AnalyzeOptions":
        d = dict(d or {})
        g = GeometryOptions(**d.pop("geometry", {}))
        c = CausalOptions(**d.pop("causal", {}))
        j = JudgeOptions(**d.pop("judge", {}))
        return cls(geometry=g, causal=c, judge=j, **d)


def _no_progress(desc, total):
    return nullcontext(lambda n=1: None)


def _embeddings_json(cs, emb2: np.ndarray) -> dict:
    return {"domain": cs.domain, "spec": cs.spec.to_dict(), "layers": list(range(emb2.shape[0])),
            "coords": np.round(emb2, 4).tolist(),
            "items": [{"id": it.id, "prompt": it.prompt, "labels": dict(it.labels)} for it in cs.items]}


def skip_reason(cs, technique: str) -> str | None:
    """Why ``technique`` cannot run on concept set ``cs`` (None when it can)."""
    info = technique_info(technique)
    needs = info.needs if info else None
    if needs == "answers" and not cs.answered:
        return "no item has a reference answer"
    if needs == "pairs" and not cs.pairs:
        return "no item has a patching pair"
    if technique == "geometry":
        from medmap.concepts import metric_problems

        problems = metric_problems(cs)
        if problems:
            return "; ".join(problems)
    return None


def capture_acts(lm, cs, cache: Cache, *, pooling: str = "last", batch_size: int = 32, progress=None):
    """``capture_set`` (pooled activations [items, layers+1, hidden], cached), with its batches (of
    ``batch_size`` items within each shard of ``SHARD_SIZE``, as ``capture_set`` forms them) split over the
    ranks under torchrun; every rank gets the whole tensor, rank 0 writes the same cache entry."""
    if not parallel.active():
        return capture_set(lm, cs, cache, pooling=pooling, batch_size=batch_size, progress=progress)
    parts = capture_key(lm, cs, pooling)
    folder = cache.entry("capture", parts)
    acts = parallel.on_main(lambda: load_mapped(folder / "activations.safetensors") if cache.valid(folder) else None)
    if acts is not None:
        return acts
    n = len(cs.items)
    spans = [it.span for it in cs.items] if pooling == "span" else [None] * n
    units = []
    for a in range(0, n, SHARD_SIZE):
        b = min(a + SHARD_SIZE, n)
        units += [(s, min(s + batch_size, b)) for s in range(a, b, batch_size)]

    def one(u):
        s, e = u
        return capture(lm, [it.prompt for it in cs.items[s:e]], pooling=pooling, batch_size=e - s,
                       spans=spans[s:e] if pooling == "span" else None, ids=[it.id for it in cs.items[s:e]])

    acts = parallel.map_units(one, units, size=lambda u: u[1] - u[0], on_step=progress)
    acts = torch.cat(acts) if acts else torch.empty(0, lm.n_layers + 1, lm.hidden_size)

    def store():  # the same entry capture_set writes, so a single-process run reuses it
        store_capture(lm, cs, cache, acts, pooling)

    parallel.on_main(store, share=False)
    return acts


def _selected(cs, plan):
    """The items of ``cs`` the geometry uses (``plan.sel``), as a set (for the embeddings file)."""
    ids = {cs.items[i].id for i in plan.sel}
    return cs if len(ids) == len(cs) else cs.subset(lambda it: it.id in ids)


def random_init_scores(lm, cs, options: AnalyzeOptions, cache: Cache, progress=_no_progress,
                       models: dict | None = None) -> pd.DataFrame:
    """The random-weights control of the geometry of ``cs``: rows ``M@random_init`` for every base metric
    (same options; no nulls, lexical baseline or per-template rows), cached under the trained model's
    identity and the seed (``analyze.geometry.seed``). ``models`` keeps the re-initialised model between
    sets (built once, on the first set that is not cached)."""
    from medmap.models.random_init import random_init_copy

    o = replace(options.geometry, n_perm=0, lexical=False, per_template=False)
    seed = options.geometry.seed
    parts = {"model": lm.identity, "control": "random_init", "seed": seed, "concepts": cs.hash,
             "pooling": options.pooling, "options": asdict(o), "domain": cs.spec.to_dict()}
    folder = cache.entry("geometry_random_init", parts)
    hit = parallel.on_main(lambda: pd.read_csv(folder / "scores.csv") if cache.valid(folder) else None)
    if hit is not None:
        return hit
    models = {} if models is None else models
    if seed not in models:
        models[seed] = random_init_copy(lm, seed)
    rlm = models[seed]
    with progress(f"capture {cs.domain} (random init)", len(cs)) as adv:
        acts = capture_acts(rlm, cs, cache, pooling=options.pooling, batch_size=options.capture_batch_size,
                            progress=adv)
    with progress(f"geometry {cs.domain} (random init)", lm.n_layers) as adv:
        df, _ = geometry(acts.numpy(), cs, model=lm.name, options=o, on_layer=adv)
    df = pd.DataFrame(renamed(df.to_dict("records"), "random_init"), columns=SCORE_COLUMNS)

    def store():
        folder.mkdir(parents=True, exist_ok=True)
        write_frame(folder / "scores.csv", df)
        cache.seal(folder, parts, model=lm.name, model_source=lm.source, concept_origin=cs.origin)
        return pd.read_csv(folder / "scores.csv")

    return parallel.on_main(store)


def run_technique(lm, cs, technique: str, options: AnalyzeOptions, cache: Cache, progress=_no_progress,
                  controls=(), models: dict | None = None):
    """Scores of one (domain, technique), from the cache when valid. Returns (scores, extra). With
    ``controls`` ('random_init') the geometry's scores also hold the rows of those controls (each cached
    on its own, so adding a control reuses the main entry)."""
    if technique == "geometry" and "random_init" in controls:
        df, extra = run_technique(lm, cs, technique, options, cache, progress)
        rnd = random_init_scores(lm, cs, options, cache, progress, models)
        return pd.concat([df, rnd], ignore_index=True), extra
    if technique == "geometry":
        parts = {"model": lm.identity, "concepts": cs.hash, "pooling": options.pooling,
                 "options": asdict(options.geometry), "domain": cs.spec.to_dict()}
    else:
        parts = {"model": lm.identity, "concepts": cs.hash, "options": asdict(options.causal)}
        if technique == "lesion" and options.judge.kind != "none":
            parts["judge"] = asdict(options.judge)
    folder = cache.entry(technique, parts)

    def cached():
        if not cache.valid(folder):
            return None
        extra_path = folder / "extra.json"
        return pd.read_csv(folder / "scores.csv"), (json.loads(extra_path.read_text()) if extra_path.is_file() else {})

    hit = parallel.on_main(cached)  # rank 0 decides for every rank
    if hit is not None:
        return hit
    extra: dict = {}
    if technique == "geometry":
        go = options.geometry
        plan = build_plan(cs, go)
        with progress(f"capture {cs.domain}", len(cs)) as adv:  # every template: the per-template rows use them
            acts = capture_acts(lm, cs, cache, pooling=options.pooling, batch_size=options.capture_batch_size,
                                progress=adv)
        lex = lexical_representation(lm, [it.prompt for it in cs.items], [it.span for it in cs.items],
                                     go.lexical_kind) if go.lexical else None
        with progress(f"geometry {cs.domain} (UMAP per layer)", lm.n_layers) as adv:
            df, emb2 = geometry(acts.numpy(), cs, model=lm.name, options=go, on_layer=adv, lexical=lex, plan=plan)
        extra = {"embeddings": _embeddings_json(_selected(cs, plan), emb2), "geometry": plan.info}
    elif technique == "saliency":
        n = min(len(cs.answered), options.causal.max_items or len(cs.answered))
        with progress(f"saliency {cs.domain}", n) as adv:
            df = saliency(lm, cs, options.causal, on_step=adv)
    elif technique == "lesion":
        n = min(len(cs.answered), options.causal.max_items or len(cs.answered))
        with progress(f"lesion {cs.domain}", n) as adv:
            df = lesion(lm, cs, options.causal, on_step=adv)
        if options.judge.kind != "none":
            from medmap.analyses.judge import judge_lesions

            with progress(f"lesion judge {cs.domain}", None) as adv:  # rank 0 alone runs the judge
                jdf, records = parallel.on_main(lambda: judge_lesions(lm, cs, options.judge, on_step=adv))
            df = pd.concat([df, jdf], ignore_index=True)
            extra = {"judge": records}
    elif technique == "patching":
        n = min(len(cs.pairs), options.causal.max_pairs or len(cs.pairs))
        with progress(f"patching {cs.domain}", n) as adv:
            df, info = patching(lm, cs, options.causal, on_step=adv)
        extra = {"patching": info}
    else:
        raise ValueError(f"unknown technique '{technique}'")
    df = df[SCORE_COLUMNS]

    def store():
        folder.mkdir(parents=True, exist_ok=True)
        write_frame(folder / "scores.csv", df)
        if extra:
            write_json(folder / "extra.json", extra)
        cache.seal(folder, parts, model=lm.name, model_source=lm.source, concept_origin=cs.origin)
        return pd.read_csv(folder / "scores.csv")

    return parallel.on_main(store), extra


def check_controls(controls, where: str = "controls") -> tuple[str, ...]:
    """``controls`` (a list, or a comma-separated string) checked against :data:`CONTROLS`."""
    from medmap.errors import ConfigError

    if controls is None:
        return ()
    items = controls.split(",") if isinstance(controls, str) else list(controls)
    names = tuple(str(c).strip() for c in items if str(c).strip())
    bad = [c for c in names if c not in CONTROLS]
    if bad:
        raise ConfigError(f"{where}: unknown control(s) {', '.join(bad)}; choose from {', '.join(CONTROLS)}")
    return names


def analyze(lm, sets, techniques, out: Path, options: AnalyzeOptions = AnalyzeOptions(), progress=_no_progress,
            cache: Cache | None = None, controls=(), note=None) -> pd.DataFrame:
    """Run ``techniques`` on every set; write ``scores.csv`` (+ parquet), ``embeddings/<domain>.json``,
    ``geometry.json`` (per domain: templates used, permutation units) and ``patching.json`` (pairs used and
    excluded) under ``out``. ``controls``: opt-in controls (:data:`CONTROLS`). ``note`` receives notes
    (e.g. a set without neutral templates). Returns the scores (on every rank under torchrun, where rank 0
    alone writes)."""
    out = Path(out)
    cache = cache or Cache(out / "cache")
    controls = check_controls(controls)
    import time

    frames, pinfo, ginfo, models = [], {}, {}, {}
    stage_times: dict[str, float] = {}
    for cs in sets:
        for t in techniques:
            # label problems are the caller's to reject (validate_sets) before any model runs
            if t != "geometry" and skip_reason(cs, t) is not None:
                continue
            t0 = time.perf_counter()
            df, extra = run_technique(lm, cs, t, options, cache, progress, controls, models)
            stage_times[f"{cs.domain}/{t}"] = round(time.perf_counter() - t0, 2)
            frames.append(df)
            if "embeddings" in extra and parallel.is_main():
                write_json(out / "embeddings" / f"{cs.domain}.json", extra["embeddings"])
            if "geometry" in extra:
                ginfo[cs.domain] = extra["geometry"]
                msg = extra["geometry"].get("templates", {}).get("note")
                if msg and note and parallel.is_main():
                    note(msg)
            if "patching" in extra:
                pinfo[cs.domain] = extra["patching"]
    scores = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SCORE_COLUMNS)

    def store():
        write_frame(out / "scores.csv", scores)
        try:
            write_frame(out / "scores.parquet", scores)
        except ImportError:
            pass
        if pinfo:
            write_json(out / "patching.json", pinfo)
        if ginfo:
            write_json(out / "geometry.json", ginfo)
        write_json(out / "stage_times.json", stage_times)

    parallel.on_main(store, share=False)
    return scores
