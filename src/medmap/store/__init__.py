"""The run directory: atomic writes, a content-addressed cache, provenance."""

from medmap.store.atomic import save_tensors, write_bytes, write_frame, write_json, write_text, write_with
from medmap.store.cache import Cache, key_of
from medmap.store.provenance import provenance, versions

__all__ = ["Cache", "key_of", "provenance", "save_tensors", "versions", "write_bytes", "write_frame",
           "write_json", "write_text", "write_with"]
