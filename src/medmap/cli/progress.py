"""What the command line prints: progress bars (rich) and messages, all on stderr.

Bars are drawn only when stderr is a terminal, or when asked (``medmap --progress ...`` or
``MEDMAP_PROGRESS=1``); off a terminal (a pipe, a log file, CI) a bar prints nothing. Messages are
always printed. Text from users and runs (file names, ids, labels, error messages) is printed as plain
text: rich markup in it (``[bold]``, ``[/x]``) is shown literally, and control characters (terminal
escape sequences) are shown escaped, never sent to the terminal."""

from __future__ import annotations

import os
import re
from rich.console import Console
from rich.text import Text

from medmap.progress import rich_bars

console = Console(stderr=True, markup=False, highlight=False, emoji=False)
_SHOW = {"always": os.environ.get("MEDMAP_PROGRESS", "") not in ("", "0")}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def show_progress(always: bool) -> None:
    """Draw progress bars even when stderr is not a terminal (``--progress``)."""
    _SHOW["always"] = always


def progress_shown() -> bool:
    return _SHOW["always"] or console.is_terminal


def safe(text) -> str:
    """``text`` with control characters (ESC, BEL, ...) written as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", str(text))


_bars = rich_bars(console, shown=progress_shown)


def task(description: str, total: int | None):
    """Yields ``advance(n)``; shows a bar with elapsed and remaining time (see the module doc)."""
    return _bars(safe(description), total)


def say(msg, style: str | None = None) -> None:
    """Print ``msg`` as plain text (optionally styled as a whole)."""
    console.print(Text(safe(msg), style=style or ""), soft_wrap=True)


def note(msg) -> None:
    say(msg, "dim")


def error(msg) -> None:
    """``error: <msg>`` on one line."""
    console.print(Text("error: ", style="red") + Text(" ".join(safe(msg).split())), soft_wrap=True)
