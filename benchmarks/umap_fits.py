"""The two UMAP fits of a layer (30-d for the metrics, 2-d for the figures) as medmap makes them: from one
distance matrix computed by scipy (``metric='precomputed'``), against umap-learn computing the distances
itself for each fit (one numba call per pair). Data: PCA-sized features (50 dimensions) of the sizes of
medmap's sets (190 items: symptoms' neutral templates; 600: age). The layouts differ (graph weights a
float-rounding apart make another SGD path, as another seed would); their quality does not: the
trustworthiness (scikit-learn) of both is printed.

    .venv/bin/python benchmarks/umap_fits.py [--sizes 190,600] [--repeats 2]

Prints per size the seconds of both and ``RATIO <medmap seconds / umap-learn seconds>`` (below 1: faster)."""

import argparse
import time
import warnings

import numpy as np
from sklearn.manifold import trustworthiness

from medmap.analyses.embedding import umap_embeddings
from medmap.analyses.geometry import GeometryOptions


def plain(X: np.ndarray, dims: list[int], o: GeometryOptions) -> list[np.ndarray]:
    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [umap.UMAP(n_components=d, n_neighbors=o.n_neighbors, min_dist=o.min_dist, n_epochs=o.n_epochs,
                          random_state=o.seed, init="spectral").fit_transform(X) for d in dims]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="190,600")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    o = GeometryOptions()
    rng = np.random.default_rng(0)
    total_new = total_old = 0.0
    plain(rng.normal(size=(50, 10)), [2], o)  # numba compilation outside the timings
    umap_embeddings(rng.normal(size=(50, 10)), [2], o)
    for n in (int(s) for s in args.sizes.split(",")):
        X = rng.normal(size=(n, 50)) + np.repeat(rng.normal(size=(n // 10 + 1, 50)) * 2, 10, 0)[:n]
        t_old = t_new = 0.0
        for _ in range(args.repeats):
            t = time.perf_counter()
            old = plain(X, [o.metric_dims, 2], o)
            t_old += time.perf_counter() - t
            t = time.perf_counter()
            new = umap_embeddings(X, [o.metric_dims, 2], o)
            t_new += time.perf_counter() - t
        tw = [trustworthiness(X, e[0], n_neighbors=10) for e in (old, new)]
        print(f"{n} items: umap-learn {t_old / args.repeats:.2f} s, medmap {t_new / args.repeats:.2f} s; "
              f"trustworthiness of the 30-d layout {tw[0]:.3f} vs {tw[1]:.3f}")
        total_old += t_old
        total_new += t_new
    print(f"RATIO {total_new / total_old:.2f}")


if __name__ == "__main__":
    main()
