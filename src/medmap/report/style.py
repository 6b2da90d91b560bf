"""What every figure of the report shares: a technique's colour and marker, a domain's colour, safe text,
a new figure, and tables as frames. matplotlib is imported inside the functions only."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

TECHNIQUE_STYLE = {  # Okabe-Ito colours (colour-blind safe), one marker each
    "geometry": ("#0072B2", "o"),
    "saliency": ("#E69F00", "s"),
    "lesion": ("#009E73", "^"),
    "patching": ("#D55E00", "D"),
    "lens": ("#CC79A7", "v"),
}
EXTRA_STYLE = [("#56B4E9", "P"), ("#F0E442", "X"), ("#000000", "*"), ("#999999", "<")]
"""Techniques not in :data:`TECHNIQUE_STYLE` take these in turn."""


def domain_colour(domain: str) -> str:
    """A domain's colour from the domain table (grey for domains not in it)."""
    from medmap.concepts.domains import builtin_spec

    spec = builtin_spec(domain)
    return spec.colour if spec is not None and spec.colour else "#555555"


def text(s: Any) -> str:
    """Text from a run, safe for matplotlib: ``$`` would start mathtext."""
    return str(s).replace("$", r"\$")


def new_figure(figsize, **kw):
    """A ``matplotlib.figure.Figure`` with constrained layout (no pyplot, no global registry)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained", **kw)


def technique_style(technique: str, techniques: Sequence[str] = ()) -> tuple[str, str]:
    """(colour, marker) of a technique."""
    if technique in TECHNIQUE_STYLE:
        return TECHNIQUE_STYLE[technique]
    extra = [t for t in techniques if t not in TECHNIQUE_STYLE]
    i = extra.index(technique) if technique in extra else 0
    return EXTRA_STYLE[i % len(EXTRA_STYLE)]


def as_frame(rows: Any, columns: Sequence[str] = ()) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a list of dicts or ``None`` (empty, with ``columns``)."""
    if rows is None:
        return pd.DataFrame(columns=list(columns))
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    for c in columns:
        if c not in df.columns:
            df[c] = np.nan
    return df


def layer_curve(df: pd.DataFrame) -> pd.DataFrame:
    """One row per layer (means of duplicate rows), sorted by layer."""
    return df.groupby("layer", as_index=False).mean(numeric_only=True).sort_values("layer")


def tidy_axes(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
