"""Per-layer curves of one domain, each with its controls (returns a matplotlib ``Figure``).

One row of panels per technique:

- geometry: the map's metric with its CI band and smoothed curve, and its controls where the scores have
  them: the permutation null as a grey band up to ``M@null95``, the lexical baseline as a dashed line at
  ``M@lexical``, a ring on each layer where ``M@excess`` > 0 (the metric beats both), the random-init
  model dotted (``M@random_init``) and each prompt template thin (``M[<template>]``). Beside it, the
  linear probes (``probe_acc.<label>``, ``probe_selectivity.<label>``) when the run has them.
- saliency, lesion, patching, lens: the raw curve, and beside it the specific curve ``M@specific`` (the
  domain minus the reference set) with its CI and a zero line. The map's intervals are shaded on the
  panel whose curve the map used; a lane the map found "not specific" (or, for geometry, "not beyond
  controls") says so."""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

from medmap.maps.layer_map import NOT_SPECIFIC, SPECIFIC
from medmap.techniques import PROBE_SCORES
from medmap.report.data import ReportError, ordered_techniques
from medmap.report.figures import unmapped
from medmap.report.style import as_frame, layer_curve, new_figure, technique_style, text, tidy_axes

# Preferred primary metric per technique when map.csv is absent (first present wins).
PRIMARY_PREFERENCE = ("silhouette_umap.", "r2_umap.", "spearman.", "mean_abs.both", "logprob_drop", "recovery",
                      "lens_logprob")
PROBE_PREFIXES = tuple(f"{p}." for p in PROBE_SCORES) + ("probe_selectivity.",)
NULL_COLOUR, LEXICAL_COLOUR = "#9a9a9a", "#444444"


def is_control(metric: str) -> bool:
    """A control or variant row (``M@<control>``, ``M[<template>]``), not a metric of its own."""
    return "@" in metric or "[" in metric


def primary_metric(scores: pd.DataFrame, domain: str, technique: str) -> str | None:
    """The metric drawn for (domain, technique) when map.csv does not name one."""
    metrics = [m for m in dict.fromkeys(scores.loc[(scores["domain"] == domain) & (scores["technique"] == technique),
                                                   "metric"].astype(str)) if not is_control(m)]
    for pref in PRIMARY_PREFERENCE:
        for m in metrics:
            if m.startswith(pref):
                return m
    skip = {"mean_cosine", "effective_rank", "collapse_flag"}
    return next((m for m in metrics if m not in skip and not m.startswith(("boundary_at",) + PROBE_PREFIXES)), None)


def companion_metrics(primary: str, available: Iterable[str]) -> list[str]:
    """Metrics drawn thinly beside the primary one: the raw/PCA-space twin of a UMAP metric, and
    the attention/MLP parts of a saliency sum."""
    avail = list(dict.fromkeys(available))
    out = []
    if "_umap" in primary:
        out = [primary.replace("_umap", s) for s in ("_raw", "_pca")]
    elif primary.startswith("mean_abs."):
        out = [m for m in avail if m.startswith("mean_abs.") and m != primary and not is_control(m)]
    return [m for m in out if m in avail]


def _rows(sdf: pd.DataFrame, metric: str) -> pd.DataFrame:
    return layer_curve(sdf[sdf["metric"] == metric])


