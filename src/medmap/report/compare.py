"""Comparing runs of several models: their maps side by side on a normalised depth axis
(layer / n_layers; layer l spans [l/n, (l+1)/n)), their findings in one table, and for each
domain × technique the depth ranges of each model and how much they overlap (Jaccard index of
the 0.05-wide depth bins the intervals cover, as :func:`medmap.maps.compare_maps` bins them)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from medmap.maps import DEPTH_BINS, covered_bins
from medmap.report import _html as H
from medmap.report.data import ReportError, RunData, fmt, load_run, ordered, ordered_techniques
from medmap.report.figures import draw_map, technique_handles
from medmap.report.style import as_frame, new_figure, text
from medmap.report.render import figure_bytes
from medmap.store import write_bytes, write_text

BIN = 1 / DEPTH_BINS
"""Width of the depth bins used to compare intervals across models."""


def run_labels(runs: Sequence[RunData]) -> list[str]:
    """The models' names, made unique with the run folder's name where two runs share a model."""
    names = [r.model for r in runs]
    return [f"{n} ({r.path.name})" if names.count(n) > 1 else n for n, r in zip(names, runs)]


def _domains_techniques(runs: Sequence[RunData]) -> tuple[list[str], list[str]]:
    doms, techs = [], []
    for r in runs:
        for df in (r.map_df, as_frame(r.intervals, ("domain", "technique"))):
            if df is not None and len(df):
                doms += list(df["domain"])
                techs += list(df["technique"])
    return ordered(doms), ordered_techniques(techs)


def compare_figure(runs: Sequence[RunData], labels: Sequence[str] | None = None):
    """The runs' maps side by side (one panel per model) on a shared normalised depth axis."""
    if not runs:
        raise ReportError("compare_figure needs at least one run")
    labels = list(labels) if labels is not None else run_labels(runs)
    domains, techniques = _domains_techniques(runs)
    if not domains:
        raise ReportError("compare_figure: no run has map.csv or map.json intervals")
    fig = new_figure((3.9 * len(runs) + 1.6, 0.8 * len(domains) + 1.8))
    axes = fig.subplots(1, len(runs), sharey=True, squeeze=False).ravel()
    image = None
    for ax, run, label in zip(axes, runs, labels):
        n = run.n_layers
        if n is None or not (run.intervals or (run.map_df is not None and len(run.map_df))):
            ax.text(0.5, 0.5, "no map in this run", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(text(label), fontsize=10)
            continue
        image = draw_map(ax, run.intervals, run.agreement, n, domains, techniques, depth=True,
                         vmax=len(techniques)) or image
        ax.set_title(text(f"{label} ({n} layers)"), fontsize=10)
        ax.set_xticks(np.linspace(0, 1, 5))
    for ax in axes[1:]:
        ax.tick_params(axis="y", labelleft=False)
    if image is not None:
        cb = fig.colorbar(image, ax=list(axes), label="techniques agreeing", fraction=0.02, pad=0.01)
        cb.set_ticks(range(len(techniques) + 1))
    fig.legend(handles=technique_handles(techniques), loc="outside upper center", ncol=len(techniques),
               frameon=False)
    return fig


def depth_bins(run: RunData) -> pd.DataFrame:
    """One row per (domain, technique, bin) covered by an interval of the run (``bin`` = index of
    the 0.05-wide depth bin a layer's depth cell overlaps), with the interval's layers and depth range."""
    n = run.n_layers
    rows = []
    for iv in run.intervals if n else []:
        s, e = int(iv["start"]), int(iv["end"])
        d0, d1 = s / n, (e + 1) / n
        for b in np.flatnonzero(covered_bins(s, e, n)):
            rows.append({"domain": str(iv["domain"]), "technique": str(iv["technique"]), "bin": int(b),
                         "start": s, "end": e, "d0": d0, "d1": d1})
    return pd.DataFrame(rows, columns=["domain", "technique", "bin", "start", "end", "d0", "d1"])


def _runs_of_bins(bins: set[int]) -> str:
    out, run = [], []
    for b in sorted(bins):
        if run and b != run[-1] + 1:
            out.append(run)
            run = []
        run.append(b)
    if run:
        out.append(run)
    return ", ".join(f"{r[0] * BIN:.2f}–{(r[-1] + 1) * BIN:.2f}" for r in out) or "none"


def interval_differences(runs: Sequence[RunData], labels: Sequence[str]) -> pd.DataFrame:
    """Per (domain, technique): each model's depth ranges, the shared depth, and the Jaccard overlap
    of covered bins (1 = identical at 0.05 resolution, 0 = disjoint, NaN = no model has one)."""
    per = [depth_bins(r) for r in runs]
    domains, techniques = _domains_techniques(runs)
    rows = []
    for d in domains:
        for t in techniques:
            row = {"domain": d, "technique": t}
            sets = []
            for label, run, b in zip(labels, runs, per):
                sel = b[(b["domain"] == d) & (b["technique"] == t)]
                sets.append(set(sel["bin"]))
                ivs = sel.drop_duplicates(["start", "end"])
                row[label] = ", ".join(f"{r.d0:.2f}–{r.d1:.2f} (L{r.start}–{r.end})" for r in ivs.itertuples()) \
                    or ("no map" if not run.intervals else "none")
            union, inter = set().union(*sets), set.intersection(*sets) if sets else set()
            if not union:
                continue
            row["shared depth"] = _runs_of_bins(inter)
            row["overlap"] = len(inter) / len(union)
            rows.append(row)
    return pd.DataFrame(rows, columns=["domain", "technique", *labels, "shared depth", "overlap"])


def _findings_compare(runs: Sequence[RunData], labels: Sequence[str]) -> str:
    order: dict[str, dict] = {}
    by_run = []
    for r in runs:
        fs = {str(f.get("id")): f for f in (r.findings or {}).get("findings", [])}
        by_run.append(fs)
        for k, f in fs.items():
            order.setdefault(k, f)
    rows = []
    for k, f in order.items():
        cells = [H.esc(k), H.esc(f.get("domain", "")), f"<b>{H.esc(f.get('title', ''))}</b>", H.esc(f.get("measure", ""))]
        for fs in by_run:
            g = fs.get(k)
            cells.append("<td>–</td>" if g is None else
                         f'<td class="num">{H.value_ci(g.get("value"), g.get("ci_low"), g.get("ci_high"))}'
                         f' <small>L{H.esc(fmt(g.get("layer")))}</small><br>{H.verdict_badge(g.get("verdict"))}</td>')
        rows.append(cells)
    return H.table(["id", "domain", "finding", "measure", *labels], rows)


def build_compare_report(run_dirs: Sequence[str | Path], out_dir: str | Path) -> Path:
    """Write ``out_dir/compare.html`` (self-contained) and ``out_dir/figures/compare.png|svg``."""
    H.require_matplotlib()
    runs = [load_run(p) for p in run_dirs]
    if not runs:
        raise ReportError("build_compare_report needs at least one run folder")
    for r in runs:
        if r.scores is None:
            raise ReportError(f"{r.path}: not a medmap run folder (no scores.csv); compare needs finished runs")
    out = Path(out_dir)
    labels = run_labels(runs)
    body, nav = [], []
    domains, _ = _domains_techniques(runs)
    if domains:
        fig = compare_figure(runs, labels)
        png = figure_bytes(fig, "png")
        write_bytes(out / "figures" / "compare.png", png)
        write_bytes(out / "figures" / "compare.svg", figure_bytes(fig, "svg"))
        body.append('<section id="maps"><h2>Maps on a normalised depth axis</h2><p class="note">depth = layer / '
                    'n_layers; layer l spans [l/n, (l+1)/n).</p>' + H.img(png, "maps compared") + "</section>")
        nav.append(("maps", "Maps"))
        diff = interval_differences(runs, labels)
        rows, classes = [], []
        for r in diff.itertuples(index=False):
            vals = list(r)
            ov = vals[-1]
            rows.append([H.esc(v) for v in vals[:-1]] + [f'<td class="num">{H.esc(fmt(ov, 2))}</td>'])
            classes.append("differ" if not ov >= 0.5 else "")
        body.append('<section id="intervals"><h2>Where the intervals differ</h2><p class="note">Per domain and '
                    f'technique, each model\'s depth ranges; overlap = Jaccard index of the {BIN:.2f}-wide depth '
                    'bins covered (highlighted below 0.5).</p>'
                    + H.table(["domain", "technique", *labels, "shared depth", "overlap"], rows, classes)
                    + "</section>")
        nav.append(("intervals", "Intervals"))
    if any(r.findings and r.findings.get("findings") for r in runs):
        body.append('<section id="findings"><h2>Findings</h2>' + _findings_compare(runs, labels) + "</section>")
        nav.append(("findings", "Findings"))
    runs_rows = [[H.esc(lab), f'<td class="num">{H.esc(fmt(r.n_layers))}</td>', H.esc(str(r.path))]
                 for lab, r in zip(labels, runs)]
    body.append('<section id="runs"><h2>Runs</h2>' + H.table(["model", "layers", "run folder"], runs_rows)
                + "".join(f"<details><summary>provenance: {H.esc(lab)}</summary><pre>{H.pretty_json(r.provenance)}"
                          "</pre></details>" for lab, r in zip(labels, runs) if r.provenance is not None)
                + "</section>")
    nav.append(("runs", "Runs"))
    title = "medmap comparison: " + " vs ".join(labels)
    header = f"<h1>{H.esc(title)}</h1><p>{len(runs)} runs</p>"
    data = {"models": labels, "intervals": {lab: r.intervals for lab, r in zip(labels, runs)}}
    return write_text(out / "compare.html", H.page(title, header, nav, "\n".join(body), data=data))
