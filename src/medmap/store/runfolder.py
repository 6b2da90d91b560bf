"""Run folders: which folders medmap may write into, one medmap at a time, and no stale outputs.

* :func:`check_out_folder` refuses, before anything is written, a path that is a file, the file
  system's root, the home folder (or a folder above it) and the system's top-level folders, and a
  folder that is not empty and not a medmap folder (unless ``force``).
* :class:`RunLock` holds ``<folder>/.medmap.lock`` (``filelock``: an OS lock, released by the kernel
  when the process dies, even by SIGKILL) while a command writes into the folder; who holds it (pid,
  host, command, start time) is written beside it (``.medmap.lock.json``). A second medmap on the same
  folder fails at once naming the holder, or waits with ``wait=True``.
* :func:`clear_outputs` removes the outputs of an earlier run (:data:`medmap.store.schema.RUN_OUTPUTS`)
  before a run whose inputs differ, so a report never shows a section the current config did not make.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from medmap.errors import RunFolderError
from medmap.store.schema import RUN_OUTPUTS

LOCK_NAME = ".medmap.lock"
HOLDER_NAME = ".medmap.lock.json"
_SYSTEM_DIRS = ("bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "media", "mnt", "opt", "proc",
                "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var", "Users", "Applications", "Library",
                "System", "Volumes", "private")


def is_medmap_folder(path: Path) -> bool:
    """Whether ``path`` was made by medmap: a run, analyze, capture or compare folder."""
    p = Path(path)
    if any((p / n).exists() for n in (LOCK_NAME, "DONE.json", "provenance.json", "compare.html")):
        return True
    if any((p / "cache" / stage).is_dir() for stage in ("capture", "geometry", "saliency", "lesion", "patching")):
        return True
    try:
        cfg = json.loads((p / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(cfg, dict) and {"techniques", "analyze"} <= cfg.keys()


def _unsafe(resolved: Path) -> bool:
    """The root, the home folder or a folder above it, or a top-level system folder."""
    if resolved == Path(resolved.anchor):
        return True
    home = Path.home().resolve()
    if resolved == home or resolved in home.parents:
        return True
    return resolved.parent == Path(resolved.anchor) and resolved.name in _SYSTEM_DIRS


def check_out_folder(path: str | Path, force: bool = False, what: str = "run folder") -> Path:
    """``path`` if medmap may write its outputs there; a RunFolderError naming the reason otherwise.
    Writes nothing."""
    p = Path(path).expanduser()
    resolved = p.resolve()
    if _unsafe(resolved):
        raise RunFolderError(f"{p}: refusing to use {resolved} as a {what} (the root, home or a system folder); "
                             "name a folder of its own, e.g. runs/my-run")
    if p.exists() and not p.is_dir():
        raise RunFolderError(f"{p}: exists and is not a folder; name a folder for the {what}")
    if p.is_dir():
        try:
            entries = [e.name for e in p.iterdir()]
        except OSError as e:
            raise RunFolderError(f"{p}: cannot be read ({e.strerror})") from None
        if entries and not force and not is_medmap_folder(p):
            raise RunFolderError(f"{p}: is not empty and not a medmap {what} ({len(entries)} entries, e.g. "
                                 f"{sorted(entries)[0]!r}); name a new or empty folder, or pass --force to write "
                                 "into it anyway")
        target = p
    else:
        target = next((a for a in p.absolute().parents if a.exists()), Path(p.anchor or "/"))
        if not target.is_dir():
            raise RunFolderError(f"{p}: cannot be created: {target} is not a folder")
    if not os.access(target, os.W_OK | os.X_OK):
        raise RunFolderError(f"{p}: cannot write into {target} (permission denied)")
    return p


class RunLock:
    """``with RunLock(folder):`` — exclusive use of ``folder`` by this process (see the module doc)."""

    def __init__(self, folder: str | Path, wait: bool = False, command: str | None = None, note=None):
        self.folder = Path(folder)
        self.wait = wait
        self.note = note
        self.command = command or " ".join(["medmap", *sys.argv[1:]])[:300]
        self._lock = None

    def holder(self) -> dict | None:
        try:
            h = json.loads((self.folder / HOLDER_NAME).read_text())
            return h if isinstance(h, dict) else None
        except (OSError, ValueError):
            return None

    def _describe_holder(self) -> str:
        h = self.holder()
        if not h:
            return "another medmap process"
        return (f"medmap pid {h.get('pid')} on host {h.get('host')} since {h.get('started')} "
                f"({h.get('command', '?')})")

    def acquire(self) -> "RunLock":
        from filelock import FileLock, Timeout

        from medmap.store.atomic import write_json

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.folder / LOCK_NAME), mode=0o644)
            try:
                lock.acquire(timeout=0)
            except Timeout:
                if not self.wait:
                    raise RunFolderError(f"{self.folder} is in use by {self._describe_holder()}; wait for it to "
                                         "finish, or pass --wait to wait for it") from None
                if self.note:
                    self.note(f"waiting for {self._describe_holder()} to release {self.folder}")
                while True:
                    try:
                        lock.acquire(timeout=5)
                        break
                    except Timeout:
                        continue
            self._lock = lock
            write_json(self.folder / HOLDER_NAME, {
                "pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "time": time.time()})
        except OSError as e:
            if self._lock is not None:
                self.release()
            raise RunFolderError(f"{self.folder}: cannot write into it ({e.strerror or e})") from None
        return self

    def release(self) -> None:
        if self._lock is None:
            return
        try:
            (self.folder / HOLDER_NAME).unlink(missing_ok=True)
        except OSError:
            pass
        self._lock.release()
        self._lock = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def clear_outputs(folder: str | Path) -> list[str]:
    """Remove the outputs of an earlier run (not the cache, the config or the lock). Returns what was
    removed."""
    folder = Path(folder)
    removed = []
    for name in RUN_OUTPUTS:
        p = folder / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(name)
        elif p.exists() or p.is_symlink():
            p.unlink(missing_ok=True)
            removed.append(name)
    return removed
