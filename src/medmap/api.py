"""medmap as a library: map a model from a notebook, read any run folder, look at and compare maps.

    import medmap
    km = medmap.map("smollm2-135m", domains=["age", "drugs"])     # or a LoadedModel, or (model, tokenizer)
    km.scores                     # every per-layer metric with its CI (DataFrame)
    km.intervals                  # the map's layer intervals (DataFrame)
    km.findings                   # the paper's phenomena with verdicts (DataFrame)
    km.plot()                     # the map (matplotlib Figure); km.plot(domain="age", technique="lesion")
    km.report("age.html"); km.save("runs/smol")
    other = medmap.load("runs/gemma")                  # any run folder, CLI-made too
    km.compare(other)
    km.recommend("unlearn", ["dosage"], budget=4)    # layers to act on, with the reasons (DataFrame)
    km.to_peft(goal="finetune", domains=["drugs"])   # a PEFT LoraConfig dict on the recommended layers
    km.diff(medmap.load("runs/smol-ft"), out="runs/diff")   # what fine-tuning changed (same layer count)

The command line is a thin layer over the same calls: ``medmap run`` is :func:`map` with a run folder.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from medmap.errors import ConfigError, MedmapError
from medmap.maps import DEPTH_BINS, LayerMap, build_map, compare_maps, load_map
from medmap.progress import Bars, no_bars, rich_bars

INTERVAL_COLUMNS = ("model", "domain", "technique", "metric", "start", "end", "start_depth", "end_depth")
"""Columns of :attr:`KnowledgeMap.intervals`: one row per interval; ``start`` and ``end`` are inclusive
decoder layers, ``[start_depth, end_depth)`` the depth range it covers (depth = layer / n_layers)."""
FINDING_COLUMNS = ("id", "domain", "title", "measure", "value", "ci_low", "ci_high", "layer", "verdict", "detail")
"""The leading columns of :attr:`KnowledgeMap.findings` (one row per finding; later keys follow)."""


@dataclass(eq=False)
class KnowledgeMap:
    """A model's knowledge map with everything it was drawn from.

    ``scores`` has the columns ``model, n_layers, domain, technique, metric, layer, value, ci_low,
    ci_high``: one row per (domain, technique, metric, decoder layer), the value with its 95% bootstrap
    CI. ``layer_map`` is the map itself (the primary metric of each domain and technique, smoothed, its
    intervals and the agreement count per layer; see :class:`medmap.maps.LayerMap`)."""

    layer_map: LayerMap
    scores: pd.DataFrame
    findings_doc: dict = field(default_factory=dict)
    """``findings.json``: ``model``, ``findings`` (a list of dicts), the verdict ``rules``."""
    embeddings: dict = field(default_factory=dict)
    """2-d UMAP per layer by domain (``embeddings/<domain>.json``), for the report's views."""
    config: Any = None
    provenance: Any = None
    robustness: dict | None = None
    patching: dict | None = None
    path: Path | None = None
    """The run folder the map was read from (None for a map held only in memory)."""

    @property
    def model(self) -> str:
        return next(iter(self.layer_map.n_layers), "") if len(self.layer_map.table) else str(
            self.scores["model"].iloc[0])

    @property
    def n_layers(self) -> int:
        return int(self.scores["n_layers"].iloc[0])

    @property
    def intervals(self) -> pd.DataFrame:
        """The map's intervals, columns :data:`INTERVAL_COLUMNS`."""
        return pd.DataFrame(self.layer_map.intervals, columns=list(INTERVAL_COLUMNS))

    @property
    def findings(self) -> pd.DataFrame:
        """The paper's phenomena measured on this model, one row each with its verdict."""
        rows = list(self.findings_doc.get("findings") or [])
        extra = [k for r in rows for k in r if k not in FINDING_COLUMNS]
        return pd.DataFrame(rows, columns=list(FINDING_COLUMNS) + list(dict.fromkeys(extra)))

    def plot(self, domain: str | None = None, technique: str | None = None, *, depth: bool = False):
        """A matplotlib Figure: the map (domain x layer, one lane per technique), or with ``domain`` the
        per-layer curves of that domain (only ``technique``'s when given). Needs the ``plot`` extra."""
        from medmap.report import figures as F
        from medmap.report.curves import curves_figure

        if domain is None:
            return F.map_figure(self.layer_map.table, self.layer_map.intervals, self.layer_map.agreement,
                                n_layers=self.n_layers, depth=depth, lanes=self.layer_map.lanes)
        scores, table = self.scores, self.layer_map.table
        if domain not in set(scores["domain"]):
            raise MedmapError(f"no domain '{domain}' in this map (domains: {', '.join(sorted(set(scores.domain)))})")
        if technique is not None:
            if technique not in set(scores.loc[scores["domain"] == domain, "technique"]):
                raise MedmapError(f"domain '{domain}' has no technique '{technique}' in this map")
            scores, table = scores[scores["technique"] == technique], table[table["technique"] == technique]
        return curves_figure(scores, table, self.layer_map.intervals, domain, lanes=self.layer_map.lanes)

    def run_data(self):
        """The map as the report reads a run folder (:class:`medmap.report.data.RunData`)."""
        from medmap.report.data import RunData

        return RunData(path=self.path or Path("in-memory"), scores=self.scores, map_df=self.layer_map.table,
                       map_json=self.layer_map.to_json_dict(), findings=self.findings_doc or None,
                       embeddings=dict(self.embeddings), config=self.config, provenance=self.provenance,
                       robustness=self.robustness)

    def report(self, path: str | Path) -> Path:
        """Write the self-contained HTML report to ``path`` (a file, or a folder to hold ``report.html``)."""
        from medmap.report.html import report_html
        from medmap.report.render import render_figures
        from medmap.store import write_text

        path = Path(path)
        if path.is_dir() or not path.suffix:
            path = path / "report.html"
        run = self.run_data()
        return write_text(path, report_html(run, render_figures(run)))

    def save(self, folder: str | Path) -> Path:
        """Write the map as a run folder (scores, map, findings, embeddings, config, provenance) that
        :func:`load`, ``medmap report`` and ``medmap compare`` read. Returns the folder."""
        from medmap.store import write_frame, write_json

        folder = Path(folder)
        write_frame(folder / "scores.csv", self.scores)
        self.layer_map.save(folder)
        files = {"findings.json": self.findings_doc or None, "config.json": self.config,
                 "provenance.json": self.provenance, "robustness.json": self.robustness,
                 "patching.json": self.patching}
        for name, obj in files.items():
            if obj is not None:
                write_json(folder / name, obj)
        for domain, emb in self.embeddings.items():
            write_json(folder / "embeddings" / f"{domain}.json", emb)
        return folder

    def compare(self, *others: "KnowledgeMap", out: str | Path | None = None, bins: int = DEPTH_BINS,
                coverage: str = "span") -> dict:
        """Compare this map with ``others`` on a normalised depth axis (:func:`medmap.maps.compare_maps`:
        ``depth_table``, ``differences`` (Jaccard overlap per domain and technique), ``summary``). With
        ``out``, also write the comparison report ``out/compare.html``."""
        if not others:
            raise MedmapError("compare needs at least one other map")
        maps = [self, *others]
        for k, km in enumerate(maps):
            if not isinstance(km, KnowledgeMap):
                raise MedmapError(f"compare: argument {k} is a {type(km).__name__}, not a KnowledgeMap")
        result = compare_maps(_distinct([km.layer_map for km in maps]), bins=bins, coverage=coverage)
        if out is not None:
            from medmap.report import build_compare_report

            with tempfile.TemporaryDirectory(prefix="medmap-compare-") as tmp:
                folders = [km.path or km.save(Path(tmp) / f"run{k}") for k, km in enumerate(maps)]
                result["report"] = build_compare_report(folders, out)
        return result

    def recommend(self, goal: str, domains: Sequence[str] | str | None = None, budget: int = 4,
                  **options) -> pd.DataFrame:
        """The decoder layers at which to ``finetune`` or ``unlearn`` ``domains`` (default: all of this
        map's), best first, with the reasons for each (:func:`medmap.maps.recommend.recommend`: the rule,
        and ``options``, fields of :class:`medmap.maps.RecommendOptions`). ``budget`` = how many (0: all
        layers ranked). ``df.attrs["notes"]`` says where raw curves stood in for specific ones."""
        from medmap.maps.recommend import recommend

        return recommend(self.layer_map, self.scores, goal, domains, budget=budget, **options)

    def lora_targets(self) -> tuple[str | None, list[str]]:
        """(``layers_pattern``, ``target_modules``) of a LoRA adapter on this model's decoder layers: from
        the run's provenance (``architecture``), else the architecture table entry of the model's type."""
        from medmap.maps.recommend import lora_targets_of

        return lora_targets_of(self.provenance, self.config)

    def to_peft(self, rec: pd.DataFrame | None = None, *, r: int = 8, lora_alpha: int = 16,
                lora_dropout: float = 0.05, target_modules: Sequence[str] | None = None,
                layers_pattern: str | None = None, **recommend_args) -> dict:
        """A PEFT ``LoraConfig`` (as a dict: ``peft.LoraConfig(**d)``) restricted to the layers of ``rec``
        (a :meth:`recommend` result; without one, ``recommend(**recommend_args)``); ``target_modules``
        and ``layers_pattern`` default to the architecture table's (:meth:`lora_targets`)."""
        from medmap.maps.recommend import peft_config

        if rec is None:
            rec = self.recommend(**recommend_args)
        if target_modules is None:
            pattern, target_modules = self.lora_targets()
            layers_pattern = layers_pattern or pattern
        return peft_config(rec["layer"], target_modules, layers_pattern, r=r, lora_alpha=lora_alpha,
                           lora_dropout=lora_dropout)

    def diff(self, other: "KnowledgeMap", out: str | Path | None = None, **options) -> dict:
        """What changed from this map (A, e.g. a base model) to ``other`` (B, e.g. its fine-tune) of the same
        depth (:func:`medmap.maps.diff.diff_runs`: ``diff`` B - A with paired bootstrap CIs, ``intervals``
        moved, ``cka`` per domain from both capture caches, ``notes``; ``options``: ``DiffOptions`` fields).
        With ``out``, also write diff.csv, cka.csv, intervals.csv, diff.json and figures there."""
        from medmap.maps.diff import DiffOptions, Side, diff_runs

        if not isinstance(other, KnowledgeMap):
            raise MedmapError(f"diff: expected a KnowledgeMap, got {type(other).__name__}")
        sides = []
        for km, default in ((self, "A"), (other, "B")):
            label = km.model if km.path is None else f"{km.model} ({km.path.name})"
            sides.append(Side(label if label.strip() else default, km.scores, km.layer_map, km.path,
                              km.config if isinstance(km.config, dict) else None,
                              km.provenance if isinstance(km.provenance, dict) else None))
        if sides[0].label == sides[1].label:
            sides[0].label, sides[1].label = f"A: {sides[0].label}", f"B: {sides[1].label}"
        result = diff_runs(*sides, DiffOptions(**options))
        if out is not None:
            from medmap.report.diff import write_diff

            result["files"] = write_diff(result, out, self.intervals_lanes())
        return result

    def intervals_lanes(self) -> pd.DataFrame:
        """The map's lanes: one row per (domain, technique) with the metric it draws."""
        return self.layer_map.table[["domain", "technique", "metric"]].drop_duplicates().reset_index(drop=True)

    def _repr_html_(self) -> str:
        from html import escape

        from medmap.report.data import ordered_techniques

        iv = self.intervals
        domains = self.domains
        techniques = ordered_techniques(self.scores["technique"])
        cells = {}
        for r in iv.itertuples(index=False):
            cells.setdefault((r.domain, r.technique), []).append(f"L{r.start}–{r.end}")
        head = "".join(f"<th>{escape(t)}</th>" for t in techniques)
        body = "".join(f"<tr><th>{escape(d)}</th>" + "".join(
            f"<td>{', '.join(cells.get((d, t), [])) or '–'}</td>" for t in techniques) + "</tr>" for d in domains)
        verdicts = "".join(f"<li>{escape(str(f.get('title', f.get('id'))))}: <b>{escape(str(f.get('verdict')))}</b>"
                           "</li>" for f in self.findings_doc.get("findings") or [])
        where = f" · {escape(str(self.path))}" if self.path else " · in memory"
        return (f"<div><b>medmap knowledge map</b>: {escape(self.model)} ({self.n_layers} decoder layers){where}"
                f"<table><tr><th>domain</th>{head}</tr>{body}</table>"
                + (f"<ul>{verdicts}</ul>" if verdicts else "") + "</div>")

    @property
    def domains(self) -> list[str]:
        """The domains of the map (its lanes), in the table's order; the general-knowledge reference set,
        whose rows ``scores`` also holds (the control of the causal techniques), is not one of them."""
        from medmap.report.data import ordered

        return ordered(self.layer_map.table["domain"]) if len(self.layer_map.table) else []

    def __repr__(self) -> str:
        return (f"KnowledgeMap(model={self.model!r}, n_layers={self.n_layers}, domains={self.domains},"
                f" intervals={len(self.layer_map.intervals)}, path={str(self.path) if self.path else None!r})")


