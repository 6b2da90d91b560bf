"""Controls of the geometry metrics: what a metric would be without the structure it claims to measure.

For a metric ``M`` of scores.csv (same columns as ``M``):

- ``M@null95`` / ``M@p``: permutation null. ``M`` recomputed on the same embedding (same PCA, UMAP,
  distances, folds: only the labels change) under ``GeometryOptions.n_perm`` (200) seeded relabelings;
  the 95th percentile of the null and the one-sided p-value (1 + #{null >= observed}) / (1 + N). Every
  metric here is larger for more structure, so one side is the right one.
- ``M@lexical``: ``M`` on a representation that knows only the tokens (the mean of the model's input
  token embeddings over the concept span, :mod:`medmap.capture.lexical`), through the same pipeline (PCA,
  UMAP, seed); one layer-free value repeated on every layer's row.
- ``M@p_layers``: the p-value of ``M`` at each layer against the null of the *largest* value of ``M``
  over all layers (Westfall-Young single step: every permutation is the same relabeling at every layer,
  so its maximum over the layers is what chance gives for the best of the layers). A finding that picks
  its layer as the curve's best is judged by it; it controls the family-wise error over the layers.
- ``M@excess``: observed - max(``M@lexical``, ``M@null95``); its CI is the observed CI shifted by the same
  amount (the references' own uncertainty is not in it). Only for metrics with a null; NaN where the
  lexical value is missing.
- ``M@random_init`` (opt-in, ``controls: [random_init]``): ``M`` for the same architecture with
  re-initialised weights, through capture and geometry.

How labels are shuffled (:func:`build_plan`). The permutation *unit* is the concept (the items'
``concept`` field; the item itself without one): a concept's items (paraphrases under several
templates) keep one label between them, so the null keeps whatever closeness paraphrases of one concept
have, and only the assignment of labels to concepts is random. That is the right null for a label shared
by the templates of a concept: an item-level shuffle would break concept identity, which the labels do
not claim, and overstate the observed structure. Units are shuffled *within strata*: concepts with the
same set of templates (so each template keeps its label composition: "within template"); for an
ordinal label also within its group (stages are shuffled within a disease: a random order of the stage
centroids); for a continuous label also within ``split_by`` (ages within a gender). A label whose value
differs between the items of one concept is shuffled over items within template (and group) instead;
``info['permutation']`` says which unit each label got.

Metrics with a null: ``silhouette_umap``, ``silhouette_raw``, ``knn_acc`` (categorical); ``r2_umap``,
``r2_raw``, ``r2_umap.<label>.<split value>``, ``boundary_strength``, ``boundary_<a>_<a+1>``
(continuous: the ages are shuffled); ``spearman``, ``circularity`` and their per-group rows (ordinal).
The silhouette gap of a contrast (``silhouette_gap.<a>_minus_<b>``) has the gap of the two labelings'
nulls as its null. Without a null (no label to shuffle, or not a score of one labeling): ``anisotropy``,
``boundary_at``, the split gap, the collapse measures, the probes (their control is
the control task, :mod:`medmap.analyses.probes`).
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np

from medmap.analyses import geometry_metrics as gm
from medmap.analyses.geometry_templates import select_templates
from medmap.analyses.permutation import permute


@dataclass
class GeometryPlan:
    """What the per-layer jobs of one set share: which items, the relabelings, the control labels."""

    sel: np.ndarray
    """Indices of the items the geometry metrics use (the template selection)."""
    templates: list[str]
    """Template id of every item of the set (for the per-template rows)."""
    perms: dict[str, np.ndarray] = field(default_factory=dict)
    """Label -> relabelings [n_perm, len(sel)] (integer codes for categorical labels, floats otherwise)."""
    control: dict[str, np.ndarray] = field(default_factory=dict)
    """Label -> control-task labels of the selected items (random per concept), for the probes."""
    info: dict = field(default_factory=dict)
    """Templates requested and used, fallback note, permutation unit of each label."""
    units: np.ndarray | None = None
    """Resampling unit (concept) of every selected item, for the silhouette CIs and the grouped folds of the
    cross-validated metrics (None: the item)."""
    concepts: np.ndarray | None = None
    """The concept of every item of the set (the units of the per-template rows; None: the item)."""
    lexical: bool = False
    """True for the plan of the lexical baseline (no nulls, no per-template rows, no 2-d embedding)."""


def _seed(seed: int, name: str, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode()), salt])


def _relabel(values, concepts, item_ids, signature, templates, extra, n, rng):
    """Relabelings by concept within (template signature, extra); else by item within (template, extra)."""
    try:
        return permute(values, concepts, np.char.add(signature, extra), n, rng), "concept"
    except ValueError:
        return permute(values, item_ids, np.char.add(templates, extra), n, rng), "item"


def build_plan(cs, o) -> GeometryPlan:
    """The plan of concept set ``cs`` under ``GeometryOptions`` ``o``."""
    items = list(cs.items)
    selection = select_templates(items, o.templates, cs.domain)
    sel = selection.indices
    templates = [it.template or "" for it in items]
    chosen = [items[i] for i in sel]
    ids = np.asarray([it.id for it in chosen])
    every = np.asarray([it.concept if it.concept is not None else "\x00" + it.id for it in items])
    concepts = every[sel]
    plan = GeometryPlan(sel, templates, units=concepts, concepts=every,
                        info={"templates": selection.to_dict(), "permutation": {}, "n_perm": int(o.n_perm)})
    tpl = np.asarray([it.template or "" for it in chosen])
    sig_of = {}
    for c, t in zip(concepts, tpl):
        sig_of.setdefault(c, set()).add(t)
    signature = np.asarray(["|".join(sorted(sig_of[c])) for c in concepts])
    spec = cs.spec

    def strat(lab):
        if lab.kind == "ordinal" and lab.within:
            return np.asarray(["#" + str(it.labels.get(lab.within)) for it in chosen])
        if lab.kind == "continuous" and spec.split_by:
            return np.asarray(["#" + str(it.labels.get(spec.split_by)) for it in chosen])
        return np.full(len(chosen), "")

    for lab in spec.labels:
        raw = [it.labels.get(lab.name) for it in chosen]
        values = gm.encode(raw) if lab.kind == "categorical" else np.asarray(raw, dtype=float)
        extra = strat(lab)
        if o.n_perm > 0:
            plan.perms[lab.name], unit = _relabel(values, concepts, ids, signature, tpl, extra, o.n_perm,
                                                  _seed(o.seed, lab.name))
            by = lab.within if lab.kind == "ordinal" else spec.split_by if lab.kind == "continuous" else None
            plan.info["permutation"][lab.name] = {"unit": unit, "within": ["templates"] + ([by] if by else [])}
        if o.probes:
            empty = np.full(len(chosen), "")
            # an ordinal label compared within groups keeps its control labels inside each group (a stage
            # of another disease would not be a stage of this one)
            within = extra if lab.kind == "ordinal" and lab.within else empty
            plan.control[lab.name] = _relabel(values, concepts, ids, empty, empty, within, 1,
                                              _seed(o.seed, lab.name, 1))[0][0]
    return plan


NULL_KEY = "_null"
"""Key of the per-permutation null values an ``@p`` row carries from a layer's job to
:func:`familywise_rows` (removed there: it never reaches the scores)."""


def null_summary(metric: str, observed: float, null: np.ndarray, layer: int) -> list[dict]:
    """The ``@null95`` and ``@p`` rows of one metric (the ``@p`` row keeps the null under NULL_KEY)."""
    from medmap.analyses.permutation import null95, p_value

    nan = float("nan")
    return [{"metric": f"{metric}@null95", "layer": layer, "value": null95(null), "ci_low": nan, "ci_high": nan},
            {"metric": f"{metric}@p", "layer": layer, "value": p_value(observed, null), "ci_low": nan, "ci_high": nan,
             NULL_KEY: np.asarray(null, dtype=float)}]


def familywise_rows(rows: list[dict]) -> list[dict]:
    """``M@p_layers`` for every metric whose ``@p`` rows carry their null (see the module docstring), and
    those nulls removed from ``rows`` (in place)."""
    from medmap.analyses.permutation import p_value

    nulls: dict[str, dict[int, np.ndarray]] = {}
    for r in rows:
        null = r.pop(NULL_KEY, None)
        if null is not None:
            nulls.setdefault(r["metric"][: -len("@p")], {})[r["layer"]] = null
    observed = {(r["metric"], r["layer"]): r["value"] for r in rows if r["metric"] in nulls}
    out = []
    for metric, by_layer in nulls.items():
        if len({len(v) for v in by_layer.values()}) != 1:
            continue  # not one relabeling per permutation at every layer
        stacked = np.vstack(list(by_layer.values()))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a permutation NaN at every layer
            best = np.nanmax(stacked, axis=0)
        for layer in sorted(by_layer):
            out.append({"metric": f"{metric}@p_layers", "layer": layer, "ci_low": float("nan"),
                        "ci_high": float("nan"), "value": p_value(observed.get((metric, layer), float("nan")), best)})
    return out


def is_base(metric: str) -> bool:
    """A metric that gets controls: not itself a control (``@``) or a per-template row (``[``)."""
    return "@" not in metric and "[" not in metric


def lexical_rows(rows: list[dict], lexical: list[dict]) -> list[dict]:
    """``M@lexical`` for every metric of the lexical run present in ``rows`` (all layers: the base metrics
    and the rows of the cue subsets, ``M[<cue>=...]``), and ``M@excess`` for every metric of ``rows``
    that has a null."""
    lex = {r["metric"]: r for r in lexical if "@" not in r["metric"]}
    have = {(r["metric"], r["layer"]): r for r in rows}
    out = []
    for r in rows:
        m = r["metric"]
        if "@" in m:
            continue
        lx = lex.get(m)
        if lx is not None:
            out.append({**r, "metric": f"{m}@lexical", "value": lx["value"], "ci_low": lx["ci_low"],
                        "ci_high": lx["ci_high"]})
        null = have.get((f"{m}@null95", r["layer"]))
        if null is not None:
            refs = [null["value"], lx["value"] if lx is not None else float("nan")]
            ref = max(refs) if all(np.isfinite(refs)) else float("nan")
            out.append({**r, "metric": f"{m}@excess", "value": r["value"] - ref, "ci_low": r["ci_low"] - ref,
                        "ci_high": r["ci_high"] - ref})
    return out


def renamed(rows: list[dict], control: str) -> list[dict]:
    """Base-metric rows renamed ``M@<control>`` (e.g. the rows of the random-init model)."""
    return [{**r, "metric": f"{r['metric']}@{control}"} for r in rows if is_base(r["metric"])]
