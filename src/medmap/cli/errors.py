"""How a failure of a command reaches the user: one line on stderr and an exit code, never a traceback
(unless ``--debug``).

* a user error — a :class:`MedmapError` (bad config, concept file, model, folder ...), a click usage
  error (unknown option, bad or missing value), or a file the user named that cannot be read or
  written (OSError) — prints ``error: <what, naming the file/key/argument>`` and exits with 2;
* Ctrl-C exits with 130;
* anything else is a bug: one line ``error: internal error: ...`` and exit code 1.

typer >= 0.29 ships its own copy of click (``typer._click``), whose exceptions are not click's: both
are recognised."""

from __future__ import annotations

from contextlib import contextmanager

import typer

from medmap.cli.progress import error
from medmap.errors import MedmapError

_USAGE = ("UsageError", "NoSuchOption", "BadOptionUsage", "BadArgumentUsage", "BadParameter", "MissingParameter")


def click_exceptions() -> tuple[tuple, tuple]:
    """(ClickException classes, Abort classes) of typer's own click and of click itself."""
    usage, abort = [], [typer.Abort]
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            mod = __import__(name, fromlist=["ClickException"])
        except ImportError:
            continue
        usage += [c for c in (getattr(mod, "ClickException", None),) if isinstance(c, type)]
        abort += [c for c in (getattr(mod, "Abort", None),) if isinstance(c, type)]
    return tuple(usage), tuple(abort)


def usage_message(e) -> str:
    """A click usage error as one line, with where to read the command's help."""
    msg = e.format_message() if hasattr(e, "format_message") else str(e)
    ctx = getattr(e, "ctx", None)
    if type(e).__name__ in _USAGE:
        msg += f" (see {ctx.command_path if ctx is not None else 'medmap'} --help)"
    return msg


@contextmanager
def exit_codes(debug: bool = False):
    """Run a command body; turn its failures into one line and an exit code (see the module doc)."""
    usage_errors, aborts = click_exceptions()
    try:
        yield
    except MedmapError as e:
        if debug:
            raise
        error(e)
        raise SystemExit(2)
    except typer.Exit as e:
        raise SystemExit(e.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        if debug:
            raise
        error("interrupted")
        raise SystemExit(130)
    except Exception as e:
        if isinstance(e, aborts):
            raise SystemExit(130)
        if isinstance(e, usage_errors) and type(e).__name__ == "NoArgsIsHelpError":
            e.show()  # `medmap` alone: the help
            raise SystemExit(2)
        if debug:
            raise
        if isinstance(e, usage_errors):
            error(usage_message(e))
            raise SystemExit(2)
        if isinstance(e, OSError):  # a file or folder the user named cannot be read or written
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            error(f"{where}{e.strerror or e}")
            raise SystemExit(2)
        error(f"internal error: {type(e).__name__}: {e} (run `medmap --debug ...` to see the traceback, and "
              "please report it)")
        raise SystemExit(1)
