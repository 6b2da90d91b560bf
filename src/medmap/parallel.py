"""Splitting independent work over the ranks of a ``torchrun`` launch (``torch.distributed``).

The sweeps of a map are independent units: capture batches, saliency groups, (lesion batch, layers)
cells, patching batches and UMAP layers. ``map_units`` runs this rank's share of them (round-robin)
and gathers every unit's result, in unit order, on every rank; what follows (bootstrap CIs, metrics)
is then the same code on the same numbers as in a single process, so a launch over N ranks gives the
numbers of a one-process run. Units are the single-process batches themselves: a batch's padding and
summation order are unchanged, only which process runs it changes.

Only rank 0 touches the run folder (``on_main``); the other ranks receive what it read or decided by
broadcast, so no file system is assumed to be shared between nodes.

Without torchrun (``WORLD_SIZE`` unset or 1) every function here is a plain single-process no-op and
``torch.distributed`` is never initialised. Library users under torchrun call ``init()`` first."""

from __future__ import annotations

import atexit
import os
import pickle
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

from medmap.errors import ConfigError, DistributedError

T = TypeVar("T")
R = TypeVar("R")

_STATE = {"owner": False}
_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def launched() -> bool:
    """Started by torchrun (or the like) with more than one process."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        raise DistributedError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number") from None


def active() -> bool:
    """A process group of more than one rank is initialised."""
    import torch.distributed as td

    return td.is_available() and td.is_initialized() and td.get_world_size() > 1


def world_size() -> int:
    import torch.distributed as td

    return td.get_world_size() if active() else 1


def rank() -> int:
    import torch.distributed as td

    return td.get_rank() if active() else 0


def is_main() -> bool:
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if active() else 0


def local_world_size() -> int:
    """Ranks on this machine (torchrun's LOCAL_WORLD_SIZE; 1 in a single process)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if active() else 1


def _cuda_per_rank() -> bool:
    import torch

    n_local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return torch.cuda.is_available() and torch.cuda.device_count() >= n_local


def init() -> bool:
    """Join the process group that torchrun describes in the environment (idempotent). Backend: nccl
    when every rank on a machine has its own CUDA device, else gloo (CPU); ``MEDMAP_DIST_BACKEND``
    overrides. Returns whether work is split over ranks. A no-op in a single process."""
    import torch.distributed as td

    if td.is_available() and td.is_initialized():
        return active()
    if not launched():
        return False
    missing = [k for k in _ENV if k not in os.environ]
    if missing:
        raise DistributedError(f"WORLD_SIZE is {os.environ['WORLD_SIZE']} but {', '.join(missing)} "
                               "not set: launch with torchrun (see 'Many GPUs or nodes' in the README)")
    if not td.is_available():
        raise DistributedError("this torch build has no torch.distributed; run in a single process")
    backend = os.environ.get("MEDMAP_DIST_BACKEND") or ("nccl" if _cuda_per_rank() else "gloo")
    kw: dict[str, Any] = {}
    if backend == "nccl":
        import torch

        lr = int(os.environ["LOCAL_RANK"])
        torch.cuda.set_device(lr)
        kw["device_id"] = torch.device("cuda", lr)
    from datetime import timedelta

    # rank 0 alone writes reports (and runs an LLM judge) while the others wait: allow hours
    minutes = float(os.environ.get("MEDMAP_DIST_TIMEOUT_MIN", "180"))
    try:
        td.init_process_group(backend, timeout=timedelta(minutes=minutes), **kw)
    except Exception as e:
        raise DistributedError(f"could not join the torchrun process group ({backend}, rank "
                               f"{os.environ['RANK']} of {os.environ['WORLD_SIZE']}, rendezvous "
                               f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}): {e}") from e
    _STATE["owner"] = True
    return active()


def shutdown() -> None:
    """Leave the process group if ``init`` created it."""
    if not _STATE["owner"]:
        return
    import torch.distributed as td

    if td.is_initialized():
        # every rank arrives before any tears down: a gloo rank whose peer has already closed its
        # connections can abort at exit ("terminate called without an active exception")
        try:
            td.barrier()
        finally:
            td.destroy_process_group()
    _STATE["owner"] = False


