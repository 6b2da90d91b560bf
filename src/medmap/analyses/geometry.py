"""Technique 1: geometry of activations. Per layer, UMAP (umap-learn, seeded) to 2-d for figures and
30-d for metrics, after an optional PCA; metrics in the UMAP space and in the raw activation space, so
that a user can see whether UMAP distorts. Layers run in parallel worker processes (umap-learn runs
single-threaded once seeded, so parallelism across layers is where the speed is). On a GPU, RAPIDS cuML's
UMAP can be used instead (``backend``: 'cuml', or 'auto' = cuML when importable); its embeddings are
not bit-identical to umap-learn's, so the backend is part of the cache key. The UMAP fits themselves
are in :mod:`medmap.analyses.embedding`.

Beside each metric, its controls (:mod:`medmap.analyses.controls`: permutation null, lexical baseline,
excess, random-init), linear probes with control tasks (:mod:`medmap.analyses.probes`), the collapse
measures under two readings (:mod:`medmap.analyses.collapse`), and the cheap metrics of each prompt
template alone (:mod:`medmap.analyses.geometry_templates`). The items the metrics use are chosen by
``templates`` (default: the neutral templates)."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Annotated, Literal

import numpy as np
from pydantic import BeforeValidator, Field

from medmap import parallel
from medmap.analyses import geometry_metrics as gm
from medmap.analyses import permutation as pm
from medmap.analyses.collapse import collapse_measures, collapse_ranges, flag_collapse, readings
from medmap.analyses.controls import GeometryPlan, build_plan, familywise_rows, lexical_rows, null_summary
from medmap.analyses.embedding import BACKENDS, UMAP_METRICS, umap_backend, umap_embeddings
from medmap.analyses.geometry_labels import continuous_metrics, ordinal_metrics
from medmap.analyses.geometry_templates import cue_rows, template_rows
from medmap.analyses.probes import probe_metric, probe_rows
from medmap.analyses.stats import frame
from medmap.errors import NumericalError
from medmap.options import MAX_SEED, Bool, Float, Int, options

LEXICAL_KINDS = ("embedding", "bag")
CURVES = ("umap", "probe", "selectivity")


def _template_selection(v):
    if isinstance(v, (list, tuple)):
        v = ",".join(str(t) for t in v)
    if not isinstance(v, str) or not v.strip():
        raise ValueError("use neutral, all or template ids")
    return v


@options(name="geometry")
class GeometryOptions:
    n_neighbors: Int = Field(15, ge=2)
    """UMAP n_neighbors (capped at items - 1)."""
    min_dist: Float = Field(0.1, ge=0, le=1)
    """UMAP min_dist (at most UMAP's spread, 1)."""
    umap_metric: Literal[UMAP_METRICS] = "euclidean"
    """UMAP input metric."""
    n_epochs: Int = Field(200, ge=1)
    """UMAP optimisation epochs."""
    metric_dims: Int = Field(30, ge=1)
    """Dimension of the UMAP embedding the metrics are computed in (the paper: 30)."""
    pca_dims: Int = Field(50, ge=0)
    """PCA to this many dimensions before UMAP and for raw-space R^2 (0 = no PCA)."""
    n_boot: Int = Field(30, ge=0)
    """Resamples for confidence intervals (below 2: no intervals): bootstrap resamples of items, or, for
    the silhouettes and their gaps, half samples of concepts (delete-d jackknife)."""
    knn_k: Int = Field(5, ge=1)
    """k of the k-NN label accuracy."""
    anisotropy_k: Int = Field(20, ge=2)
    """Neighbours for local anisotropy (the paper: 20)."""
    collapse_ratio: Float = Field(0.5, ge=0, le=1)
    """A layer is flagged as collapsed when its effective rank is below this fraction of the median
    effective rank of the 3 layers on each side."""
    workers: Int = Field(0, ge=0)
    """Worker processes for the per-layer UMAP (0 = number of CPUs, at most 4; under torchrun the CPUs
    are shared by the ranks of a machine)."""
    seed: Int = Field(0, ge=0, le=MAX_SEED)
    """Seed of UMAP and of the bootstrap."""
    backend: Literal[BACKENDS] = "umap-learn"
    """UMAP implementation: umap-learn (CPU), cuml (RAPIDS cuML on a CUDA GPU), or auto (cuML when it
    can be imported, else umap-learn)."""
    templates: Annotated[str, BeforeValidator(_template_selection)] = "neutral"
    """Items the geometry uses: neutral (templates whose id starts with 'neutral'; all items when a set
    has none, with a note), all, or comma-separated template ids (a list is accepted)."""
    per_template: Bool = True
    """Also compute the cheap metrics (no UMAP) of every template alone: rows ``<metric>[<template>]``."""
    n_perm: Int = Field(200, ge=0)
    """Permutations of the permutation null of each metric (rows ``M@null95``, ``M@p``; 0 = none)."""
    lexical: Bool = True
    """Compute every metric on the lexical baseline (rows ``M@lexical``, ``M@excess``)."""
    lexical_kind: Literal[LEXICAL_KINDS] = "embedding"
    """Lexical baseline: embedding (mean input embedding of the concept span's tokens) or bag (token
    counts over the vocabulary)."""
    probes: Bool = True
    """Linear probes with control tasks (rows ``probe_acc.<label>`` / ``probe_r2.<label>``,
    ``probe_selectivity.<label>``)."""
    probe_folds: Int = Field(5, ge=2)
    """Cross-validation folds of the probes."""
    probe_c: Float = Field(1.0, gt=0)
    """Inverse regularisation C of the logistic-regression probes."""
    collapse_top_k: Int = Field(3, ge=0)
    """Coordinates of largest mean square removed for the ``@notop<k>`` collapse reading."""
    map_curve: Literal[CURVES] = "umap"
    """The geometry curve of the map: umap (the paper: silhouette_umap / r2_umap / spearman of the
    primary label), probe (probe_acc / probe_r2) or selectivity (probe_selectivity)."""


def curve_metric(spec, curve: str = "umap") -> str | None:
    """The geometry metric the map draws for a domain of spec ``spec`` under ``map_curve`` ``curve``."""
    lab = spec.label(spec.primary) if spec.primary else None
    if lab is None:
        return None
    if curve == "umap":
        return spec.primary_metric
    if curve == "selectivity":
        return f"probe_selectivity.{lab.name}"
    return f"{probe_metric(lab.kind, bool(lab.within))}.{lab.name}"


def _pca(X: np.ndarray, dims: int, seed: int) -> np.ndarray:
    return gm.pca_features(X, dims, seed)


def _sil_ci(D: np.ndarray, y: np.ndarray, units: np.ndarray, o: GeometryOptions, seed: int):
    """Silhouette with its CI over units (concepts): ``o.n_boot`` half samples of the units, all at once
    (``silhouette_many`` with 0/1 weights), and the delete-d jackknife interval
    (:func:`medmap.analyses.permutation.half_sample_ci`)."""
    v = gm.silhouette_from_distances(D, y)
    return (v, *_half_ci(D, [y], units, v, o, seed))


def _half_ci(D: np.ndarray, ys: list, units: np.ndarray, estimate: float, o: GeometryOptions, seed: int):
    """CI of a silhouette (one labeling in ``ys``) or of a gap of two (``ys`` = [a, b]: sil(a) - sil(b),
    on the same half samples) over half samples of ``units``."""
    n_units = len(np.unique(units))
    if o.n_boot < 2 or n_units < 4:
        return np.nan, np.nan
    w = pm.half_samples(units, o.n_boot, seed)
    sils = [pm.silhouette_many(D, np.tile(y, (len(w), 1)), w) for y in ys]
    values = sils[0] if len(sils) == 1 else sils[0] - sils[1]
    return pm.half_sample_ci(estimate, values, n_units)


class _Rows:
    """The rows of one layer: ``add(metric, value, lo, hi, null=...)``; a null adds ``@null95``, ``@p``."""

    def __init__(self, layer: int):
        self.layer, self.rows = layer, []

    def __call__(self, metric, v, lo=float("nan"), hi=float("nan"), null=None):
        self.rows.append({"metric": metric, "layer": self.layer, "value": float(v), "ci_low": float(lo),
                          "ci_high": float(hi)})
        if null is not None:
            self.rows += null_summary(metric, float(v), null, self.layer)


def layer_metrics(X: np.ndarray, spec, labels: dict[str, list], o: GeometryOptions, layer: int,
                  plan: GeometryPlan | None = None) -> tuple[list[dict], np.ndarray | None]:
    """All metrics of one layer's activations [items, hidden] of a set of spec ``spec``
    (``medmap.concepts.DomainSpec``), on the items ``plan.sel`` (all without a plan), with the nulls of
    ``plan.perms``; returns (rows, 2-d embedding of the selected items; None for a lexical plan)."""
    from scipy.spatial.distance import cdist
    from sklearn.neighbors import NearestNeighbors

    X_all = np.asarray(X, dtype=np.float64)
    plan = plan or GeometryPlan(np.arange(len(X_all)), [""] * len(X_all))
    X = X_all[plan.sel]
    labs = {k: [v[i] for i in plan.sel] for k, v in labels.items()}
    add = _Rows(layer)
    seed = o.seed * 1000 + (layer if layer >= 0 else 999)  # layer -1: the lexical baseline
    Xp = _pca(X, o.pca_dims, o.seed)
    emb, *emb2 = umap_embeddings(Xp, [o.metric_dims] + ([] if plan.lexical else [2]), o)
    emb2 = emb2[0] if emb2 else None
    for metric, v in collapse_measures(X, o.collapse_top_k).items():
        add(metric, v)
    D_umap = cdist(emb, emb)
    D_raw = cdist(X, X, metric="cosine")
    cats = spec.of_kind("categorical")
    nb = NearestNeighbors(n_neighbors=o.knn_k + 1).fit(emb).kneighbors(emb)[1] if cats and len(X) > o.knn_k else None
    units = plan.units if plan.units is not None else np.arange(len(X))
    umap_null = {}
    for lab in cats:
        name, P = lab.name, plan.perms.get(lab.name)
        y = gm.encode(labs[name])
        umap_null[name] = None if P is None else pm.silhouette_many(D_umap, P)
        add(f"silhouette_umap.{name}", *_sil_ci(D_umap, y, units, o, seed), null=umap_null[name])
        add(f"silhouette_raw.{name}", *_sil_ci(D_raw, y, units, o, seed + 1),
            null=None if P is None else pm.silhouette_many(D_raw, P))
        add(f"knn_acc.{name}", gm.knn_accuracy(emb, labs[name], o.knn_k),
            null=None if P is None or nb is None else pm.knn_many(nb, P))
    for a, b in spec.contrasts:
        ya, yb = gm.encode(labs[a]), gm.encode(labs[b])
        gap = gm.silhouette_from_distances(D_umap, ya) - gm.silhouette_from_distances(D_umap, yb)
        # its chance level: the gap between the two labelings' nulls (each shuffled by its own seeded
        # permutations), which keeps both labelings' class sizes: a labeling into many small classes
        # has a lower silhouette on structureless data than one into few large classes
        na, nb = umap_null.get(a), umap_null.get(b)
        add(f"silhouette_gap.{a}_minus_{b}", gap, *_half_ci(D_umap, [ya, yb], units, gap, o, seed + 2),
            null=None if na is None or nb is None else na - nb)
    for lab in spec.of_kind("continuous"):
        continuous_metrics(add, lab, labs, spec.split_by, X, Xp, emb, o, seed, plan.perms.get(lab.name), plan.units)
    for lab in spec.of_kind("ordinal"):
        ordinal_metrics(add, lab, labs, X, o, seed, plan.perms.get(lab.name))
    if o.probes:
        for lab in spec.labels:
            for row in probe_rows(Xp, lab.name, lab.kind, labs[lab.name], plan.control.get(lab.name),
                                  folds=o.probe_folds, seed=o.seed, C=o.probe_c, n_boot=o.n_boot,
                                  groups=labs[lab.within] if lab.kind == "ordinal" and lab.within else None,
                                  cv_groups=plan.units):
                add(*row)
    rows = add.rows + cue_rows(X, labs, spec, o, layer, plan.units)
    if o.per_template and not plan.lexical:
        rows += template_rows(X_all, labels, plan.templates, spec, o, layer, plan.concepts)
    return rows, emb2


def _job(args):
    """One unit of :func:`layer_results`, its BLAS/OpenMP pools held to one thread, in a worker process
    and in this one alike (the same numbers for any number of workers). The workers already share out
    the CPUs, and each worker's BLAS would otherwise start a thread per CPU (once numpy is loaded,
    OMP_NUM_THREADS no longer counts): oversubscribed, OpenBLAS's spinning threads made the stage six
    times slower (smollm2-135m symptoms, 10 layers on 2 workers: 23.7 s vs 3.9 s)."""
    from threadpoolctl import threadpool_limits

    X, spec, labels, o, layer, plan = args
    with threadpool_limits(limits=1):
        return layer_metrics(X, spec, labels, GeometryOptions(**o), layer, plan)


LEXICAL = "lexical"
"""The unit of the lexical baseline among the layers of :func:`layer_results`."""


def layer_results(acts, cs, layers, options: GeometryOptions = GeometryOptions(), on_layer=None,
                  plan: GeometryPlan | None = None, lexical: np.ndarray | None = None) -> list[tuple]:
    """(rows, 2-d embedding) of each decoder layer in ``layers``, from activations [items, layers+1, hidden]
    (the unit :data:`LEXICAL` computes the same metrics on the lexical representation ``lexical``, with
    layer -1); the units run in worker processes (umap-learn) or one after the other on the GPU (cuML)."""
    acts = np.asarray(acts, dtype=np.float32)
    plan = plan or build_plan(cs, options)
    labels = {name: cs.label_values(name) for name in [lab.name for lab in cs.spec.labels] + list(cs.spec.cues)}
    backend = umap_backend(options.backend)
    o = {**asdict(options), "backend": backend}
    lex_plan = replace(plan, perms={}, lexical=True)
    jobs = [(lexical, cs.spec, labels, o, -1, lex_plan) if l == LEXICAL else (acts[:, l + 1], cs.spec, labels, o, l, plan)
            for l in layers]
    workers = options.workers or parallel.local_workers()
    if backend == "cuml":
        workers = 1  # one process on the GPU: cuML parallelises each layer itself
    out = []

    def done(res):
        out.append(res)
        if on_layer and res[0] and res[0][0]["layer"] >= 0:
            on_layer(1)

    if workers > 1 and len(jobs) > 1:
        for res in parallel.pool_map(workers, _job, jobs):
            done(res)
    else:
        for job in jobs:
            done(_job(job))
    return out


def assemble(results: list[tuple], cs, *, model: str, options: GeometryOptions = GeometryOptions(),
             lexical: list[dict] | None = None):
    """Scores frame and stacked 2-d embeddings [L, items, 2] from the per-layer results of layers 0..L-1,
    with the collapse flags and ranges, and the ``@lexical`` / ``@excess`` rows of the lexical run."""
    L = len(results)
    rows = [r for l in range(L) for r in results[l][0]]

    def curve(metric):
        return np.array([next((r["value"] for r in results[l][0] if r["metric"] == metric), np.nan) for l in range(L)])

    def per_layer(metric, values):
        rows.extend({"metric": metric, "layer": l, "value": float(f), "ci_low": np.nan, "ci_high": np.nan}
                    for l, f in enumerate(values))

    per_layer("collapse_flag", flag_collapse(curve("effective_rank"), options.collapse_ratio))
    for suffix in ("",) + tuple(f"@{r}" for r in readings(options.collapse_top_k)):
        per_layer(f"collapse_range_flag{suffix}", collapse_ranges(curve(f"effective_rank{suffix}"), options.collapse_ratio))
    rows += familywise_rows(rows)
    rows += lexical_rows(rows, lexical or [])  # without a lexical run: M@excess is NaN
    emb2 = np.stack([results[l][1] for l in range(L)]) if L else np.empty((0, 0, 2))
    return frame(rows, model=model, n_layers=L, domain=cs.domain, technique="geometry"), emb2


def dense_features(lexical) -> np.ndarray:
    """A lexical representation as a dense array: a sparse bag of tokens keeps only the columns that
    occur (zero columns change no distance, PCA or regression)."""
    if hasattr(lexical, "tocsc"):
        used = np.unique(lexical.nonzero()[1])
        return np.asarray(lexical.tocsc()[:, used].todense(), dtype=np.float32)
    return np.asarray(lexical, dtype=np.float32)


def geometry(acts, cs, *, model: str, options: GeometryOptions = GeometryOptions(), on_layer=None,
             lexical=None, plan: GeometryPlan | None = None):
    """Geometry scores of one concept set from its captured activations [items, layers+1, hidden], with
    the controls of ``lexical`` (the lexical representation of every item, :mod:`medmap.capture.lexical`;
    None: no ``@lexical`` rows). Returns (scores DataFrame over decoder layers 0..L-1, 2-d embeddings
    [L, selected items, 2]). Under torchrun the layers are split over the ranks (every rank returns the
    whole result)."""
    L = np.shape(acts)[1] - 1
    plan = plan or build_plan(cs, options)
    lex = dense_features(lexical) if lexical is not None else None
    for what, arr in (("activations", acts), ("lexical representation", lex)):
        if arr is not None and not np.isfinite(np.asarray(arr)).all():
            raise NumericalError(f"geometry of '{cs.domain}': the {what} hold NaN or infinite values")
    units = ([LEXICAL] if lex is not None else []) + list(range(L))  # the lexical job first: no straggler
    results = parallel.map_shard(lambda us: layer_results(acts, cs, us, options, on_layer, plan, lex), units,
                                 size=lambda u: 0 if u == LEXICAL else 1, on_step=on_layer)
    lex_rows = results.pop(0)[0] if lex is not None else None
    return assemble(results, cs, model=model, options=options, lexical=lex_rows)
