"""Reading a finished run folder. The report reads files only: it never imports torch or the
modules that compute results, so a run can be reported on a machine without a GPU or a model.

Only ``scores.csv`` is required for a single-run report; every other file is optional and its
section is left out when it is missing (a run restricted to some techniques or domains).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medmap.concepts.domains import builtin_spec, builtin_specs, domain_order
from medmap.errors import MedmapError
from medmap.store.schema import MAP_COLUMNS, SCORE_COLUMNS, RunFileError, check_embedding, check_map_json, read_table
from medmap.techniques import TECHNIQUES

ReportError = RunFileError
"""A run folder cannot be reported on (missing or malformed file)."""


@dataclass
class RunData:
    """Everything a report needs from one run folder; absent files are ``None`` (or empty)."""

    path: Path
    """The run folder."""
    scores: pd.DataFrame | None = None
    """``scores.csv``: one row per (model, domain, technique, metric, layer)."""
    map_df: pd.DataFrame | None = None
    """``map.csv``: the primary metric per (domain, technique), smoothed, with ``in_interval``."""
    map_json: dict | None = None
    """``map.json``: ``intervals``, ``agreement``, ``rules``, ``n_layers``."""
    findings: dict | None = None
    """``findings.json``: ``{"model": str, "findings": [...]}``."""
    embeddings: dict[str, dict] = field(default_factory=dict)
    """``embeddings/<domain>.json`` by domain, in the canonical domain order."""
    config: Any = None
    """``config.json``, any JSON."""
    provenance: Any = None
    """``provenance.json``, any JSON."""
    robustness: dict | None = None
    """``robustness.json`` (runs with ``--seeds`` or ``--paraphrases``): ``intervals`` (the spread of
    each interval per group), ``skipped``, ``settings``."""

    @property
    def intervals(self) -> list[dict]:
        return list((self.map_json or {}).get("intervals") or [])

    @property
    def lanes(self) -> list[dict]:
        """``map.json`` ``lanes``: per (domain, technique) the curve used and its status (e.g. "not specific")."""
        return [x for x in (self.map_json or {}).get("lanes") or [] if isinstance(x, dict)]

    @property
    def agreement(self) -> list[dict]:
        return list((self.map_json or {}).get("agreement") or [])

    @property
    def model(self) -> str:
        """The model's name, from findings, map, scores or provenance (first found)."""
        if self.findings and self.findings.get("model"):
            return str(self.findings["model"])
        for df in (self.map_df, self.scores):
            if df is not None and len(df):
                return str(df["model"].iloc[0])
        if isinstance(self.provenance, dict) and self.provenance.get("model"):
            m = self.provenance["model"]
            return str(m.get("name", m) if isinstance(m, dict) else m)
        return self.path.name

    @property
    def n_layers(self) -> int | None:
        for df in (self.map_df, self.scores):
            if df is not None and len(df):
                return int(df["n_layers"].iloc[0])
        n = (self.map_json or {}).get("n_layers") or {}
        return int(next(iter(n.values()))) if n else None


def ordered(values, canonical=None) -> list[str]:
    """Distinct values, canonical ones (default: the domain table's order) first in canonical order, then
    the rest sorted."""
    canonical = domain_order() if canonical is None else canonical
    vals = {str(v) for v in values if v is not None and v == v}
    return [v for v in canonical if v in vals] + sorted(vals - set(canonical))


def ordered_techniques(values) -> list[str]:
    return ordered(values, TECHNIQUES)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"{path}: cannot read JSON ({e})") from e


def run_domains(provenance: Any) -> tuple[str, ...] | None:
    """The domains a run's provenance says it mapped (its concept sets), None when it does not say."""
    sets = provenance.get("concept_sets") if isinstance(provenance, dict) else None
    if not (isinstance(sets, dict) and sets):
        return None
    # the built-in sets that are not medical domains (the reference set of the specificity control) are
    # run by any run that needs them, without being among its concept sets
    controls = [d for d, spec in builtin_specs().items() if not spec.medical and d not in sets]
    return tuple(str(d) for d in sets) + tuple(controls)