def draw_controls(ax, sdf: pd.DataFrame, metric: str) -> None:
    """The controls of ``metric`` that ``sdf`` (one domain and technique) has rows for."""
    for k, m in enumerate(sorted(x for x in set(sdf["metric"]) if x.startswith(metric + "["))):
        c = _rows(sdf, m)
        ax.plot(c["layer"], c["value"], color="#8a8a8a", lw=0.7, alpha=0.5, label="per template" if k == 0 else None)
    rand = _rows(sdf, metric + "@random_init")
    if len(rand):
        ax.plot(rand["layer"], rand["value"], color="#555555", lw=1.0, ls=":", label="random-init model")
    lex = _rows(sdf, metric + "@lexical")
    if len(lex):
        ax.plot(lex["layer"], lex["value"], color=LEXICAL_COLOUR, lw=1.1, ls="--", label="lexical baseline")
    exc = _rows(sdf, metric + "@excess")
    main = _rows(sdf, metric)
    if len(exc) and len(main):
        beats = set(exc.loc[exc["value"] > 0, "layer"])
        hit = main[main["layer"].isin(beats)]
        if len(hit):
            ax.plot(hit["layer"], hit["value"], ls="", marker="o", ms=8, mfc="none", mec="black", mew=1.0,
                    label="beats null and lexical")
    null = _rows(sdf, metric + "@null95")
    if len(null) and null["value"].notna().any():
        lo, hi = ax.get_ylim()
        floor = min(lo, float(np.nanmin(null["value"])))
        ax.fill_between(null["layer"], floor, null["value"], color=NULL_COLOUR, alpha=0.22, lw=0, zorder=0,
                        step="mid", label="null (up to 95th pct)")
        ax.set_ylim(floor, max(hi, float(np.nanmax(null["value"]))))


def _shade(ax, iv: pd.DataFrame, colour: str) -> None:
    for _, r in iv.iterrows():
        ax.axvspan(int(r["start"]) - 0.5, int(r["end"]) + 0.5, color=colour, alpha=0.14, lw=0)


def _curve_panel(ax, tech, metric, rows, sdf, iv, colour, marker, shade: bool, title: str) -> None:
    c = layer_curve(rows)
    if shade:
        _shade(ax, iv, colour)
    ax.fill_between(c["layer"], c["ci_low"], c["ci_high"], color=colour, alpha=0.22, lw=0, label="CI")
    ax.plot(c["layer"], c["value"], color=colour, marker=marker, ms=3.5, lw=1.5, label=text(metric))
    if "smoothed" in c and c["smoothed"].notna().any():
        ax.plot(c["layer"], c["smoothed"], color="#333333", ls="--", lw=1, label="smoothed")
    for j, comp in enumerate(companion_metrics(metric, sdf["metric"])):
        cc = _rows(sdf, comp)
        ax.plot(cc["layer"], cc["value"], color="#777777", lw=0.9, ls=[":", "-."][j % 2], label=text(comp))
    if metric == "recovery":
        ax.axhline(1, color="#999999", lw=0.6, ls=":")
    ax.set_title(text(title), loc="left", fontsize=10)


def _specific_panel(ax, tech, metric, rows, iv, colour, shade: bool, lane: dict | None) -> None:
    c = layer_curve(rows)
    if shade:
        _shade(ax, iv, colour)
    ax.axhline(0, color="#555555", lw=0.9, zorder=1, label="reference set (0)")
    ax.fill_between(c["layer"], c["ci_low"], c["ci_high"], color=colour, alpha=0.22, lw=0, label="CI")
    ax.plot(c["layer"], c["value"], color=colour, lw=1.5, marker=".", ms=4, label=text(metric))
    if "smoothed" in c and c["smoothed"].notna().any():
        ax.plot(c["layer"], c["smoothed"], color="#333333", ls="--", lw=1, label="smoothed")
    status = f" ({lane['status']})" if lane and lane.get("status") == NOT_SPECIFIC else ""
    ax.set_title(text(f"{tech}: {metric}{status}\ndomain minus reference set"), loc="left", fontsize=10)
    if status:
        ax.text(0.5, 0.92, "not specific: no layer above the reference", transform=ax.transAxes, ha="center",
                va="top", fontsize=8, color="#333333", bbox={"facecolor": "white", "edgecolor": "#999999",
                                                              "hatch": "///", "alpha": 0.9})


