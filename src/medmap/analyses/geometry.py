"""Technique 1: geometry of activations. Per layer, UMAP (umap-learn, seeded) to 2-d for figures and
30-d for metrics, after an optional PCA; metrics in the UMAP space and in the raw activation space, so
that a user can see whether UMAP distorts. Layers run in parallel worker processes (umap-learn runs
single-threaded once seeded, so parallelism across layers is where the speed is). On a GPU, RAPIDS cuML's
UMAP can be used instead (``backend``: 'cuml', or 'auto' = cuML when importable); its embeddings are
not bit-identical to umap-learn's, so the backend is part of the cache key."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from typing import Literal

import numpy as np
from pydantic import Field

from medmap.analyses import geometry_metrics as gm
from medmap.analyses.stats import bootstrap_ci, frame
from medmap.errors import ConfigError
from medmap.options import MAX_SEED, Float, Int, options
from medmap.parallel import die_with_parent

BACKENDS = ("umap-learn", "cuml", "auto")
UMAP_METRICS = ("euclidean", "manhattan", "chebyshev", "canberra", "braycurtis", "cosine", "correlation")
"""Input metrics of UMAP offered for activations (umap-learn and cuML both have them)."""


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
    """Bootstrap resamples for confidence intervals (below 2: no intervals)."""
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


def cuml_available() -> bool:
    """Whether RAPIDS cuML's UMAP can be imported (it needs a CUDA GPU and the cuml package)."""
    try:
        from cuml.manifold import UMAP  # noqa: F401
    except Exception:  # ImportError, or a CUDA runtime error raised while importing
        return False
    return True


def umap_backend(requested: str) -> str:
    """The UMAP implementation ``requested`` resolves to here: 'umap-learn' or 'cuml'."""
    if requested not in BACKENDS:
        raise ConfigError(f"geometry backend '{requested}' is not one of {', '.join(BACKENDS)}")
    if requested == "umap-learn":
        return requested
    if cuml_available():
        return "cuml"
    if requested == "cuml":
        raise ConfigError(
            "geometry backend 'cuml' was asked for, but RAPIDS cuML cannot be imported here (it needs a CUDA "
            "GPU and the cuml package, e.g. pip install cuml-cu12); use backend 'umap-learn' or 'auto'")
    return "umap-learn"


def _umap(X: np.ndarray, dims: int, o: GeometryOptions) -> np.ndarray:
    import warnings

    n = len(X)
    init = "spectral" if n > dims + 2 else "random"
    if o.backend == "cuml":
        from cuml.manifold import UMAP

        red = UMAP(n_components=dims, n_neighbors=max(2, min(o.n_neighbors, n - 1)), min_dist=o.min_dist,
                   metric=o.umap_metric, n_epochs=o.n_epochs, random_state=o.seed, init=init, output_type="numpy")
        return np.asarray(red.fit_transform(np.ascontiguousarray(X, dtype=np.float32)), dtype=np.float64)
    import umap
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        red = umap.UMAP(n_components=dims, n_neighbors=max(2, min(o.n_neighbors, n - 1)), min_dist=o.min_dist,
                        metric=o.umap_metric, n_epochs=o.n_epochs, random_state=o.seed, init=init)
        return red.fit_transform(X).astype(np.float64)


def _pca(X: np.ndarray, dims: int, seed: int) -> np.ndarray:
    if dims <= 0 or dims >= min(X.shape):
        return X
    from sklearn.decomposition import PCA

    return PCA(dims, random_state=seed).fit_transform(X)


def _sil_ci(D: np.ndarray, y: np.ndarray, o: GeometryOptions, seed: int):
    v = gm.silhouette_from_distances(D, y)
    lo, hi = bootstrap_ci(lambda idx: gm.silhouette_from_distances(D[np.ix_(idx, idx)], y[idx]), len(y),
                          o.n_boot, seed)
    return v, lo, hi


