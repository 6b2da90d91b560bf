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

from medmap import DOMAINS, TECHNIQUES
from medmap.store.schema import MAP_COLUMNS, SCORE_COLUMNS, RunFileError, check_embedding, check_map_json, read_table

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
    """``embeddings/<domain>.json`` by domain, in the order of ``medmap.DOMAINS``."""
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


def ordered(values, canonical=DOMAINS) -> list[str]:
    """Distinct values, canonical ones first in canonical order, then the rest sorted."""
    vals = {str(v) for v in values if v is not None and v == v}
    return [v for v in canonical if v in vals] + sorted(vals - set(canonical))


def ordered_techniques(values) -> list[str]:
    return ordered(values, TECHNIQUES)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"{path}: cannot read JSON ({e})") from e


def load_run(run_dir: str | Path) -> RunData:
    """Read every known file of a run folder; missing files are left as ``None``.

    Raises ``ReportError`` when the folder does not exist or a present file does not match its schema
    (:mod:`medmap.store.schema`)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise ReportError(f"{path}: not a run folder (does not exist or is not a directory)")
    run = RunData(path=path)
    if (path / "scores.csv").is_file():
        run.scores = read_table(path / "scores.csv", SCORE_COLUMNS)
    if (path / "map.csv").is_file():
        run.map_df = read_table(path / "map.csv", MAP_COLUMNS)
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
    for name in ("config", "provenance"):
        if (path / f"{name}.json").is_file():
            setattr(run, name, _read_json(path / f"{name}.json"))
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


_UMAP_VIEWS = {
    # domain: [(colour, marker, join)], tried in order; a view is kept when its colour label exists
    "age": [("age", "gender", None)],
    "progression": [("stage", None, "disease")],
    "drugs": [("mechanism", None, None), ("specialty", None, None)],
    "symptoms": [("category", None, None)],
    "diseases": [("category", None, None)],
}


def umap_views(domain: str, emb: dict) -> list[dict]:
    """The views drawn for a domain's embedding: ``{"colour", "marker", "join"}`` label names.

    age: colour = age, marker = gender; progression: colour = stage, points of one disease (and
    template) joined in stage order; drugs: by mechanism and by specialty; symptoms, diseases: by
    category. Labels that the items lack are dropped; a domain without any known label is coloured
    by its first label."""
    names = label_names(emb)
    views = []
    for colour, marker, join in _UMAP_VIEWS.get(domain, []):
        if colour in names:
            views.append({"colour": colour, "marker": marker if marker in names else None,
                          "join": join if join in names else None})
    if not views and names:
        views.append({"colour": names[0], "marker": None, "join": None})
    return views