def _probe_panel(ax, sdf: pd.DataFrame) -> None:
    metrics = sorted(m for m in set(sdf["metric"]) if m.startswith(PROBE_PREFIXES) and not is_control(m))
    for k, m in enumerate(metrics):
        c = _rows(sdf, m)
        ls = "--" if m.startswith("probe_selectivity.") else "-"
        line, = ax.plot(c["layer"], c["value"], lw=1.3, ls=ls, label=text(m))
        ax.fill_between(c["layer"], c["ci_low"], c["ci_high"], color=line.get_color(), alpha=0.15, lw=0)
        null = _rows(sdf, m + "@null95")
        if len(null):
            ax.plot(null["layer"], null["value"], lw=0.8, ls=":", color=line.get_color(),
                    label="null (95th pct)" if k == 0 else None)
    ax.set_title("geometry: linear probes (accuracy or R^2, selectivity)", loc="left", fontsize=10)


def _groups(mdf, sdf, domain, techniques) -> list[list[tuple]]:
    """Panels per technique: [raw] or [raw, specific], and the probes beside geometry."""
    groups = []
    for tech in techniques:
        rows = mdf[mdf["technique"] == tech]
        own = sdf[sdf["technique"] == tech]
        used = str(rows["metric"].iloc[0]) if len(rows) else None
        metric = used.split("@", 1)[0] if used else primary_metric(sdf, domain, tech)
        if metric is None:
            continue
        specific_used = bool(used and used.endswith(SPECIFIC))
        raw_rows = own[own["metric"] == metric] if specific_used or not len(rows) else rows
        if not len(raw_rows):
            continue
        group = [("curve", tech, metric, raw_rows, not specific_used)]
        spec = rows if specific_used else own[own["metric"] == metric + SPECIFIC]
        if len(spec):
            group.append(("specific", tech, metric + SPECIFIC, spec, specific_used))
        if tech == "geometry" and own["metric"].astype(str).str.startswith(PROBE_PREFIXES).any():
            group.append(("probes", tech, "", own, False))
        groups.append(group)
    return groups


def curves_figure(scores_df: Any, map_df: Any, intervals: Any, domain: str, lanes: Any = None):
    """Per technique a row of panels: the map's metric per layer with its CI band, the smoothed curve
    (when map.csv has it), thin companion metrics and the controls; the specific curve beside the raw
    one for the techniques that have it; the map's intervals shaded where the map drew them."""
    scores = as_frame(scores_df, ("model", "domain", "technique", "metric", "layer", "value", "ci_low", "ci_high"))
    mdf = as_frame(map_df, ("model", "domain", "technique", "metric", "layer", "value", "ci_low", "ci_high",
                            "smoothed"))
    iv = as_frame(intervals, ("domain", "technique", "start", "end"))
    lane_of = {(str(x.get("domain")), str(x.get("technique"))): x for x in (lanes or []) if isinstance(x, dict)}
    mdf, sdf = mdf[mdf["domain"] == domain], scores[scores["domain"] == domain]
    sdf = sdf.assign(metric=sdf["metric"].astype(str))
    techniques = ordered_techniques(list(mdf["technique"]) + list(sdf["technique"]))
    groups = _groups(mdf, sdf, domain, techniques)
    if not groups:
        raise ReportError(f"curves_figure: no scores for domain {domain!r}")
    slots: list[tuple | None] = []  # two columns; a technique's raw and specific panels share a row
    for g in groups:
        if len(g) > 1 and len(slots) % 2:
            slots.append(None)
        slots += g
    ncols = 2 if len(slots) > 1 else 1
    nrows = math.ceil(len(slots) / ncols)
    fig = new_figure((5.6 * ncols, 3.1 * nrows + 0.5))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, slot in zip(axes, slots + [None] * (len(axes) - len(slots))):
        if slot is None:
            ax.set_visible(False)
            continue
        kind, tech, metric, rows, shade = slot
        colour, marker = technique_style(tech, techniques)
        here = iv[(iv["domain"] == domain) & (iv["technique"] == tech)]
        own = sdf[sdf["technique"] == tech]
        if kind == "curve":
            _curve_panel(ax, tech, metric, rows, own, here, colour, marker, shade, f"{tech}: {metric}")
            draw_controls(ax, own, metric)
            if tech != "geometry" and f"{metric}{SPECIFIC}" in set(own["metric"]):
                ax.set_title(text(f"{tech}: {metric}\nraw"), loc="left", fontsize=10)
            elif (status := unmapped(lanes).get((domain, tech))) is not None:
                ax.set_title(text(f"{tech}: {metric} ({status})"), loc="left", fontsize=10)
            ax.axhline(0, color="#cccccc", lw=0.6, zorder=0)
        elif kind == "specific":
            _specific_panel(ax, tech, metric, rows, here, colour, shade, lane_of.get((domain, tech)))
        else:
            _probe_panel(ax, rows)
        ax.set_xlabel("decoder layer")
        ax.legend(fontsize=7, frameon=False, loc="best")
        tidy_axes(ax)
    fig.suptitle(text(f"{domain}: per-layer curves with their controls (shaded: map intervals)"), x=0.01, ha="left")
    return fig


