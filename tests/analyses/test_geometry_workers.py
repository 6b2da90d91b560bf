"""The per-layer UMAP worker processes die with the process that started them, even when it is killed
by SIGKILL (they used to compute on for minutes, ~500 MB each)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")

PARENT = textwrap.dedent("""
    import numpy as np
    from medmap.analyses.geometry import GeometryOptions, layer_results
    from medmap.concepts import load_builtin

    cs = load_builtin("symptoms").subset(lambda it: it.template == "t0")
    acts = np.random.default_rng(0).normal(size=(len(cs), 7, 24)).astype("float32")
    print("start", flush=True)
    # long enough that the workers are busy when the parent is killed
    layer_results(acts, cs, range(6), GeometryOptions(workers=2, n_epochs=100000, pca_dims=0, n_boot=2))
""")


def _workers_of(parent: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmd:
            out.append(int(p.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_umap_workers_die_with_a_killed_parent():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, env=env)
    workers: list[int] = []
    try:
        assert parent.stdout.readline().strip() == "start"
        deadline = time.time() + 120
        while time.time() < deadline and len(workers) < 2:
            workers = _workers_of(parent.pid)
            time.sleep(0.2)
        assert len(workers) == 2, "the pool's workers never started"
        time.sleep(2)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        # a worker still starting (imports, on a loaded machine seconds) exits when its start-up ends
        deadline = time.time() + 60
        while time.time() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        left = [w for w in workers if _alive(w)]
        assert not left, f"UMAP workers {left} outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        for w in workers:  # a failed test leaves no computing orphans behind
            if _alive(w):
                os.kill(w, signal.SIGKILL)
