"""UMAP embeddings of the geometry technique: the implementation in use (umap-learn, or RAPIDS cuML on a
GPU), identical rows embedded once, and the fits of one layer from one distance matrix. ``o`` is a
``medmap.analyses.geometry.GeometryOptions`` (n_neighbors, min_dist, umap_metric, n_epochs, seed,
backend already resolved by :func:`umap_backend`)."""

from __future__ import annotations

import numpy as np

from medmap.errors import ConfigError

BACKENDS = ("umap-learn", "cuml", "auto")
UMAP_METRICS = ("euclidean", "manhattan", "chebyshev", "canberra", "braycurtis", "cosine", "correlation")
"""Input metrics of UMAP offered for activations (umap-learn and cuML both have them)."""


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


EXACT_BELOW = 4096
"""umap-learn's own limit for exact neighbours: below it, UMAP starts from all pairwise distances."""
DUPLICATE_RTOL = 1e-6
"""Rows closer than this times the median distance of the rows to their mean count as one point."""


def distinct_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the distinct rows of X, in order of first occurrence; for every row, the position
    of its representative among them). Rows within DUPLICATE_RTOL of each other (relative to the data's
    spread) count as one: identical inputs come out of a PCA, or of a mean over the same tokens in
    another order, a few ulps apart. From EXACT_BELOW rows on (no full distance matrix), only exactly
    equal rows count as one."""
    from scipy.spatial.distance import cdist

    if len(X) >= EXACT_BELOW:
        _, first, inverse = np.unique(X, axis=0, return_index=True, return_inverse=True)
        order = np.argsort(first)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        return first[order], rank[inverse.ravel()]
    scale = float(np.median(np.linalg.norm(X - X.mean(0), axis=1))) if len(X) else 0.0
    first = (cdist(X, X) <= DUPLICATE_RTOL * (scale or 1.0)).argmax(1)  # first row near each (itself at the latest)
    while not np.array_equal(first[first], first):  # a chain of near rows: one representative
        first = first[first]
    reps = np.unique(first)
    return reps, np.searchsorted(reps, first)


SCIPY_METRICS = {"manhattan": "cityblock"}
"""scipy's names of the UMAP metrics that scipy names otherwise."""


def umap_embedding(X: np.ndarray, dims: int, o) -> np.ndarray:
    """UMAP embedding [items, dims] of X (see :func:`umap_embeddings`)."""
    return umap_embeddings(X, [dims], o)[0]


def umap_embeddings(X: np.ndarray, dims: list[int], o) -> list[np.ndarray]:
    """UMAP embeddings [items, d] of X, one per d in ``dims``, from one distance matrix.

    Items with identical rows (:func:`distinct_rows`) get one point: UMAP runs on the distinct rows
    and every item takes its row's point. Identical inputs (e.g. one age's span tokens under several
    templates, in the lexical baseline) make the spectral initialisation degenerate, and its
    eigenvectors then differed between processes (same data, seed and threads): the map was not
    reproducible. Without identical rows (or with fewer than 4 distinct ones, too few for UMAP) all
    rows are used.

    Below EXACT_BELOW rows, umap-learn computes every pairwise distance itself, one pair per Python call
    of its numba metric (40% of a 600-item fit); here scipy computes the matrix once, in C, for all the
    fits, and umap-learn gets it as ``metric='precomputed'`` (the same exact-neighbour path)."""
    reps, inverse = distinct_rows(X)
    rows = X if len(reps) == len(X) or len(reps) < 4 else X[reps]
    D = None
    if o.backend != "cuml" and len(rows) < EXACT_BELOW:
        from scipy.spatial.distance import cdist

        D = cdist(rows, rows, metric=SCIPY_METRICS.get(o.umap_metric, o.umap_metric))
    out = [_fit(rows, d, o, D) for d in dims]
    return out if rows is X else [e[inverse] for e in out]


def _fit(X: np.ndarray, dims: int, o, D: np.ndarray | None = None) -> np.ndarray:
    """One UMAP fit of X; from the distance matrix D of X where it is given (umap-learn only)."""
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
                        metric="precomputed" if D is not None else o.umap_metric, n_epochs=o.n_epochs,
                        random_state=o.seed, init=init)
        return red.fit_transform(X if D is None else D).astype(np.float64)