def _distinct(maps: list[LayerMap]) -> list[LayerMap]:
    """The maps, with a model that appears in several of them renamed ``<model> #<k>`` (k = its position)
    so that two runs of one model (other seeds, other concept sets) can be compared."""
    names = [m for lm in maps for m in lm.n_layers]
    if len(names) == len(set(names)):
        return maps
    out = []
    for k, lm in enumerate(maps, start=1):
        rename = {m: f"{m} #{k}" for m in lm.n_layers if names.count(m) > 1}
        table = lm.table.assign(model=lm.table["model"].replace(rename))
        agreement = lm.agreement.assign(model=lm.agreement["model"].replace(rename))
        intervals = [{**iv, "model": rename.get(iv["model"], iv["model"])} for iv in lm.intervals]
        out.append(LayerMap(table=table, intervals=intervals, agreement=agreement, rules=lm.rules))
    return out


def load(run_dir: str | Path) -> KnowledgeMap:
    """Read a run folder (made by ``medmap run``, :func:`map` or :meth:`KnowledgeMap.save`)."""
    import json

    from medmap.report.data import load_run

    run = load_run(run_dir)
    if run.scores is None:
        raise MedmapError(f"{run.path}: not a medmap run folder (it has no scores.csv)")
    layer_map = load_map(run.path) if (run.path / "map.json").is_file() else build_map(run.scores)
    patching = None
    if (run.path / "patching.json").is_file():
        patching = json.loads((run.path / "patching.json").read_text(encoding="utf-8"))
    return KnowledgeMap(layer_map=layer_map, scores=run.scores, findings_doc=run.findings or {},
                        embeddings=dict(run.embeddings), config=run.config, provenance=run.provenance,
                        robustness=run.robustness, patching=patching, path=run.path)


