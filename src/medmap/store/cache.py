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
from medmap.store.checksum import file_sha256
from medmap.store.provenance import provenance
from medmap.store.schema import RESULTS_VERSION


def key_of(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


_sha = file_sha256


class Cache:
    """``root/<stage>/<key[:20]>/``: result files plus ``manifest.json`` (written last)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.rejected: list[dict[str, str]] = []
        """Entries (and capture shards) found corrupted, deleted and recomputed: ``{"path", "reason"}``;
        the run reports them and lists them in ``DONE.json``."""

    def entry(self, stage: str, parts: dict[str, Any]) -> Path:
        """The folder of the entry keyed by ``parts``. From the second results-format version on, the
        version is part of every key (version 1 keys are those of the versions before it existed)."""
        keyed = {"stage": stage, **parts}
        if RESULTS_VERSION != 1:
            keyed["results_version"] = RESULTS_VERSION
        return self.root / stage / key_of(keyed)[:20]

    def reject(self, path: Path, reason: str) -> None:
        """Record that ``path`` was found corrupted (and is recomputed)."""
        self.rejected.append({"path": str(path), "reason": reason})

    def check_or_evict(self, folder: Path) -> bool:
        """Whether the entry ``folder`` is complete and every file matches its manifest's sha256. An
        entry with a manifest whose files are missing or do not match is deleted (so it is recomputed)
        and recorded in :attr:`rejected` with the reason; one without a manifest (never finished) is
        simply not valid."""
        man = folder / "manifest.json"
        if not man.is_file():
            return False
        reason = None
        try:
            files = json.loads(man.read_text())["files"]
            for name, h in files.items():
                if not (folder / name).is_file():
                    reason = f"{name} is missing"
                    break
                if _sha(folder / name) != h:
                    reason = f"{name} does not match its sha256"
                    break
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            reason = f"its manifest cannot be read ({type(e).__name__})"
        if reason is not None:
            self.reject(folder, reason)
            shutil.rmtree(folder, ignore_errors=True)
        return reason is None

    def seal(self, folder: Path, parts: dict[str, Any], **extra) -> None:
        """Write the manifest for the files already in ``folder``: the entry becomes valid."""
        files = {p.name: _sha(p) for p in sorted(folder.iterdir())
                 if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".tmp-")}
        write_json(folder / "manifest.json", {"key": json.loads(dumps(parts)), "files": files,
                                              "provenance": provenance(**extra)})
