import os
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

# Property-based tests are reproducible: the "ci" profile derandomizes hypothesis (the same examples on
# every run and machine), so a green run is not luck. HYPOTHESIS_PROFILE=dev explores new random examples.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

sys.path.insert(0, str(Path(__file__).parent))
torch.set_num_threads(min(2, os.cpu_count() or 1))

from medmap.capture import attached_hooks  # noqa: E402
from tiny import ARCHS, tiny_model  # noqa: E402

_TINY_CACHE: dict = {}


@pytest.fixture(params=ARCHS)
def tiny(request):
    """A tiny random model of each registered architecture."""
    if request.param not in _TINY_CACHE:
        _TINY_CACHE[request.param] = tiny_model(request.param)
    return _TINY_CACHE[request.param]


@pytest.fixture
def tiny_llama():
    if "llama" not in _TINY_CACHE:
        _TINY_CACHE["llama"] = tiny_model("llama")
    return _TINY_CACHE["llama"]


@pytest.fixture(autouse=True)
def no_hooks_left():
    """After every test, no model used by the tests carries a hook or a swapped module."""
    yield
    for name, lm in _TINY_CACHE.items():
        left = attached_hooks(lm.model)
        assert not left, f"hooks left on tiny {name}: {left}"
    from real import loaded_real

    for lm in loaded_real():
        left = attached_hooks(lm.model)
        assert not left, f"hooks left on {lm.name}: {left}"


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory, monkeypatch):
    # the real models' converted weights are shared across tests (and with the user's cache)
    yield