def _bars(progress) -> Bars:
    if progress is True:
        return rich_bars()
    if progress is False or progress is None:
        return no_bars
    if callable(progress):
        return progress
    raise ConfigError(f"progress must be True, False or a bars factory, got {type(progress).__name__}")


def _as_list(x) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _resolve_config(config, overrides: dict):
    from medmap.pipeline import RunConfig, config_from_dict, load_config

    if isinstance(config, (str, Path)):
        return load_config(config, overrides)
    if config is None:
        d: dict = {}
    elif isinstance(config, RunConfig):
        d = config.to_dict()
    elif isinstance(config, dict):
        d = dict(config)
    else:
        raise ConfigError(f"config must be a dict, a YAML path or a RunConfig, got {type(config).__name__}")
    d.update({k: v for k, v in overrides.items() if v is not None})
    return config_from_dict(d, "config")


def _loaded_model(model):
    """``model`` when it is already loaded (a LoadedModel, or a (model, tokenizer) pair), else None."""
    from medmap.models import LoadedModel

    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, tuple) and len(model) == 2:
        m, tok = model
        name = str(getattr(getattr(m, "config", None), "_name_or_path", "") or type(m).__name__)
        return LoadedModel.from_model(m, tok, name=Path(name).name or "in-memory")
    if model is not None and not isinstance(model, (str, Path)):
        raise ConfigError(f"model must be a name, a path, a LoadedModel or a (model, tokenizer) pair, got "
                          f"{type(model).__name__}")
    return None


