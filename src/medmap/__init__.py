"""medmap: knowledge maps of large language models for medical concepts.

Implements the method of "Medical Interpretability and Knowledge Maps of Large Language Models"
(Marinescu, Gruber, Fajardo; arXiv 2510.11390): activation geometry (UMAP), weight saliency,
layer lesioning and activation patching, turned into per-layer intervals per medical domain.

    km = medmap.map("smollm2-135m", domains=["age", "drugs"])   # -> medmap.KnowledgeMap
    km.scores; km.intervals; km.plot(); km.report("map.html"); medmap.load("runs/x").compare(km)

Importing medmap defines things only: no model is loaded, no hook is added, nothing is written, and
the library API (``map``, ``load``, ``KnowledgeMap``, from :mod:`medmap.api`) and ``DOMAINS`` (the
default domains) / ``TECHNIQUES`` (from their tables) are imported when first used.
"""

from medmap.errors import MedmapError

__version__ = "0.1.0"

__all__ = ["DOMAINS", "KnowledgeMap", "MedmapError", "TECHNIQUES", "__version__", "load", "map"]


def __getattr__(name: str):
    if name in ("map", "load", "KnowledgeMap"):
        from medmap import api

        return getattr(api, name)
    if name == "DOMAINS":
        from medmap.concepts.domains import default_domains

        return default_domains()
    if name == "TECHNIQUES":
        from medmap.techniques import TECHNIQUES

        return TECHNIQUES
    raise AttributeError(f"module 'medmap' has no attribute {name!r}")
