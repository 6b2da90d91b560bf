"""Checksums of large files (model weights) that stay cheap to check.

A full sha256 reads the whole file (about 1 s per GB here). It is computed once and remembered beside
the file's *stamp*: size, inode, modification and status-change times (``st_ctime_ns`` changes on
every write and cannot be set back by an ordinary user). As long as the stamp is unchanged, the
remembered hash is the file's hash; when the stamp changes (the file was written, replaced, copied or
touched) the full hash is computed again. The memo lives in ``$MEDMAP_CACHE/hashes/``; where it cannot
be written (a cache shared read-only) every check is a full one.

:func:`quick_record` adds what a look at a few kilobytes can tell: the size, the sha256 of a
safetensors file's header (names, shapes, dtypes and offsets of every tensor) and of
:data:`N_SAMPLES` byte ranges spread over the file."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

N_SAMPLES = 64
"""Byte ranges read by the sampled check."""
SAMPLE_BYTES = 4096
"""Length of each sampled range."""


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def stamp(path: str | Path) -> dict:
    """What changes whenever the file's content can have changed."""
    st = os.stat(path)
    return {"size": st.st_size, "ino": st.st_ino, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}


def header_sha256(path: str | Path) -> str | None:
    """sha256 of a safetensors file's header (its first 8 bytes give the header's length); None when
    the file is not a safetensors file."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return None
        (n,) = struct.unpack("<Q", head)
        size = os.fstat(f.fileno()).st_size
        if n > min(size - 8, 100 << 20):
            return None
        return hashlib.sha256(head + f.read(n)).hexdigest()


def samples_sha256(path: str | Path, n: int = N_SAMPLES, length: int = SAMPLE_BYTES) -> str:
    """sha256 of ``n`` ranges of ``length`` bytes at evenly spaced offsets (first and last included)."""
    size = os.stat(path).st_size
    h = hashlib.sha256()
    with open(path, "rb") as f:
        span = max(0, size - length)
        for k in range(n):
            f.seek(span * k // max(1, n - 1))
            h.update(f.read(length))
    return h.hexdigest()


def quick_record(path: str | Path) -> dict:
    """Size, header sha256 and sampled sha256 of a file."""
    return {"size": os.stat(path).st_size, "header_sha256": header_sha256(path),
            "samples_sha256": samples_sha256(path)}


def cache_root() -> Path:
    """medmap's user cache (converted weights, assembled GGUFs, hash memos): ``$MEDMAP_CACHE``, default
    ``~/.cache/medmap``."""
    return Path(os.environ.get("MEDMAP_CACHE", Path.home() / ".cache" / "medmap"))


def _memo_path(path: Path) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return cache_root() / "hashes" / f"{key}.json"


def remember(path: str | Path, sha256: str) -> None:
    """Remember ``sha256`` as the hash of ``path`` while its stamp stays as it is now."""
    from medmap.store.atomic import write_json

    path = Path(path)
    try:
        write_json(_memo_path(path), {"path": str(path.resolve()), "stamp": stamp(path), "sha256": sha256})
    except OSError:  # a read-only shared cache: every check is a full one
        pass


def cached_sha256(path: str | Path, full: bool = False) -> tuple[str, bool]:
    """(sha256 of ``path``, whether it was computed now). The remembered hash is used while the file's
    stamp is unchanged; ``full`` computes it regardless."""
    path = Path(path)
    memo = _memo_path(path)
    if not full:
        try:
            m = json.loads(memo.read_text())
            if m.get("path") == str(path.resolve()) and m.get("stamp") == stamp(path):
                return str(m["sha256"]), False
        except (OSError, ValueError, KeyError, TypeError):
            pass
    digest = file_sha256(path)
    remember(path, digest)
    return digest, True


def check_file(path: str | Path, record: dict, full: bool = False) -> str | None:
    """Why ``path`` does not match ``record`` (``size``, ``header_sha256``, ``samples_sha256``,
    ``sha256``; each optional), or None when it does. The full hash is taken from the memo while the
    file's stamp is unchanged, unless ``full``."""
    path = Path(path)
    if not path.is_file():
        return f"{path.name} is missing"
    if "size" in record and os.stat(path).st_size != record["size"]:
        return f"{path.name} has {os.stat(path).st_size} bytes, {record['size']} were written"
    if record.get("header_sha256") and header_sha256(path) != record["header_sha256"]:
        return f"the header (tensor names, shapes, offsets) of {path.name} has changed"
    if record.get("samples_sha256") and samples_sha256(path) != record["samples_sha256"]:
        return f"sampled bytes of {path.name} have changed"
    if record.get("sha256"):
        digest, _ = cached_sha256(path, full=full)
        if digest != record["sha256"]:
            return f"the sha256 of {path.name} has changed"
    return None