def _concept_sets(concepts, domains):
    """(path for the config, sets read here): one path goes into the config as ``concepts``; several
    paths or ConceptSet objects are read here."""
    from medmap.concepts import ConceptSet, load_file

    items = _as_list(concepts)
    if not items:
        return None, None
    if len(items) == 1 and isinstance(items[0], (str, Path)):
        return str(items[0]), None
    sets = []
    for c in items:
        if isinstance(c, ConceptSet):
            sets.append(c)
        elif isinstance(c, (str, Path)):
            sets.extend(load_file(c))
        else:
            raise ConfigError(f"concepts: expected paths or ConceptSet objects, got {type(c).__name__}")
    if domains:
        missing = [d for d in domains if d not in {s.domain for s in sets}]
        if missing:
            raise ConfigError(f"concepts: no set of domain(s) {', '.join(missing)}")
        sets = [s for s in sets if s.domain in domains]
    return None, sets


def map(model: Any = None, domains: Sequence[str] | str | None = None,  # noqa: A001 (medmap.map is the API)
        techniques: Sequence[str] | str | None = None, *, concepts: Any = None, config: Any = None,
        out: str | Path | None = None, progress: Any = True) -> KnowledgeMap:
    """Map ``model`` and return its :class:`KnowledgeMap`.

    ``model``: anything ``--model`` accepts (bundled name, HF folder, .gguf file, hub id; default the
    bundled smollm2-135m), a :class:`medmap.models.LoadedModel`, or a ``(model, tokenizer)`` pair.
    ``domains``, ``techniques``: names (default: all medical domains, all techniques). ``concepts``: a
    concept file, a list of files, or ConceptSet objects (any domain). ``config``: a dict, a YAML path
    or a RunConfig with any run option (the arguments above override it). ``out``: the run folder; None
    keeps the results in memory (a ``cache`` folder in the config is still used). ``progress``: bars
    (True), none (False) or a bars factory (:mod:`medmap.progress`)."""
    from medmap import pipeline

    lm = _loaded_model(model)
    domains = [d.strip() for d in domains.split(",")] if isinstance(domains, str) else domains
    path, sets = _concept_sets(concepts, domains)
    overrides = {"model": lm.name if lm is not None else (str(model) if model is not None else None),
                 "domains": list(domains) if domains else None,
                 "techniques": [t.strip() for t in techniques.split(",")] if isinstance(techniques, str)
                 else (list(techniques) if techniques else None), "concepts": path}
    cfg = _resolve_config(config, overrides)
    bars = _bars(progress)
    note = print if progress else (lambda msg: None)
    if out is not None:
        pipeline.run(cfg, Path(out), bars, note, lm=lm, sets=sets)
        return load(out)
    tmp = Path(tempfile.mkdtemp(prefix="medmap-map-"))
    try:
        pipeline.run(cfg, tmp, bars, note, lm=lm, sets=sets)
        km = load(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    km.path = None
    return km
