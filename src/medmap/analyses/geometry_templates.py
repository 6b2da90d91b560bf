"""Which prompt templates the map's geometry uses, and the geometry of each template on its own.

``GeometryOptions.templates`` chooses the items of the geometry: ``neutral`` (default: the items whose
``template`` id starts with ``neutral``, i.e. task-free phrasings that name the concept and ask
nothing), ``all``, or a comma-separated list of template ids. A set without any neutral template falls
back to all its items, and says so (:attr:`TemplateSelection.note`, ``fallback``).

Per template (``GeometryOptions.per_template``), the cheap metrics (no UMAP) are also computed on the
items of every template alone, as rows named ``<metric>[<template>]``: ``silhouette_raw.<label>[t]``
(categorical), ``r2_raw.<label>[t]`` (continuous; PCA of that template's items), ``spearman.<label>[t]``
and ``circularity.<label>[t]`` (ordinal; mean over groups), and, for the primary label,
``probe_acc.<label>[t]`` / ``probe_r2.<label>[t]`` (without the control task). A metric that cannot be computed on a template (too
few items, a label with one value) gives no row.

Per cue (``DomainSpec.cues``: boolean item labels marking a wording that gives a label away, such as a
drug name carrying its class stem, ``stem``, or a symptom naming its organ, ``cue``), the same cheap
metrics on the geometry's items with and without the cue: rows ``<metric>[<cue>=true]`` and
``<metric>[<cue>=false]``, and, from the lexical representation, their ``@lexical`` rows. A label that
clusters only where the cue is present, and as well from the tokens alone, is a token cue, not the model's
knowledge."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medmap.analyses import geometry_metrics as gm
from medmap.analyses.stats import groups_at
from medmap.errors import ConfigError
from medmap.store.schema import cue_subset

NEUTRAL_PREFIX = "neutral"
MIN_ITEMS = 4
"""Templates with fewer items get no per-template rows."""


@dataclass(frozen=True)
class TemplateSelection:
    indices: np.ndarray
    """Indices of the items the geometry uses, in set order."""
    requested: str
    used: tuple[str, ...]
    """Template ids of the items used (``''`` for items without a template)."""
    fallback: bool = False
    """True when ``neutral`` was asked for and the set has no neutral template (all items used)."""
    note: str | None = None

    def to_dict(self) -> dict:
        return {"requested": self.requested, "used": list(self.used), "fallback": self.fallback,
                "note": self.note, "n_items": int(len(self.indices))}


def template_order(items) -> list[str]:
    """Distinct template ids in order of first appearance (``''`` for items without one)."""
    return list(dict.fromkeys(it.template or "" for it in items))


def select_templates(items, requested: str, domain: str = "") -> TemplateSelection:
    """The items of the geometry under ``requested`` (neutral, all, or comma-separated template ids)."""
    requested = str(requested).strip()
    tpl = [it.template or "" for it in items]
    everything = np.arange(len(items))
    if requested == "all":
        return TemplateSelection(everything, requested, tuple(template_order(items)))
    if requested == NEUTRAL_PREFIX:
        idx = np.array([i for i, t in enumerate(tpl) if t.startswith(NEUTRAL_PREFIX)], dtype=int)
        if idx.size == 0:
            names = ", ".join(t or "(none)" for t in template_order(items))
            note = (f"{domain or 'set'}: no neutral template (ids starting with '{NEUTRAL_PREFIX}'); the geometry "
                    f"uses all {len(items)} items (templates {names})")
            return TemplateSelection(everything, requested, tuple(template_order(items)), True, note)
        return TemplateSelection(idx, requested, tuple(dict.fromkeys(tpl[i] for i in idx)))
    wanted = [t.strip() for t in requested.split(",") if t.strip()]
    idx = np.array([i for i, t in enumerate(tpl) if t in wanted], dtype=int)
    if idx.size == 0:
        raise ConfigError(f"analyze.geometry.templates: none of {', '.join(wanted) or '(empty)'} is a template of "
                          f"domain '{domain}' (its templates: {', '.join(t or '(none)' for t in template_order(items))})")
    return TemplateSelection(idx, requested, tuple(dict.fromkeys(tpl[i] for i in idx)))


def template_rows(X_all: np.ndarray, labels_all: dict, templates: list[str], spec, o, layer: int,
                  units=None) -> list[dict]:
    """The per-template rows of one layer (see the module docstring); ``units``: every item's concept."""
    tpl = np.asarray(templates)
    subsets = {t: np.nonzero(tpl == t)[0] for t in dict.fromkeys(templates) if t}
    return subset_rows(X_all, labels_all, subsets, spec, o, layer, units)


