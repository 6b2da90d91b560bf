"""The run directory: atomic writes, a content-addressed cache, provenance."""

from medmap.store.atomic import (as_written, save_tensors, write_bytes, write_frame, write_json, write_text,
                                 write_with)
from medmap.store.cache import Cache, key_of
from medmap.store.provenance import provenance, versions

__all__ = ["Cache", "as_written", "key_of", "provenance", "save_tensors", "versions", "write_bytes", "write_frame",
           "write_json", "write_text", "write_with"]
