"""Model resolution and loading, the converted-model cache, and the architecture registry."""

from medmap.models.bundled import BUNDLED, DEFAULT_MODEL, cache_root, convert_gguf, converted_models, verify_converted
from medmap.models.context import ModelSpecInfo, check_fits, inspect_model
from medmap.models.loader import LoadedModel, describe_bundled, identify, load_model, resolve_spec
from medmap.models.registry import Architecture, ArchSpec, register, registered, resolve

__all__ = [
    "BUNDLED", "DEFAULT_MODEL", "ArchSpec", "Architecture", "LoadedModel", "ModelSpecInfo", "cache_root",
    "check_fits", "convert_gguf", "converted_models", "describe_bundled", "identify", "inspect_model", "load_model",
    "register", "registered", "resolve", "resolve_spec", "verify_converted",
]
