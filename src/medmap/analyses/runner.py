"""Running techniques over concept sets with caching: a rerun with the same inputs recomputes nothing,
and a killed run resumes at the first (domain, technique) that has no valid cache entry.

Under torchrun (``medmap.parallel`` initialised) every rank runs this same code: rank 0 alone reads and
writes the cache and the output folder and broadcasts what it found (so every rank agrees on what to
compute, and no file system need be shared); the sweeps inside each technique are split over the
ranks and gathered in single-process order."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from medmap import parallel
from medmap.analyses.causal import CausalOptions, lesion, patching, saliency
from medmap.analyses.controls import build_plan, renamed
from medmap.analyses.geometry import GeometryOptions, geometry
from medmap.analyses.judge import JudgeOptions
from medmap.analyses.lens import lens
from medmap.analyses.reference import reference_for, specificity_frames, specificity_inputs
from medmap.analyses.specificity import (
    REFERENCE_DOMAIN,
    definitions_text,
    units_from_json,
    units_to_json,
)
from medmap.capture.cached import capture_set
from medmap.capture.lexical import lexical_representation
from medmap.errors import ConfigError
from medmap.options import Bool, Int, options
from medmap.progress import no_bars
from medmap.store import Cache, write_frame, write_json
from medmap.store.schema import SCORE_COLUMNS, TECHNIQUE_VERSIONS
from medmap.store.units import write_units
from medmap.techniques import technique as technique_info

CONTROLS = ("random_init",)
"""Opt-in controls of a run (config key ``controls``): random_init = the geometry of the same architecture
with re-initialised weights (rows ``M@random_init``)."""


@options(name="analyze")
class AnalyzeOptions:
    pooling: Literal["last", "mean", "span"] = "last"
    """Token pooling of captured activations: last, mean or span."""
    capture_batch_size: Int = Field(32, ge=1)
    """Prompts per forward pass during capture."""
    geometry: GeometryOptions = Field(default_factory=GeometryOptions)
    """UMAP and geometry metric options."""
    causal: CausalOptions = Field(default_factory=CausalOptions)
    """Saliency, lesioning and patching options."""
    judge: JudgeOptions = Field(default_factory=JudgeOptions)
    """Optional generation-based lesion degradation rated 1-10 by a judge model (off by default)."""
    reference: Bool = True
    """Run the general-knowledge reference set through every technique that has a specificity control
    (saliency, lesion, patching, lens) and add the rows ``M@specific`` (domain minus reference); see
    :mod:`medmap.analyses.specificity`. Off: the map's causal lanes use the raw curves."""

    def to_dict(self) -> dict:
        return asdict(self)


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


def capture_acts(lm, cs, cache: Cache, *, pooling: str = "last", batch_size: int = 32, on_step=None):
    """``capture_set`` (pooled activations [items, layers+1, hidden], cached), with its batches split over
    the ranks under torchrun (rank 0 writes the shards and the cache entry, as a single process does)."""
    return capture_set(lm, cs, cache, pooling=pooling, batch_size=batch_size, on_step=on_step, ranks=parallel)


def _selected(cs, plan):
    """The items of ``cs`` the geometry uses (``plan.sel``), as a set (for the embeddings file)."""
    ids = {cs.items[i].id for i in plan.sel}
    return cs if len(ids) == len(cs) else cs.subset(lambda it: it.id in ids)


