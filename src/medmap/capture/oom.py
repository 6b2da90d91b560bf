"""Batch sizes that fit: a batch that runs out of device memory is halved and retried, down to one
item, and the size that worked is remembered for the rest of the run.

Results do not depend on the batch size (padded rows see exactly what they would see alone, and
saliency accumulates a group's gradient over its micro-batches before reducing it), so halving changes
speed, not numbers. ``REMEMBERED`` is the per-process (= per-run) memory of the sizes that worked,
keyed by (technique, model identity); sizes only ever shrink."""

from __future__ import annotations

import gc
from typing import Callable, Hashable, TypeVar

import torch

from medmap.errors import CaptureError

T = TypeVar("T")

OOM_ERRORS: tuple[type[BaseException], ...] = tuple(
    {e for e in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)) if e})
"""What a device raises when an allocation does not fit (``torch.OutOfMemoryError``)."""


def is_oom(e: BaseException) -> bool:
    """An out-of-memory error of an accelerator (CUDA, and MPS/XPU, which raise a RuntimeError)."""
    if isinstance(e, OOM_ERRORS):
        return True
    return isinstance(e, RuntimeError) and "out of memory" in str(e).lower()


def free_device_memory() -> None:
    """Drop what the failed attempt left behind and return cached blocks to the device."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        mps.empty_cache()


class BatchSizes:
    """Batch sizes that worked after halving, per key (technique, model identity)."""

    def __init__(self) -> None:
        self._sizes: dict[Hashable, int] = {}

    def size(self, key: Hashable, requested: int) -> int:
        """The size to try: ``requested``, or less when a smaller size was needed before in this run."""
        requested = max(1, int(requested))
        return min(requested, self._sizes.get(key, requested))

    def worked(self, key: Hashable, size: int) -> None:
        self._sizes[key] = min(size, self._sizes.get(key, size))

    def get(self, key: Hashable) -> int | None:
        return self._sizes.get(key)

    def reset(self) -> None:
        self._sizes.clear()


REMEMBERED = BatchSizes()


def _too_big(key, size: int, err: BaseException) -> CaptureError:
    what = key[0] if isinstance(key, tuple) else key
    return CaptureError(
        f"{what}: out of device memory even with a batch of {size} item(s) ({type(err).__name__}: "
        f"{str(err).splitlines()[0] if str(err) else ''}); load the model in bfloat16 (--dtype bfloat16) or "
        "spread it over more memory with a device map (--device-map auto --max-memory 0=...GiB,cpu=...GiB "
        "--offload-folder DIR)")


def with_halving(key: Hashable, requested: int, attempt: Callable[[int], T],
                 sizes: BatchSizes | None = None) -> T:
    """``attempt(size)`` with the remembered size for ``key`` (at most ``requested``); on an
    out-of-memory error the size is halved and the whole attempt retried, down to 1, then a
    CaptureError says what to do. A size reached by halving is remembered for the run."""
    sizes = REMEMBERED if sizes is None else sizes
    size = sizes.size(key, requested)
    while True:
        failed = None
        try:
            out = attempt(size)
        except Exception as e:  # noqa: BLE001 - only out-of-memory errors are handled
            if not is_oom(e):
                raise
            if size <= 1:
                raise _too_big(key, size, e) from e
            failed = size
        if failed is None:
            if size < requested:
                sizes.worked(key, size)
            return out
        # outside the except block: the traceback (and the tensors its frames hold) is gone
        free_device_memory()
        size = max(1, failed // 2)


def batches(n: int, requested: int, run: Callable[[int, int], T], *, key: Hashable,
            on_done: Callable[[int], None] | None = None, sizes: BatchSizes | None = None) -> list[T]:
    """``run(start, stop)`` over consecutive index ranges covering ``0..n``, ``requested`` items at a
    time (or the size remembered for ``key``); a range that runs out of memory is halved and retried,
    and the rest of the items go at the size that worked. ``on_done(count)`` after each range."""
    sizes = REMEMBERED if sizes is None else sizes
    out: list[T] = []
    start = 0
    while start < n:
        got: list[int] = []

        def attempt(size: int, start=start):
            stop = min(n, start + size)
            got.append(stop)
            return run(start, stop)

        out.append(with_halving(key, min(requested, n - start), attempt, sizes))
        done = got[-1] - start
        start = got[-1]
        if on_done:
            on_done(done)
    return out