def load_run(run_dir: str | Path) -> RunData:
    """Read every known file of a run folder; missing files are left as ``None``.

    Raises ``ReportError`` when the folder does not exist or a present file does not match its schema
    (:mod:`medmap.store.schema`)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise ReportError(f"{path}: not a run folder (does not exist or is not a directory)")
    run = RunData(path=path)
    for name in ("config", "provenance"):
        if (path / f"{name}.json").is_file():
            setattr(run, name, _read_json(path / f"{name}.json"))
    domains = run_domains(run.provenance)
    if (path / "scores.csv").is_file():
        run.scores = read_table(path / "scores.csv", SCORE_COLUMNS, domains)
    if (path / "map.csv").is_file():
        run.map_df = read_table(path / "map.csv", MAP_COLUMNS, domains)
    if (path / "map.json").is_file():
        run.map_json = check_map_json(path / "map.json", _read_json(path / "map.json"))
    if (path / "findings.json").is_file():
        run.findings = _read_json(path / "findings.json")
        if not isinstance(run.findings, dict) or not isinstance(run.findings.get("findings", []), list):
            raise ReportError(f"{path / 'findings.json'}: expected {{'model': ..., 'findings': [...]}}")
    if (path / "robustness.json").is_file():
        run.robustness = _read_json(path / "robustness.json")
        if not isinstance(run.robustness, dict) or not isinstance(run.robustness.get("intervals", []), list) \
                or not isinstance(run.robustness.get("skipped", []), list):
            raise ReportError(f"{path / 'robustness.json'}: expected {{'intervals': [...], 'skipped': [...]}}")
    emb_dir = path / "embeddings"
    if emb_dir.is_dir():
        found = {p.stem: p for p in emb_dir.glob("*.json")}
        for domain in ordered(found):
            run.embeddings[domain] = check_embedding(found[domain], _read_json(found[domain]), run.n_layers)
    return run


def num(v: Any) -> float:
    """A float, NaN for None / non-numbers."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def fmt(v: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits; an en dash for missing values."""
    f = num(v)
    if not np.isfinite(f):
        return "–"
    if f == int(f) and abs(f) < 1e6:
        return str(int(f))
    return f"{f:.{digits}g}"


_TEMPLATE_IN_ID = re.compile(r"(?:^|[-_])(t\d+)(?:$|[-_])")


def template_of(item: dict) -> str | None:
    """The prompt template of an embedding item: its ``template`` label or field, else ``-tN`` in its id."""
    labels = item.get("labels") or {}
    for v in (labels.get("template"), item.get("template")):
        if v is not None:
            return str(v)
    m = _TEMPLATE_IN_ID.search(str(item.get("id", "")))
    return m.group(1) if m else None


def is_numeric_label(values) -> bool:
    """True when every present value is a number (ints, floats or numeric strings): a continuous colour."""
    present = [v for v in values if v is not None]
    if not present:
        return False
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)


def label_names(emb: dict) -> list[str]:
    """Label names of an embedding's items, in first-seen order."""
    names: dict[str, None] = {}
    for it in emb.get("items", []):
        for k in (it.get("labels") or {}):
            names.setdefault(str(k), None)
    return list(names)


def embedding_spec(domain: str, emb: dict):
    """The domain spec an embedding file was made with (recorded in it), else the built-in table's entry,
    else None."""
    from medmap.concepts.domains import spec_from_dict

    raw = emb.get("spec")
    if isinstance(raw, dict):
        try:
            return spec_from_dict(domain, {k: v for k, v in raw.items() if k != "inferred"}, "embedding")
        except MedmapError:
            return None
    return builtin_spec(domain)


def umap_views(domain: str, emb: dict) -> list[dict]:
    """The views drawn for a domain's embedding: ``{"colour", "marker", "join"}`` label names, from the
    domain's spec: each continuous label (marker: the spec's ``split_by``), each ordinal label (points of
    one ``within`` group and template joined in order), then each categorical label that is not a split
    or a group. Labels that the items lack are dropped; a domain without any known label is coloured by
    its first label."""
    names = label_names(emb)
    spec = embedding_spec(domain, emb)
    candidates = []
    if spec is not None:
        used = {spec.split_by} | {lab.within for lab in spec.labels}
        candidates += [(lab.name, spec.split_by, None) for lab in spec.of_kind("continuous")]
        candidates += [(lab.name, None, lab.within) for lab in spec.of_kind("ordinal")]
        candidates += [(lab.name, None, None) for lab in spec.of_kind("categorical") if lab.name not in used]
    views = []
    for colour, marker, join in candidates:
        if colour in names:
            views.append({"colour": colour, "marker": marker if marker in names else None,
                          "join": join if join in names else None})
    if not views and names:
        views.append({"colour": names[0], "marker": None, "join": None})
    return views
