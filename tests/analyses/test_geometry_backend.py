"""Choice of the UMAP implementation: umap-learn by default, RAPIDS cuML when asked for (or 'auto' and
importable), a clear error when cuML is asked for and absent. cuML itself cannot run here: a stand-in
module checks the call that medmap makes."""

import sys
import types

import numpy as np
import pytest

from medmap.analyses import embedding as E
from medmap.analyses import geometry as G
from medmap.concepts import load_builtin
from medmap.errors import ConfigError


def test_selection_logic(monkeypatch):
    assert E.umap_backend("umap-learn") == "umap-learn"
    monkeypatch.setattr(E, "cuml_available", lambda: False)
    assert E.umap_backend("auto") == "umap-learn"
    with pytest.raises(ConfigError, match="backend 'cuml' was asked for, but RAPIDS cuML cannot be imported"):
        E.umap_backend("cuml")
    monkeypatch.setattr(E, "cuml_available", lambda: True)
    assert E.umap_backend("auto") == "cuml" and E.umap_backend("cuml") == "cuml"
    with pytest.raises(ConfigError, match="geometry: backend: must be one of 'umap-learn', 'cuml' or 'auto'"):
        G.GeometryOptions(backend="tsne")


def test_cuml_asked_for_on_a_machine_without_it_is_a_clear_error():
    if E.cuml_available():
        pytest.skip("cuML is installed here")
    cs = load_builtin("symptoms")
    acts = np.zeros((len(cs), 3, 8), dtype=np.float32)
    with pytest.raises(ConfigError, match="cuml-cu12"):
        G.geometry(acts, cs, model="m", options=G.GeometryOptions(backend="cuml"))


@pytest.fixture
def fake_cuml(monkeypatch):
    calls = []

    class UMAP:
        def __init__(self, **kw):
            calls.append(kw)
            self.k = kw["n_components"]

        def fit_transform(self, X):
            assert X.dtype == np.float32 and X.flags["C_CONTIGUOUS"]
            return np.random.default_rng(len(calls)).normal(size=(len(X), self.k)).astype(np.float32)

    cuml = types.ModuleType("cuml")
    cuml.manifold = types.ModuleType("cuml.manifold")
    cuml.manifold.UMAP = UMAP
    monkeypatch.setitem(sys.modules, "cuml", cuml)
    monkeypatch.setitem(sys.modules, "cuml.manifold", cuml.manifold)
    return calls


def test_cuml_backend_is_called_in_process_with_the_options(fake_cuml):
    full = load_builtin("symptoms")
    keep = {it.id for it in full.items[:24]}
    cs = full.subset(lambda it: it.id in keep)
    acts = np.random.default_rng(0).normal(size=(len(cs), 3, 8)).astype(np.float32)
    o = G.GeometryOptions(backend="auto", workers=4, n_neighbors=7, min_dist=0.2, n_epochs=11, pca_dims=0, n_boot=2)
    df, emb2 = G.geometry(acts, cs, model="m", options=o)
    # workers=4 asked for, but cuML runs in this process (the stand-in exists only here)
    assert len(fake_cuml) == 2 * 2  # 2 layers x (30-d for metrics, 2-d for figures)
    assert {c["n_components"] for c in fake_cuml} == {30, 2}
    c = fake_cuml[0]
    assert (c["n_neighbors"], c["min_dist"], c["n_epochs"], c["random_state"], c["output_type"]) == \
        (7, 0.2, 11, 0, "numpy")
    # the geometry embeds the neutral (task-free) items, its default selection
    n_neutral = sum(it.template.startswith("neutral") for it in cs.items)
    assert 0 < n_neutral < len(cs) and emb2.shape == (2, n_neutral, 2) and len(df)
