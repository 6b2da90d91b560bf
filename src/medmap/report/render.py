"""Drawing every figure of a run and saving it as PNG and SVG under ``RUN/figures/``.

Each file is written atomically (a temporary file in the same folder, then renamed), so a
reader never sees half a figure."""

from __future__ import annotations

import io
from itertools import repeat
from pathlib import Path
from typing import Callable, Iterator

from medmap import parallel
from medmap.report import figures as F
from medmap.report import positions as P
from medmap.report.curves import curves_figure, finding_curve, findings_figure
from medmap.report.data import RunData, load_run, ordered, umap_views
from medmap.store import write_bytes

FORMATS = ("png", "svg")
DPI = 110


def figure_makers(run: RunData) -> Iterator[tuple[str, str, Callable]]:
    """``(name, caption, make)`` for each figure the run's files allow, ``make()`` returning a Figure.

    Names: ``map``, ``curves_<domain>``, ``findings``, ``umap_<domain>_<label>``, ``patching_positions``,
    ``collapse``."""
    if run.map_df is not None or run.intervals:
        n = run.n_layers
        if n is not None:
            yield "map", "Knowledge map", lambda: F.map_figure(run.map_df, run.intervals, run.agreement, n_layers=n,
                                                               lanes=run.lanes)
    if run.scores is not None:
        for domain in ordered(run.scores["domain"]):
            yield (f"curves_{domain}", f"{domain}: per-layer curves",
                   lambda d=domain: curves_figure(run.scores, run.map_df, run.intervals, d, lanes=run.lanes))
    listed = (run.findings or {}).get("findings") or []
    if run.scores is not None and any(finding_curve(f) for f in listed):
        yield "findings", "Findings and their controls", lambda: findings_figure(run.scores, listed)
    for domain, emb in run.embeddings.items():
        for v in umap_views(domain, emb):
            yield (f"umap_{domain}_{v['colour']}", f"{domain} UMAP by {v['colour']}",
                   lambda e=emb, v=v: F.umap_grid(e, v["colour"], v["marker"], v["join"]))
    if run.scores is not None and run.scores["metric"].astype(str).str.startswith(P.POSITION_PREFIX).any():
        yield "patching_positions", "Patching per layer x position", lambda: P.position_grid_figure(run.scores)
    if run.scores is not None and run.scores["metric"].isin(["mean_cosine", "effective_rank"]).any():
        collapse = next((f for f in listed if f.get("id") == "activation_collapse"), None)
        yield "collapse", "Representation collapse", lambda: F.collapse_figure(run.scores, collapse)


def figure_bytes(fig, fmt: str, dpi: int = DPI) -> bytes:
    """A figure encoded as ``png`` or ``svg``, the same bytes in every process: no dates in the metadata,
    and the SVG's element ids hashed with a fixed salt (matplotlib's default salt is random per process)."""
    from matplotlib import rc_context

    buf = io.BytesIO()
    meta = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    with rc_context({"svg.hashsalt": "medmap"}):
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta)
    return buf.getvalue()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _encode(run: RunData, name: str, formats: tuple[str, ...]) -> dict[str, bytes]:
    """Figure ``name`` of the run drawn and encoded in each of ``formats`` (a job of a worker process)."""
    fig = next(make for n, _, make in figure_makers(run) if n == name)()
    return {fmt: figure_bytes(fig, fmt) for fmt in formats}


def render_figures(run: RunData, folder: Path | None = None, workers: int | None = None) -> list[dict]:
    """Draw every figure; returns ``[{"name", "caption", "png": bytes, "paths": [...]}]``.

    With ``folder``, each figure is also saved there as ``<name>.png`` and ``<name>.svg``. The figures
    are drawn in ``workers`` processes (default: one per CPU, at most 4; 1 = in this process): matplotlib
    draws on one core, and a run's report has tens of figures (the same bytes either way)."""
    formats = FORMATS if folder is not None else ("png",)
    made = [(name, caption) for name, caption, _ in figure_makers(run)]
    workers = parallel.local_workers() if workers is None else workers
    names = [name for name, _ in made]
    if workers > 1 and len(made) > 1:
        # a few figures per task: the run's data (megabytes) is pickled once per task, and the tasks still
        # share the figures out over the workers
        per_task = max(1, len(names) // (4 * workers))
        encoded = list(parallel.pool_map(workers, _encode, repeat(run), names, repeat(formats), chunksize=per_task))
    else:
        encoded = [_encode(run, name, formats) for name in names]
    out = []
    for (name, caption), data in zip(made, encoded):
        entry = {"name": _safe(name), "caption": caption, "paths": [], "png": data["png"]}
        if folder is not None:
            entry["paths"] = [write_bytes(Path(folder) / f"{entry['name']}.{fmt}", data[fmt]) for fmt in formats]
        out.append(entry)
    return out


def write_figures(run_dir: str | Path) -> list[Path]:
    """Save every figure of the run folder as PNG and SVG under ``RUN/figures/``; returns the paths."""
    run = load_run(run_dir)
    return [p for e in render_figures(run, run.path / "figures") for p in e["paths"]]
