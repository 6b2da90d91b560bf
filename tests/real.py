"""The bundled real models, loaded once per test session."""

from __future__ import annotations

import pytest

_LOADED: dict = {}


def loaded_real():
    return list(_LOADED.values())


def real_model(name: str = "smollm2-135m"):
    if name not in _LOADED:
        from medmap.models import load_model

        try:
            _LOADED[name] = load_model(name)
        except Exception as e:  # not installed: the integration test says so instead of failing obscurely
            pytest.fail(f"bundled model {name} could not be loaded: {e}")
    return _LOADED[name]
