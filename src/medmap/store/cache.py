"""Content-addressed cache of stage results, keyed by everything a result depends on (model identity,
concept-set hash, technique, options). Each entry is a folder with its files and a manifest giving the
sha256 of every file; an entry whose files are missing or do not match is reported and recomputed,
never trusted."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from medmap.store.atomic import dumps, write_json
from medmap.store.provenance import provenance


def key_of(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_sha = file_sha256


class Cache:
    """``root/<stage>/<key[:20]>/``: result files plus ``manifest.json`` (written last)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.rejected: list[str] = []
        """Entries found corrupted and recomputed (reported by the run)."""

    def entry(self, stage: str, parts: dict[str, Any]) -> Path:
        return self.root / stage / key_of({"stage": stage, **parts})[:20]

    def valid(self, folder: Path) -> bool:
        man = folder / "manifest.json"
        if not man.is_file():
            return False
        try:
            files = json.loads(man.read_text())["files"]
            ok = all((folder / n).is_file() and _sha(folder / n) == h for n, h in files.items())
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            self.rejected.append(str(folder))
            shutil.rmtree(folder, ignore_errors=True)
        return ok

    def seal(self, folder: Path, parts: dict[str, Any], **extra) -> None:
        """Write the manifest for the files already in ``folder``: the entry becomes valid."""
        files = {p.name: _sha(p) for p in sorted(folder.iterdir())
                 if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".tmp-")}
        write_json(folder / "manifest.json", {"key": json.loads(dumps(parts)), "files": files,
                                              "provenance": provenance(**extra)})
