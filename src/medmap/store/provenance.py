"""Provenance recorded beside every result: versions, platform, time."""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from importlib import metadata

_PACKAGES = ("medmap", "torch", "transformers", "accelerate", "safetensors", "numpy", "scipy", "scikit-learn",
             "umap-learn", "pandas", "gguf")


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for p in _PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def provenance(**extra) -> dict:
    return {
        "versions": versions(),
        "platform": platform.platform(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
