"""The activation-patching layer x position figure (``per_position`` runs). Returns a matplotlib
``Figure``, like every function of ``figures``."""

from __future__ import annotations

from typing import Any

import numpy as np

from medmap.report.data import ReportError, ordered
from medmap.report.style import as_frame, new_figure, text
POSITION_PREFIX = "recovery.pos-"


def position_grid_figure(scores_df: Any):
    """Activation patching per layer x position (``recovery.pos-<k>``: the prompt token k places before
    the last one patched alone), one heat map per domain. Diverging colours centred on 0; 1 means the
    clean answer fully restored by that single cell."""
    scores = as_frame(scores_df, ("domain", "technique", "metric", "layer", "value"))
    rows = scores[scores["metric"].astype(str).str.startswith(POSITION_PREFIX)]
    if not len(rows):
        raise ReportError("position_grid_figure: no 'recovery.pos-<k>' scores (run patching with per_position > 0)")
    domains = ordered(rows["domain"])
    fig = new_figure((5.8, 1.2 + 0.45 * rows["metric"].nunique() * len(domains) + 0.6 * len(domains)))
    axes = fig.subplots(len(domains), 1, squeeze=False).ravel()
    lim = max(1.0, float(np.nanmax(np.abs(rows["value"].to_numpy(dtype=float)))))
    for ax, domain in zip(axes, domains):
        d = rows[rows["domain"] == domain].copy()
        d["offset"] = d["metric"].str[len(POSITION_PREFIX):].astype(int)
        grid = d.pivot_table(index="offset", columns="layer", values="value", aggfunc="mean").sort_index()
        im = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                       interpolation="nearest")
        ax.set_yticks(range(len(grid.index)), ["last" if k == 0 else f"last-{k}" for k in grid.index], fontsize=8)
        ax.set_xticks(range(len(grid.columns))[::max(1, len(grid.columns) // 10)],
                      [str(c) for c in grid.columns][::max(1, len(grid.columns) // 10)], fontsize=8)
        ax.set_title(text(f"{domain}: recovery per layer x position"), loc="left", fontsize=10)
        ax.set_ylabel("patched token", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01, label="recovery")
    axes[-1].set_xlabel("decoder layer")
    return fig