FINDING_CURVES = {"age_boundary_17_18": ("age", "boundary_17_18.age"), "age_nonlinear": ("age", "r2_umap.age"),
                  "drugs_specialty_over_mechanism": ("drugs", "silhouette_gap.specialty_minus_mechanism")}
"""Finding id -> (domain, metric) of the curve it is measured on; ``progression_circular.<disease>`` reads
``circularity.stage.<disease>``; the collapse finding has a figure of its own."""


def finding_curve(finding: dict) -> tuple[str, str] | None:
    fid = str(finding.get("id", ""))
    if fid.startswith("progression_circular."):
        return "progression", "circularity.stage." + fid.split(".", 1)[1]
    return FINDING_CURVES.get(fid)


def findings_figure(scores_df: Any, findings: list[dict]):
    """One panel per finding that is measured on a per-layer curve: the curve with its CI, the controls
    it is held against (null band up to ``M@null95``, lexical baseline, rings where ``M@excess`` > 0), the
    finding's layer marked, and the verdict before and after the controls in the title."""
    scores = as_frame(scores_df, ("domain", "technique", "metric", "layer", "value", "ci_low", "ci_high"))
    scores = scores.assign(metric=scores["metric"].astype(str))
    panels = []
    for f in findings:
        where = finding_curve(f)
        if where is not None:
            sdf = scores[(scores["domain"] == where[0]) & (scores["technique"] == "geometry")]
            if (sdf["metric"] == where[1]).any():
                panels.append((f, where[1], sdf))
    if not panels:
        raise ReportError("findings_figure: no finding has its curve in the scores")
    ncols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / ncols)
    fig = new_figure((5.6 * ncols, 3.0 * nrows + 0.5))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax, (f, metric, sdf) in zip(axes, panels):
        c = _rows(sdf, metric)
        ax.fill_between(c["layer"], c["ci_low"], c["ci_high"], color="#1f77b4", alpha=0.2, lw=0, label="CI")
        ax.plot(c["layer"], c["value"], color="#1f77b4", lw=1.4, marker=".", ms=4, label=text(metric))
        draw_controls(ax, sdf[~sdf["metric"].str.contains("[", regex=False)], metric)
        if f.get("layer") is not None:
            ax.axvline(int(f["layer"]), color="#d62728", lw=0.9, ls="--", label="the finding's layer")
        ax.set_title(text(f"{f.get('title', f.get('id'))}\n{f.get('verdict_raw')} -> {f.get('verdict')}"),
                     loc="left", fontsize=9)
        ax.set_xlabel("decoder layer")
        ax.legend(fontsize=6.5, frameon=False, loc="best")
        tidy_axes(ax)
    fig.suptitle("Findings: each measured curve with the controls it is held against", x=0.01, ha="left")
    return fig