def random_init_scores(lm, cs, options: AnalyzeOptions, cache: Cache, progress=no_bars,
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
    hit = parallel.on_main(lambda: pd.read_csv(folder / "scores.csv") if cache.check_or_evict(folder) else None)
    if hit is not None:
        return hit
    models = {} if models is None else models
    if seed not in models:
        models[seed] = random_init_copy(lm, seed)
    rlm = models[seed]
    with progress(f"capture {cs.domain} (random init)", len(cs)) as adv:
        acts = capture_acts(rlm, cs, cache, pooling=options.pooling, batch_size=options.capture_batch_size,
                            on_step=adv)
    with progress(f"geometry {cs.domain} (random init)", lm.n_layers) as adv:
        df, _ = geometry(acts.numpy(), cs, model=lm.name, options=o, on_layer=adv)
    df = pd.DataFrame(renamed(df.to_dict("records"), "random_init"), columns=SCORE_COLUMNS)
    return store_entry(lm, cs, cache, folder, parts, df)


def store_entry(lm, cs, cache: Cache, folder: Path, parts: dict, df: pd.DataFrame, extra: dict | None = None):
    """Write and seal one cache entry (rank 0 under torchrun); returns its scores as read back, so a
    result computed now and one read from the cache are the same numbers."""

    def store():
        folder.mkdir(parents=True, exist_ok=True)
        write_frame(folder / "scores.csv", df)
        if extra:
            write_json(folder / "extra.json", extra)
        cache.seal(folder, parts, model=lm.name, model_source=lm.source, concept_origin=cs.origin)
        return pd.read_csv(folder / "scores.csv")

    return parallel.on_main(store)


def technique_key(lm, cs, technique: str, options: AnalyzeOptions) -> dict:
    """What the cached scores of one (domain, technique) depend on: the model's identity (weights), the
    concept set's content hash, the options of the technique and the dtype the model runs in (float32
    is left out: the keys of float32 runs are those of versions before the dtype was added)."""
    if technique == "geometry":
        parts = {"model": lm.identity, "concepts": cs.hash, "pooling": options.pooling,
                 "options": asdict(options.geometry), "domain": cs.spec.to_dict(),
                 "version": TECHNIQUE_VERSIONS["geometry"]}
    else:  # "units": entries hold the per-unit arrays the specificity control needs
        parts = {"model": lm.identity, "concepts": cs.hash, "options": asdict(options.causal), "units": 1}
        if technique == "lesion" and options.judge.kind != "none":
            parts["judge"] = asdict(options.judge)
    dtype = next(lm.model.parameters()).dtype
    if dtype != torch.float32:
        parts["dtype"] = str(dtype)
    return parts


def run_technique(lm, cs, technique: str, options: AnalyzeOptions, cache: Cache, progress=no_bars,
                  controls=(), models: dict | None = None):
    """Scores of one (domain, technique), from the cache when valid. Returns (scores, extra). With
    ``controls`` ('random_init') the geometry's scores also hold the rows of those controls (each cached
    on its own, so adding a control reuses the main entry)."""
    if technique == "geometry" and "random_init" in controls:
        df, extra = run_technique(lm, cs, technique, options, cache, progress)
        rnd = random_init_scores(lm, cs, options, cache, progress, models)
        return pd.concat([df, rnd], ignore_index=True), extra
    parts = technique_key(lm, cs, technique, options)
    folder = cache.entry(technique, parts)

    def cached():
        if not cache.check_or_evict(folder):
            return None
        extra_path = folder / "extra.json"
        return pd.read_csv(folder / "scores.csv"), (json.loads(extra_path.read_text()) if extra_path.is_file() else {})

    hit = parallel.on_main(cached)  # rank 0 decides for every rank
    if hit is not None:
        return hit
    extra: dict = {}
    units: dict = {}
    if technique == "geometry":
        go = options.geometry
        plan = build_plan(cs, go)
        started = time.perf_counter()
        with progress(f"capture {cs.domain}", len(cs)) as adv:  # every template: the per-template rows use them
            acts = capture_acts(lm, cs, cache, pooling=options.pooling, batch_size=options.capture_batch_size,
                                on_step=adv)
        capture_seconds = time.perf_counter() - started
        lex = lexical_representation(lm, [it.prompt for it in cs.items], [it.span for it in cs.items],
                                     go.lexical_kind) if go.lexical else None
        with progress(f"geometry {cs.domain} (UMAP per layer)", lm.n_layers) as adv:
            df, emb2 = geometry(acts.numpy(), cs, model=lm.name, options=go, on_layer=adv, lexical=lex, plan=plan)
        extra = {"embeddings": _embeddings_json(_selected(cs, plan), emb2), "geometry": plan.info}
    elif technique == "saliency":
        n = min(len(cs.answered), options.causal.max_items or len(cs.answered))
        with progress(f"saliency {cs.domain}", n) as adv:
            df = saliency(lm, cs, options.causal, on_step=adv, units=units)
    elif technique == "lesion":
        n = min(len(cs.answered), options.causal.max_items or len(cs.answered))
        with progress(f"lesion {cs.domain}", n) as adv:
            df = lesion(lm, cs, options.causal, on_step=adv, units=units)
        if options.judge.kind != "none":
            from medmap.analyses.judge import judge_lesions

            with progress(f"lesion judge {cs.domain}", None) as adv:  # rank 0 alone runs the judge
                jdf, records = parallel.on_main(lambda: judge_lesions(lm, cs, options.judge, on_step=adv))
            df = pd.concat([df, jdf], ignore_index=True)
            extra["judge"] = records
    elif technique == "patching":
        n = min(len(cs.pairs), options.causal.max_pairs or len(cs.pairs))
        with progress(f"patching {cs.domain}", n) as adv:
            df, info = patching(lm, cs, options.causal, on_step=adv, units=units)
        extra = {"patching": info}
    elif technique == "lens":
        n = min(len(cs.answered), options.causal.max_items or len(cs.answered))
        with progress(f"lens {cs.domain}", n) as adv:
            df = lens(lm, cs, options.causal, on_step=adv, units=units)
    else:
        raise ConfigError(f"unknown technique '{technique}'")
    df = df[list(SCORE_COLUMNS)]
    if units:
        extra["units"] = units_to_json(units)
    df = store_entry(lm, cs, cache, folder, parts, df, extra)
    if technique == "geometry":  # not in the cache entry: a time belongs to this run
        extra = {**extra, "capture_seconds": capture_seconds}
    return df, extra


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


def run_all(lm, sets, techniques, options: AnalyzeOptions, cache: Cache, progress=no_bars, reference=None,
            on_result=None, controls=()) -> tuple[list[pd.DataFrame], dict]:
    """Every technique on every set, then the reference set through the techniques with a specificity
    control (once) and the ``M@specific`` rows. ``on_result(cs, technique, extra)`` sees each result.
    ``controls``: opt-in controls (:data:`CONTROLS`). Returns the score frames and what
    ``specificity.json`` says of the specific rows (``missing``, ``notes``: see ``specificity_frames``)."""
    frames, units, models = [], {}, {}
    todo = [(cs, list(techniques)) for cs in sets]
    if reference is not None and all(cs.domain != REFERENCE_DOMAIN for cs in sets):
        todo.append((reference, [t for t in techniques if technique_info(t).specific]))
    for cs, techs in todo:
        for t in techs:
            # label problems are the caller's to reject (validate_sets) before any model runs
            if t != "geometry" and skip_reason(cs, t) is not None:
                continue
            df, extra = run_technique(lm, cs, t, options, cache, progress, controls, models)
            frames.append(df)
            if "units" in extra:
                units[(cs.domain, t)] = specificity_inputs(lm, cs, t, extra, options)
            if on_result is not None:
                on_result(cs, t, extra)
    notes: dict = {"missing": [], "notes": []}
    if reference is not None:
        more, notes = specificity_frames(lm, units, options)
        frames += more
    return frames, notes


def analyze(lm, sets, techniques, out: Path, options: AnalyzeOptions = AnalyzeOptions(), progress=no_bars,
            cache: Cache | None = None, controls=(), note=None) -> pd.DataFrame:
    """Run ``techniques`` on every set; write ``scores.csv`` (+ parquet), ``embeddings/<domain>.json``,
    ``geometry.json`` (per domain: templates used, permutation units), ``patching.json`` (pairs used and
    excluded) and ``specificity.json`` (the reference set used, the definitions, what got no specific rows
    and why) under ``out``. ``controls``: opt-in controls (:data:`CONTROLS`); ``note`` receives notes (e.g.
    a set without neutral templates). Returns the scores (on every rank under torchrun, where rank 0
    alone writes)."""
    out = Path(out)
    cache = cache or Cache(out / "cache")
    controls = check_controls(controls)
    pinfo: dict = {}
    ginfo: dict = {}
    written: set[tuple[str, str]] = set()
    embedded: set[str] = set()
    stage_times: dict[str, float] = {}
    clock = [time.perf_counter()]

    def seen(cs, t, extra):
        now = time.perf_counter()
        captured = extra.get("capture_seconds", 0.0)  # a geometry stage's capture is its own entry
        if captured:
            stage_times[f"{cs.domain}/capture"] = round(captured, 2)
        stage_times[f"{cs.domain}/{t}"] = round(now - clock[0] - captured, 2)
        clock[0] = now
        if "embeddings" in extra:
            embedded.add(cs.domain)
            if parallel.is_main():
                write_json(out / "embeddings" / f"{cs.domain}.json", extra["embeddings"])
        if "geometry" in extra:
            ginfo[cs.domain] = extra["geometry"]
            msg = extra["geometry"].get("templates", {}).get("note")
            if msg and note and parallel.is_main():
                note(msg)
        if "patching" in extra:
            pinfo[cs.domain] = extra["patching"]
        if "units" in extra and parallel.is_main():
            written.add((cs.domain, t))
            write_units(out, cs.domain, t, units_from_json(extra["units"]), cs.hash)

    reference, ref_info = reference_for(sets, techniques, options, note)
    frames, spec_notes = run_all(lm, sets, techniques, options, cache, progress, reference, seen, controls)
    scores = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SCORE_COLUMNS)
    spec_doc = {"reference": ref_info, **spec_notes, "definitions": definitions_text(techniques),
                "reference_domain": REFERENCE_DOMAIN}

    def store():
        write_frame(out / "scores.csv", scores)
        try:
            write_frame(out / "scores.parquet", scores)
        except ImportError:
            (out / "scores.parquet").unlink(missing_ok=True)
        if pinfo:
            write_json(out / "patching.json", pinfo)
        else:
            (out / "patching.json").unlink(missing_ok=True)
        write_json(out / "specificity.json", spec_doc)
        # only the embeddings this analysis made: an earlier analysis of other domains leaves none behind
        for old in (out / "embeddings").glob("*.json"):
            if old.stem not in embedded:
                old.unlink(missing_ok=True)
        for old in (out / "units").glob("*/*.npz"):
            if (old.parent.name, old.stem) not in written:
                old.unlink(missing_ok=True)
        if ginfo:
            write_json(out / "geometry.json", ginfo)
        else:
            (out / "geometry.json").unlink(missing_ok=True)
        write_json(out / "stage_times.json", stage_times)

    parallel.on_main(store, share=False)
    return scores