def barrier() -> None:
    if active():
        import torch.distributed as td

        td.barrier()


def broadcast(obj: T) -> T:
    """``obj`` of rank 0 on every rank (any picklable object; the others pass anything, e.g. None)."""
    if not active():
        return obj
    import torch.distributed as td

    box = [obj if is_main() else None]
    td.broadcast_object_list(box, src=0)
    return box[0]


def all_gather(obj: Any) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not active():
        return [obj]
    import torch.distributed as td

    out: list = [None] * world_size()
    td.all_gather_object(out, obj)
    return out


def shard(n: int, rank_: int | None = None, world: int | None = None) -> list[int]:
    """Indices of the units (of ``n``) that rank ``rank_`` runs: round-robin, so that consecutive units,
    which tend to cost alike, spread evenly."""
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    if not 0 <= rank_ < world:
        raise ValueError(f"rank {rank_} is outside 0..{world - 1}")
    return list(range(rank_, n, world))


def _packed_error(e: BaseException) -> tuple:
    try:
        blob = pickle.dumps(e)
        pickle.loads(blob)
    except Exception:
        blob = None
    return (rank(), type(e).__name__, str(e), blob)


def _raise_first(errors: list) -> None:
    errors = [e for e in errors if e is not None]
    if not errors:
        return
    r, name, msg, blob = errors[0]
    if blob is not None:
        raise pickle.loads(blob)
    raise DistributedError(f"rank {r} failed: {name}: {msg}")


def map_shard(run: Callable[[list[T]], list[R]], units: Sequence[T], *, size: Callable[[T], int] | None = None,
              on_step: Callable[[int], None] | None = None) -> list[R]:
    """``run`` on this rank's units (one call, e.g. to feed a process pool); the results of all units, in
    unit order, on every rank. On rank 0, ``on_step`` also receives the sizes of the other ranks' units
    once they arrive. An exception on any rank is raised on every rank."""
    units = list(units)
    if not active():
        return list(run(units))
    mine = shard(len(units))
    try:
        got = list(run([units[i] for i in mine]))
        if len(got) != len(mine):
            raise DistributedError(f"{len(got)} results for {len(mine)} units")
        local, err = list(zip(mine, got)), None
    except Exception as e:
        local, err, exc = [], _packed_error(e), e
    parts = all_gather((local, err))
    if err is not None:
        raise exc
    _raise_first([p[1] for p in parts])
    out: list = [None] * len(units)
    for part, _ in parts:
        for i, r in part:
            out[i] = r
    if on_step and size and is_main():
        others = sum(size(u) for i, u in enumerate(units) if i % world_size() != 0)
        if others:
            on_step(others)
    return out


def map_units(fn: Callable[[T], R], units: Sequence[T], *, size: Callable[[T], int] | None = None,
              on_step: Callable[[int], None] | None = None) -> list[R]:
    """``[fn(u) for u in units]``, the units split round-robin over the ranks, every result on every
    rank. ``on_step(size(u))`` after each unit this rank runs (and, on rank 0, for the others' units at
    the end), for progress bars."""
    def run(us):
        out = []
        for u in us:
            out.append(fn(u))
            if on_step:
                on_step(size(u) if size else 1)
        return out

    return map_shard(run, units, size=size or (lambda u: 1), on_step=on_step)


def on_main(fn: Callable[[], R], *, share: bool = True) -> R | None:
    """Run ``fn`` on rank 0 only (file writes, a judge model); the other ranks wait and receive its
    result (``share``) or None, or raise what it raised."""
    if not active():
        return fn()
    res, err = None, None
    if is_main():
        try:
            res = fn()
        except Exception as e:
            err, exc = _packed_error(e), e
    res, err_all = broadcast((res if share else None, err))
    if is_main() and err is not None:
        raise exc
    _raise_first([err_all])
    return res


@contextmanager
def local_main_first():
    """The body runs first on each machine's local rank 0 (e.g. converting or downloading a model into a
    cache), then on the other ranks of that machine."""
    if not active():
        yield
        return
    if local_rank() != 0:
        barrier()
    try:
        yield
    finally:
        if local_rank() == 0:
            barrier()


