"""Linear CKA: 1 for the same representation, invariant to orthogonal transforms and isotropic scaling,
not to anisotropic scaling, near 0 for independent data with many more items than features, and a
model compared with itself has 1 on the diagonal of its layers x layers matrix."""

import numpy as np
import pytest
from scipy.stats import ortho_group

from medmap.analyses.cka import cka_matrix, linear_cka
from medmap.errors import MedmapError

RNG = np.random.default_rng(0)


def test_identical_is_one():
    x = RNG.normal(size=(50, 8))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_invariant_to_orthogonal_transform_and_isotropic_scaling_and_shift():
    x = RNG.normal(size=(80, 6)) @ RNG.normal(size=(6, 6))
    y = np.tanh(x @ RNG.normal(size=(6, 10)))  # some other representation of the same items
    q = ortho_group.rvs(10, random_state=1)
    base = linear_cka(x, y)
    assert 0.05 < base < 0.99
    assert linear_cka(x, 7.5 * y @ q + 3.0) == pytest.approx(base, abs=1e-10)
    assert linear_cka(x, y @ q) == pytest.approx(base, abs=1e-10)
    assert linear_cka(-0.01 * x, y) == pytest.approx(base, abs=1e-10)


def test_not_invariant_to_anisotropic_scaling():
    x = RNG.normal(size=(200, 5))
    assert linear_cka(x, x * np.array([10.0, 1, 1, 1, 0.1])) < 0.9


def test_independent_data_is_near_zero():
    x, y = RNG.normal(size=(3000, 4)), RNG.normal(size=(3000, 4))
    assert linear_cka(x, y) < 0.02
    # and a planted shared component is found
    z = RNG.normal(size=(3000, 1))
    assert linear_cka(np.c_[x, 5 * z], np.c_[y, 5 * z]) > 0.5


def test_matrix_matches_pairwise_and_self_diagonal_is_one():
    a = RNG.normal(size=(40, 3, 7))
    a[:, 1] = a[:, 0] @ ortho_group.rvs(7, random_state=2)  # layer 1 = a rotation of layer 0
    b = RNG.normal(size=(40, 2, 5))
    m = cka_matrix(a, b)
    assert m.shape == (3, 2)
    for i in range(3):
        for j in range(2):
            assert m[i, j] == pytest.approx(linear_cka(a[:, i], b[:, j]), abs=1e-10)
    s = cka_matrix(a, a)
    assert np.allclose(np.diag(s), 1.0) and s[0, 1] == pytest.approx(1.0) and np.allclose(s, s.T)


def test_a_model_with_itself(tiny_llama):
    from medmap.capture import capture

    prompts = [f"The patient is {k} years old and" for k in range(20, 44)]
    acts = capture(tiny_llama, prompts).numpy()[:, 1:]  # decoder layers
    m = cka_matrix(acts, acts.copy())
    assert np.allclose(np.diag(m), 1.0, atol=1e-9)
    assert (m[~np.eye(len(m), dtype=bool)] < 1 - 1e-6).all()  # different layers are not identical


def test_constant_and_bad_shapes():
    x = RNG.normal(size=(10, 3))
    assert np.isnan(linear_cka(np.ones((10, 3)), x))
    with pytest.raises(MedmapError, match="same items"):
        linear_cka(x, x[:5])
    with pytest.raises(MedmapError, match="2-d"):
        linear_cka(x.ravel(), x)
    with pytest.raises(MedmapError, match="same items"):
        cka_matrix(x[:, None], x[:5, None])