def layer_metrics(X: np.ndarray, spec, labels: dict[str, list], o: GeometryOptions,
                  layer: int) -> tuple[list[dict], np.ndarray]:
    """All metrics of one layer's activations [items, hidden] for a domain of spec ``spec``
    (``medmap.concepts.DomainSpec``: which labels, of which kind); returns (rows, 2-d embedding)."""
    from scipy.spatial.distance import cdist

    X = np.asarray(X, dtype=np.float64)
    rows: list[dict] = []

    def add(metric, v, lo=float("nan"), hi=float("nan")):
        rows.append({"metric": metric, "layer": layer, "value": float(v), "ci_low": float(lo), "ci_high": float(hi)})

    seed = o.seed * 1000 + layer
    Xp = _pca(X, o.pca_dims, o.seed)
    emb = _umap(Xp, o.metric_dims, o)
    emb2 = _umap(Xp, 2, o)
    add("mean_cosine", gm.mean_cosine(X))
    add("effective_rank", gm.effective_rank(X))
    D_umap = cdist(emb, emb)
    D_raw = cdist(X, X, metric="cosine")
    for lab in spec.of_kind("categorical"):
        name = lab.name
        y = gm.encode(labels[name])
        add(f"silhouette_umap.{name}", *_sil_ci(D_umap, y, o, seed))
        add(f"silhouette_raw.{name}", *_sil_ci(D_raw, y, o, seed + 1))
        add(f"knn_acc.{name}", gm.knn_accuracy(emb, labels[name], o.knn_k))
    for a, b in spec.contrasts:
        ya, yb = gm.encode(labels[a]), gm.encode(labels[b])

        def gap(idx):
            sub = D_umap[np.ix_(idx, idx)]
            return gm.silhouette_from_distances(sub, ya[idx]) - gm.silhouette_from_distances(sub, yb[idx])

        add(f"silhouette_gap.{a}_minus_{b}", gap(np.arange(len(ya))), *bootstrap_ci(gap, len(ya), o.n_boot, seed + 2))
    for lab in spec.of_kind("continuous"):
        _continuous_metrics(add, lab, labels, spec.split_by, X, Xp, emb, o, seed)
    for lab in spec.of_kind("ordinal"):
        _ordinal_metrics(add, lab, labels, X, o, seed)
    return rows, emb2


