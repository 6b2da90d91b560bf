import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.manifold import trustworthiness
from sklearn.metrics import r2_score, silhouette_score
from sklearn.model_selection import KFold, cross_val_predict

from medmap.analyses import geometry_metrics as gm
from medmap.analyses.embedding import umap_embedding
from medmap.analyses.geometry import GeometryOptions, flag_collapse


def _blobs(seed=0, n=60, d=20, k=3):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n // k)
    X = rng.normal(size=(n, d)) + 4 * np.eye(k, d)[y]
    return X, y


def test_silhouette_and_r2_agree_with_sklearn():
    X, y = _blobs()
    assert np.isclose(gm.silhouette(X, y), silhouette_score(X, y))
    t = X[:, 0] * 3 + np.random.default_rng(1).normal(size=len(X))
    ref = r2_score(t, cross_val_predict(LinearRegression(), X, t, cv=KFold(5, shuffle=True, random_state=0)))
    assert np.isclose(gm.r2_linear(X, t, seed=0), ref)


def test_umap_embedding_is_trustworthy():
    X, y = _blobs(n=90)
    emb = umap_embedding(X, 2, GeometryOptions(n_epochs=100))
    assert trustworthiness(X, emb, n_neighbors=5) > 0.8
    assert gm.silhouette(emb, y) > 0.3


def test_anisotropy_of_a_line_is_one_and_of_a_blob_is_lower():
    rng = np.random.default_rng(0)
    line = np.c_[np.linspace(0, 10, 100), np.zeros(100)] + rng.normal(scale=1e-3, size=(100, 2))
    blob = rng.normal(size=(100, 2))
    assert gm.anisotropy(line).mean() > 0.99
    assert gm.anisotropy(blob).mean() < 0.8


def test_age_step_finds_planted_discontinuity():
    ages = np.repeat(np.arange(0, 40), 3)
    X = np.c_[ages * 0.1, np.zeros_like(ages, dtype=float)] + (ages >= 18)[:, None] * np.array([5.0, 0])
    a, steps, strength = gm.age_steps(X, ages)
    assert a[np.nanargmax(strength)] == 17


def test_progression_circularity():
    stages = np.arange(10)
    angle = stages / 9 * 1.6 * np.pi  # a path that turns back towards its start
    circ_X = np.c_[np.cos(angle), np.sin(angle)]
    line_X = np.c_[stages, np.zeros(10)].astype(float)
    assert gm.stage_path(circ_X, stages)[1] > 0.25
    rho, circ, _ = gm.stage_path(line_X, stages)
    assert rho > 0.99 and abs(circ) < 1e-9


def test_collapse_flag_marks_a_dip():
    r = np.array([10, 10, 10, 2, 10, 10, 10.0])
    assert flag_collapse(r, 0.5).tolist() == [0, 0, 0, 1, 0, 0, 0]


_UMAP_OF_REPEATED_ROWS = """
import hashlib, numpy as np
from medmap.analyses.embedding import umap_embedding
from medmap.analyses.geometry import GeometryOptions
X = np.repeat(np.random.default_rng(0).normal(size=(150, 20)), 3, 0)
print(hashlib.sha1(umap_embedding(X, 10, GeometryOptions(n_epochs=50)).tobytes()).hexdigest())
"""


def test_umap_of_repeated_rows_is_the_same_in_every_process():
    """Identical rows (one age's span tokens under three templates, in the lexical baseline) made
    UMAP's spectral initialisation degenerate: two processes gave two embeddings (measured on these
    data before the fix). Identical rows now share one point, computed once."""
    import os
    import subprocess
    import sys

    got = {subprocess.run([sys.executable, "-c", _UMAP_OF_REPEATED_ROWS], capture_output=True, text=True,
                          check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
           for _ in range(2)}
    assert len(got) == 1
    rng = np.random.default_rng(1)
    rows = np.repeat(rng.normal(size=(30, 5)), 2, 0)
    rows[1::2] += 1e-12 * rng.normal(size=(30, 5))  # the same input a few ulps apart (after a PCA)
    emb = umap_embedding(rows, 3, GeometryOptions(n_epochs=20))
    assert np.array_equal(emb[0::2], emb[1::2]) and len(np.unique(emb, axis=0)) == 30