def cue_subsets(labels: dict, cues) -> dict[str, np.ndarray]:
    """``{"<cue>=true": indices, "<cue>=false": indices}`` for each cue label in ``cues`` (items whose
    value is neither a boolean nor ``"true"``/``"false"`` are in neither subset)."""
    out = {}
    for cue in cues:
        vals = np.asarray([str(v).lower() for v in labels.get(cue, [])])
        for present in (True, False):
            out[cue_subset(cue, present)] = np.nonzero(vals == str(present).lower())[0]
    return out


def cue_rows(X: np.ndarray, labels: dict, spec, o, layer: int, units=None) -> list[dict]:
    """The cheap metrics of one layer on the items with and without each of the spec's cues
    (``spec.cues``: labels that mark an item whose wording gives a label away, e.g. a drug name carrying
    its class stem): rows ``<metric>[<cue>=true]`` and ``<metric>[<cue>=false]``. Run on the lexical
    representation too, they get ``@lexical`` rows: what the tokens alone give on each side."""
    return subset_rows(X, labels, cue_subsets(labels, spec.cues), spec, o, layer, units)


def subset_rows(X_all: np.ndarray, labels_all: dict, subsets: dict[str, np.ndarray], spec, o,
                layer: int, units=None) -> list[dict]:
    """The cheap metrics of one layer on each subset of items (name -> indices): rows ``<metric>[<name>]``;
    ``units``: every item's concept, by which the cross-validated metrics' folds are grouped."""
    from scipy.spatial.distance import cdist

    from medmap.analyses.probes import probe_rows

    rows: list[dict] = []

    def add(metric, v):
        if np.isfinite(v):
            rows.append({"metric": metric, "layer": layer, "value": float(v), "ci_low": float("nan"),
                         "ci_high": float("nan")})

    for t, idx in subsets.items():
        if len(idx) < MIN_ITEMS:
            continue
        X = np.asarray(X_all[idx], dtype=np.float64)
        lab = {k: [v[i] for i in idx] for k, v in labels_all.items()}
        us = groups_at(units, idx)
        Xp = gm.pca_features(X, o.pca_dims, o.seed)
        cats = spec.of_kind("categorical")
        if cats:
            D = cdist(X, X, metric="cosine")
            for c in cats:
                add(f"silhouette_raw.{c.name}[{t}]", gm.silhouette_from_distances(D, gm.encode(lab[c.name])))
        for c in spec.of_kind("continuous"):
            add(f"r2_raw.{c.name}[{t}]", gm.r2_linear(Xp, np.asarray(lab[c.name], dtype=float), seed=o.seed, groups=us))
        for c in spec.of_kind("ordinal"):
            groups = np.asarray([str(g) for g in lab[c.within]]) if c.within else np.full(len(idx), "")
            vals = np.asarray(lab[c.name], dtype=float)
            paths = [gm.stage_path(X[groups == g], vals[groups == g])[:2] for g in np.unique(groups)]
            rho, circ = np.array(paths, dtype=float).reshape(-1, 2).T
            add(f"spearman.{c.name}[{t}]", np.nanmean(rho) if np.isfinite(rho).any() else np.nan)
            add(f"circularity.{c.name}[{t}]", np.nanmean(circ) if np.isfinite(circ).any() else np.nan)
        if o.probes and spec.label(spec.primary) is not None:  # the primary label only: probes cost most
            for c in (spec.label(spec.primary),):
                grouped = lab[c.within] if c.kind == "ordinal" and c.within else None
                for metric, v, _, _ in probe_rows(Xp, c.name, c.kind, lab[c.name], None, folds=o.probe_folds,
                                                  seed=o.seed, C=o.probe_c, n_boot=0, selectivity=False,
                                                  groups=grouped, cv_groups=us):
                    add(f"{metric}[{t}]", v)
    return rows
