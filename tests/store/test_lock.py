"""One medmap at a time per folder: a second run on a locked folder fails at once naming the holder
(or waits with --wait); the lock dies with its holder, even by SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from medmap.errors import RunFolderError
from medmap.store.runfolder import HOLDER_NAME, RunLock
from tiny import run_command, saved_tiny, small_run_config


def test_second_lock_fails_at_once_naming_the_holder(tmp_path):
    with RunLock(tmp_path / "run", command="medmap run --out run"):
        holder = json.loads((tmp_path / "run" / HOLDER_NAME).read_text())
        assert holder["pid"] == os.getpid()
        t = time.time()
        with pytest.raises(RunFolderError, match=rf"in use by medmap pid {os.getpid()} on host .*medmap run --out run"):
            RunLock(tmp_path / "run").acquire()
        assert time.time() - t < 2
    assert not (tmp_path / "run" / HOLDER_NAME).exists()
    with RunLock(tmp_path / "run"):  # released: free again
        pass


def test_lock_of_a_killed_process_is_free(tmp_path):
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(os.path.dirname(os.path.dirname(os.path.dirname(__file__))) + '/src')!r})
        from medmap.store.runfolder import RunLock
        held = RunLock({str(tmp_path / "run")!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "locked"
    with pytest.raises(RunFolderError, match=f"pid {p.pid}"):
        RunLock(tmp_path / "run").acquire()
    p.send_signal(signal.SIGKILL)
    p.wait()
    with RunLock(tmp_path / "run"):  # the kernel released the dead holder's lock; its stale holder file is replaced
        assert json.loads((tmp_path / "run" / HOLDER_NAME).read_text())["pid"] == os.getpid()


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("lock")
    saved_tiny(d / "model")
    small_run_config(d, ["geometry", "lesion"])
    return d


def _cmd(d, out, *extra):
    return run_command(d / "model", d / "run.yaml", out, *extra)


def test_two_concurrent_runs_on_one_folder(small_run):
    d = small_run
    out = d / "shared"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    first = subprocess.Popen(_cmd(d, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    while not (out / HOLDER_NAME).exists() and time.time() < deadline and first.poll() is None:
        time.sleep(0.1)
    assert (out / HOLDER_NAME).exists(), "the first run never took the lock"
    t = time.time()
    second = subprocess.run(_cmd(d, out), capture_output=True, text=True, env=env)
    assert time.time() - t < 60  # fails at once (the time is interpreter start-up and imports)
    assert second.returncode == 2, second.stderr
    assert f"in use by medmap pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
    waiting = subprocess.run(_cmd(d, out, "--wait"), capture_output=True, text=True, env=env)
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert waiting.returncode == 0, waiting.stderr
    assert "already finished" in " ".join(waiting.stderr.split())
    assert (out / "DONE.json").is_file() and not (out / HOLDER_NAME).exists()
