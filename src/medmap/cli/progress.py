"""Progress display for long stages (rich), silent when stderr is not a terminal unless asked."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


@contextmanager
def task(description: str, total: int | None):
    """Yields ``advance(n)``; shows a bar with elapsed and remaining time."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=False,
                  disable=False) as prog:
        t = prog.add_task(description, total=total)
        yield lambda n=1: prog.advance(t, n)


def note(msg: str) -> None:
    console.print(f"[dim]{msg}[/dim]")