def _continuous_metrics(add, lab, labels, split_by, X, Xp, emb, o: GeometryOptions, seed: int) -> None:
    """Linear R^2 (UMAP and PCA space), anisotropy, the strongest step between consecutive values and
    the named boundaries; R^2 per value of ``split_by`` and the gap of two."""
    name = lab.name
    t = np.asarray(labels[name], dtype=float)

    def r2(idx, space=emb):
        return gm.r2_linear(space[idx], t[idx], seed=o.seed)

    add(f"r2_umap.{name}", r2(np.arange(len(t))), *bootstrap_ci(r2, len(t), max(2, o.n_boot // 5), seed))
    add(f"r2_raw.{name}", gm.r2_linear(Xp, t, seed=o.seed))
    an = gm.anisotropy(emb, o.anisotropy_k)
    add(f"anisotropy.{name}", np.nanmean(an),
        *bootstrap_ci(lambda idx: float(np.nanmean(an[idx])), len(an), o.n_boot, seed + 3))
    a, _, strength = gm.age_steps(X, t)
    if np.isfinite(strength).any():
        k = int(np.nanargmax(strength))
        add(f"boundary_strength.{name}", strength[k])
        add(f"boundary_at.{name}", a[k])
    for b in lab.boundaries:
        at = np.nonzero(a == b)[0]
        if at.size:
            add(f"boundary_{b}_{b + 1}.{name}", strength[at[0]])
    if split_by is not None and split_by in labels:
        g = np.asarray([str(x) for x in labels[split_by]])
        vals = {}
        for value in sorted(set(g)):
            sel = np.nonzero(g == value)[0]
            vals[value] = gm.r2_linear(emb[sel], t[sel], seed=o.seed)
            add(f"r2_umap.{name}.{value}", vals[value])
        if len(vals) == 2:
            v = list(vals.values())
            add(f"r2_{split_by}_gap.{name}", v[0] - v[1])


def _ordinal_metrics(add, lab, labels, X, o: GeometryOptions, seed: int) -> None:
    """Per group of ``lab.within`` (one group without it): Spearman of the value with the distance of
    each value's centroid from the first value's, and circularity; their means over groups."""
    name = lab.name
    groups = np.asarray([str(x) for x in labels[lab.within]]) if lab.within else np.full(len(X), "")
    values = np.asarray(labels[name], dtype=float)
    rhos, circs = [], []
    for group in sorted(set(groups)):
        sel = groups == group
        rho, circ, _ = gm.stage_path(X[sel], values[sel])
        rhos.append(rho)
        circs.append(circ)
        if lab.within:
            add(f"spearman.{name}.{group}", rho)
            add(f"circularity.{name}.{group}", circ)
    r = np.asarray(rhos)
    add(f"spearman.{name}", np.nanmean(r), *bootstrap_ci(lambda idx: float(np.nanmean(r[idx])), len(r),
                                                         o.n_boot, seed + 4))
    add(f"circularity.{name}", np.nanmean(circs))


def _job(args):
    X, spec, labels, o, layer = args
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return layer_metrics(X, spec, labels, GeometryOptions(**o), layer)


def flag_collapse(eff_rank: np.ndarray, ratio: float, window: int = 3) -> np.ndarray:
    flags = np.zeros(len(eff_rank))
    for i in range(len(eff_rank)):
        nb = np.r_[eff_rank[max(0, i - window): i], eff_rank[i + 1: i + 1 + window]]
        nb = nb[np.isfinite(nb)]
        if nb.size and np.isfinite(eff_rank[i]) and eff_rank[i] < ratio * np.median(nb):
            flags[i] = 1.0
    return flags


def default_workers() -> int:
    """Worker processes per rank: the CPUs shared by the ranks on this machine, at most 4."""
    from medmap import parallel

    return max(1, min(4, (os.cpu_count() or 1) // parallel.local_world_size()))


def layer_results(acts, cs, layers, options: GeometryOptions = GeometryOptions(), on_layer=None) -> list[tuple]:
    """(rows, 2-d embedding) of each decoder layer in ``layers``, from activations [items, layers+1, hidden];
    the layers run in worker processes (umap-learn) or one after the other on the GPU (cuML)."""
    acts = np.asarray(acts, dtype=np.float32)
    labels = {lab.name: cs.label_values(lab.name) for lab in cs.spec.labels}
    backend = umap_backend(options.backend)
    jobs = [(acts[:, l + 1], cs.spec, labels, {**asdict(options), "backend": backend}, l) for l in layers]
    workers = options.workers or default_workers()
    if backend == "cuml":
        workers = 1  # one process on the GPU: cuML parallelises each layer itself
    out = []
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=get_context("spawn"),
                                 initializer=die_with_parent, initargs=(os.getpid(),)) as ex:
            for res in ex.map(_job, jobs):
                out.append(res)
                if on_layer:
                    on_layer(1)
    else:
        for job in jobs:
            out.append(_job(job))
            if on_layer:
                on_layer(1)
    return out


def assemble(results: list[tuple], cs, *, model: str, options: GeometryOptions = GeometryOptions()):
    """Scores frame and stacked 2-d embeddings [L, items, 2] from the per-layer results of layers 0..L-1."""
    L = len(results)
    rows = [r for l in range(L) for r in results[l][0]]
    eff = np.array([next(r["value"] for r in results[l][0] if r["metric"] == "effective_rank") for l in range(L)])
    for l, f in enumerate(flag_collapse(eff, options.collapse_ratio)):
        rows.append({"metric": "collapse_flag", "layer": l, "value": f, "ci_low": np.nan, "ci_high": np.nan})
    emb2 = np.stack([results[l][1] for l in range(L)])
    return frame(rows, model=model, n_layers=L, domain=cs.domain, technique="geometry"), emb2


def geometry(acts, cs, *, model: str, options: GeometryOptions = GeometryOptions(), on_layer=None):
    """Geometry scores of one concept set from its captured activations [items, layers+1, hidden].
    Returns (scores DataFrame over decoder layers 0..L-1, 2-d embeddings [L, items, 2]). Under torchrun
    the layers are split over the ranks (every rank returns the whole result)."""
    from medmap import parallel

    L = np.shape(acts)[1] - 1
    results = parallel.map_shard(lambda layers: layer_results(acts, cs, layers, options, on_layer), range(L),
                                 size=lambda l: 1, on_step=on_layer)
    return assemble(results, cs, model=model, options=options)
