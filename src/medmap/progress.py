"""Progress of long stages, one vocabulary for the library and the command line:

* ``note(msg)`` prints a one-line message (a printer);
* a *bars* factory ``bars(description, total)`` is a context manager yielding ``advance(n=1)``, the
  callback a stage calls as it completes units.

:func:`rich_bars` draws rich progress bars, which render in a terminal and in a Jupyter notebook alike;
:func:`no_bars` shows nothing."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Callable, ContextManager

Advance = Callable[..., None]
Bars = Callable[[str, "int | None"], ContextManager[Advance]]


def no_bars(description: str, total: int | None) -> ContextManager[Advance]:
    """A bars factory that shows nothing."""
    return nullcontext(lambda n=1: None)


def rich_bars(console=None, shown: Callable[[], bool] | None = None) -> Bars:
    """A bars factory drawing a rich bar per stage (elapsed and remaining time) on ``console`` (default: a
    console on stderr; in Jupyter rich renders the bar in the cell's output). ``shown()`` decides, when a
    bar starts, whether it is drawn (default: always)."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    console = console or Console(stderr=True)

    @contextmanager
    def bars(description: str, total: int | None):
        with Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
                      disable=shown is not None and not shown()) as prog:
            t = prog.add_task(description, total=total)
            yield lambda n=1: prog.advance(t, n)

    return bars
