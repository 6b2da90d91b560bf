"""medmap: knowledge maps of large language models for medical concepts.

Implements the method of "Medical Interpretability and Knowledge Maps of Large Language Models"
(Marinescu, Gruber, Fajardo; arXiv 2510.11390): activation geometry (UMAP), weight saliency,
layer lesioning and activation patching, turned into per-layer intervals per medical domain.

Importing medmap defines things only: no model is loaded, no hook is added, nothing is written.
"""

from medmap.errors import MedmapError

__version__ = "0.1.0"
DOMAINS = ("age", "symptoms", "diseases", "progression", "drugs", "dosage")
TECHNIQUES = ("geometry", "saliency", "lesion", "patching")

__all__ = ["MedmapError", "DOMAINS", "TECHNIQUES", "__version__"]