SPREADING = ("auto", "balanced", "balanced_low_0", "sequential")
"""accelerate device maps that spread one model over every GPU of a machine."""


def rank_device_map(device_map: Any, max_memory: Any = None) -> Any:
    """The ``device_map`` for this rank's copy of the model: its own GPU (``cuda:LOCAL_RANK``) when every
    rank of the machine has one and none is configured, else as configured (CPU by default). A device
    map that spreads the model over all GPUs of a machine (``auto``, or ``max_memory``, which implies it)
    needs one rank per machine."""
    if not active():
        return device_map
    spreads = device_map in SPREADING or (device_map is None and max_memory not in (None, "", {}))
    if spreads and local_world_size() > 1:
        raise ConfigError(f"device_map '{device_map or 'auto'}' spreads one model over all GPUs of a machine, "
                          f"but torchrun started {local_world_size()} ranks on it; use one rank per machine "
                          "(--nproc-per-node 1) for that, or leave device_map and max_memory unset (one GPU per "
                          "rank)")
    if device_map is not None or max_memory not in (None, "", {}):
        return device_map
    import torch

    cuda = torch.cuda.is_available() and torch.cuda.device_count() >= local_world_size()
    return {"": f"cuda:{local_rank()}"} if cuda else None


def local_workers(cap: int = 4) -> int:
    """Worker processes per rank: the CPUs shared by the ranks on this machine, at most ``cap``."""
    return max(1, min(cap, (os.cpu_count() or 1) // local_world_size()))


_POOLS: dict = {}


def process_pool(workers: int):
    """A pool of ``workers`` spawned processes kept for the life of this process, shared by every
    per-layer and per-figure job: a worker imports umap-learn (and compiles its numba functions) or
    matplotlib once, not once per concept set or report. A pool that broke (a worker killed) is
    replaced. Each worker ends when this process dies (``die_with_parent``)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    ex = _POOLS.get(workers)
    if ex is None or getattr(ex, "_broken", False):
        if not _POOLS:
            atexit.register(close_pools)
        ex = _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                                                   initializer=die_with_parent, initargs=(os.getpid(),))
    return ex


def pool_map(workers: int, fn: Callable[..., R], *iterables, chunksize: int = 1) -> Iterator[R]:
    """``fn`` over ``iterables`` in the ``process_pool`` of ``workers``, results in order as they come
    (a caller can show progress). ``chunksize`` calls go to a worker as one task: an argument shared by
    the calls of a chunk (``itertools.repeat``) is then pickled once per chunk, not once per call. A worker that
    dies (killed, or out of memory) gives a one-line error; so does the commonest cause on a spawn start:
    a script that calls medmap at its top level without ``if __name__ == "__main__":`` (each worker
    imports the script again and would start the work again)."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        yield from process_pool(workers).map(fn, *iterables, chunksize=chunksize)
    except BrokenProcessPool:
        raise DistributedError(
            "a worker process of medmap died (killed, out of memory, or started from a script that runs medmap at "
            "its top level: put that code under `if __name__ == \"__main__\":`)"
        ) from None


def close_pools() -> None:
    """Shut the pools of ``process_pool`` down (at exit: before the interpreter tears its modules
    down, which a pool's own late clean-up would otherwise trip over)."""
    while _POOLS:
        _POOLS.popitem()[1].shutdown(wait=True, cancel_futures=True)


def die_with_parent(parent: int) -> None:
    """Pool initializer: this worker process ends when ``parent`` (the process that started the pool)
    dies, even by SIGKILL, instead of computing on for nobody. On Linux the kernel sends SIGKILL at the
    parent's death (prctl PR_SET_PDEATHSIG); everywhere a daemon thread checks once a second whether the
    worker has been re-parented. A worker orphaned while it is still starting (importing) exits when it
    gets here, which is why this lives in a light module. Hand-written: neither concurrent.futures nor
    multiprocessing offers this."""
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="medmap-parent-watch", daemon=True).start()
