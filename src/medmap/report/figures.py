"""Figures of one run. Each function takes data (tables, dicts) and RETURNS a matplotlib
``Figure``; nothing is shown or saved here (``render.write_figures`` saves them).

Figures are built with ``matplotlib.figure.Figure`` directly, not through ``pyplot``: no backend is
selected, no global figure registry grows, and PNG/SVG are drawn by Agg when saved. matplotlib is
imported inside the functions, so importing ``medmap.report`` does not import it.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from medmap.maps.layer_map import LANE_STATUSES
from medmap.store.schema import reading_metrics
from medmap.report.data import (ReportError, is_numeric_label, num, ordered, ordered_techniques,
                                template_of)
from medmap.report.style import (as_frame, domain_colour, layer_curve, new_figure,
                                 technique_style, text)

_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
_t = text  # short names used throughout this module
_figure = new_figure
_curve = layer_curve


def _agreement_counts(agreement: pd.DataFrame, intervals: pd.DataFrame, domain: str, n: int) -> np.ndarray:
    """Techniques agreeing per layer: from map.json's agreement, else counted from the intervals."""
    counts = np.zeros(n)
    rows = agreement[agreement["domain"].astype(str) == domain] if len(agreement) else agreement
    if len(rows):
        for layer, c in zip(rows["layer"], rows["count"]):
            if 0 <= int(layer) < n:
                counts[int(layer)] = num(c)
        return counts
    for _, iv in intervals[intervals["domain"].astype(str) == domain].iterrows():
        counts[max(0, int(iv["start"])):min(n, int(iv["end"]) + 1)] += 1
    return counts


def unmapped(lanes: Any) -> dict[tuple[str, str], str]:
    """{(domain, technique): status} of the map's lanes without intervals by a control ("not specific",
    "not beyond controls"; ``map.json`` ``lanes``)."""
    return {(str(x.get("domain")), str(x.get("technique"))): str(x.get("status")) for x in (lanes or [])
            if isinstance(x, dict) and x.get("status") in LANE_STATUSES[1:]}


def draw_map(ax, intervals: Any, agreement: Any, n_layers: int, domains: Sequence[str],
             techniques: Sequence[str], *, depth: bool = False, vmax: float | None = None, lanes: Any = None):
    """Draw a domain × layer map on ``ax``; returns the agreement image (for a colorbar).

    Each domain is a band: one lane per technique with a bar over each interval and its marker at
    each layer, and below them a heat strip of the number of techniques whose interval covers the
    layer. A lane the map marked "not specific" or "not beyond controls" (``lanes``: map.json's) is a
    hatched bar over every layer with those words: the domain is not treated differently from general
    knowledge there, or its geometry does not beat chance and the prompt's tokens. With
    ``depth``, the x axis is layer / n_layers and layer l spans [l/n, (l+1)/n)."""
    from matplotlib.patches import Rectangle

    from matplotlib import colormaps

    iv = as_frame(intervals, ("domain", "technique", "start", "end"))
    ag = as_frame(agreement, ("domain", "layer", "count"))
    scale, off = (1.0 / n_layers, 0.0) if depth else (1.0, -0.5)
    x0, x1 = off, n_layers * scale + off
    lane_y = np.linspace(-0.36, 0.18, max(len(techniques), 1)) if len(techniques) > 1 else np.array([-0.09])
    vmax = vmax or max(len(techniques), 1)
    cmap = colormaps["Purples"]
    image = None
    flat = unmapped(lanes)
    for i, domain in enumerate(domains):
        counts = _agreement_counts(ag, iv, domain, n_layers)
        image = ax.imshow(counts[None, :], extent=(x0, x1, i + 0.46, i + 0.28), cmap=cmap, vmin=0, vmax=vmax,
                          aspect="auto", interpolation="nearest", zorder=1)
        if not depth and n_layers <= 40:
            for layer, c in enumerate(counts):
                if c > 0:
                    ax.text(layer, i + 0.37, f"{c:g}", ha="center", va="center", fontsize=7,
                            color="white" if c > vmax / 2 else "#333333", zorder=3)
        for k, tech in enumerate(techniques):
            colour, marker = technique_style(tech, techniques)
            y = i + lane_y[k]
            rows = iv[(iv["domain"].astype(str) == domain) & (iv["technique"].astype(str) == tech)]
            if (domain, tech) in flat:
                h = min(0.1, 0.8 * float(lane_y[1] - lane_y[0])) if len(lane_y) > 1 else 0.1
                ax.add_patch(Rectangle((x0, y - h / 2), x1 - x0, h, fill=False, hatch="////", edgecolor=colour,
                                       lw=0.6, alpha=0.8, zorder=2))
                ax.text((x0 + x1) / 2, y, f"{_t(tech)}: {flat[(domain, tech)]}", ha="center", va="center", fontsize=6.5,
                        color="#333333", zorder=3, bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6})
            for _, r in rows.iterrows():
                s, e = int(r["start"]), int(r["end"])
                ax.hlines(y, s * scale + off + 0.1 * scale, (e + 1) * scale + off - 0.1 * scale, color=colour,
                          lw=5, alpha=0.45, zorder=2)
                xs = np.arange(s, e + 1) if n_layers <= 40 else np.array([(s + e) / 2])
                ax.plot((xs + 0.5) * scale + off, np.full(len(xs), y), ls="", marker=marker, color=colour,
                        ms=5.5, mec="white", mew=0.5, zorder=3)
        if i:
            ax.axhline(i - 0.5, color="#bbbbbb", lw=0.6, zorder=0)
    ax.set_xlim(x0, x1)
    ax.set_ylim(len(domains) - 0.5, -0.5)
    ax.set_yticks(range(len(domains)), [_t(d) for d in domains])
    if depth:
        ax.set_xlabel("depth (layer / n_layers)")
    else:
        ax.set_xlabel("decoder layer")
        step = max(1, int(math.ceil(n_layers / 20)))
        ax.set_xticks(range(0, n_layers, step))
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return image


def technique_handles(techniques: Sequence[str]):
    from matplotlib.lines import Line2D

    out = []
    for t in techniques:
        colour, marker = technique_style(t, techniques)
        out.append(Line2D([], [], color=colour, marker=marker, lw=4, alpha=0.8, ms=6, label=_t(t)))
    return out


def map_figure(map_df: Any, intervals: Any, agreement: Any, *, n_layers: int | None = None,
               depth: bool = False, title: str | None = None, lanes: Any = None):
    """The knowledge map (the paper's figure 2): domain × layer, one lane and marker per technique,
    bars over each technique's interval(s), hatched "not specific" / "not beyond controls" lanes (``lanes``: map.json's), and a
    heat strip with the agreement count per layer."""
    mdf = as_frame(map_df, ("model", "n_layers", "domain", "technique"))
    iv = as_frame(intervals, ("model", "domain", "technique", "start", "end"))
    if mdf["model"].nunique() > 1:
        raise ReportError(f"map_figure draws one model; got {sorted(mdf['model'].unique())} (use compare_figure)")
    if n_layers is None:
        if not len(mdf):
            raise ReportError("map_figure needs map.csv rows or n_layers")
        n_layers = int(mdf["n_layers"].iloc[0])
    domains = ordered(list(mdf["domain"]) + list(iv["domain"]))
    techniques = ordered_techniques(list(mdf["technique"]) + list(iv["technique"]))
    if not domains:
        raise ReportError("map_figure: no domain in map.csv or in the intervals")
    fig = _figure((10.5, 0.85 * len(domains) + 1.6))
    ax = fig.add_subplot()
    image = draw_map(ax, iv, agreement, n_layers, domains, techniques, depth=depth, lanes=lanes)
    cb = fig.colorbar(image, ax=ax, label="techniques agreeing", fraction=0.025, pad=0.01)
    cb.set_ticks(range(len(techniques) + 1))
    fig.legend(handles=technique_handles(techniques), loc="outside upper center", ncol=len(techniques),
               frameon=False)
    model = title or (str(mdf["model"].iloc[0]) if len(mdf) else "")
    ax.set_title(_t(f"Knowledge map{': ' + model if model else ''} ({n_layers} layers)"), loc="left")
    return fig


def _evenly_spaced(layers: Sequence[int], k: int = 8) -> list[int]:
    idx = np.unique(np.round(np.linspace(0, len(layers) - 1, min(k, len(layers)))).astype(int))
    return [int(layers[i]) for i in idx]


def join_paths(items: list[dict], join_label: str, order: list[float]) -> list[list[int]]:
    """Item indices grouped by (join label, template), each group sorted by ``order``."""
    groups: dict[tuple, list[int]] = {}
    for i, it in enumerate(items):
        v = (it.get("labels") or {}).get(join_label)
        if v is not None:
            groups.setdefault((str(v), template_of(it)), []).append(i)
    return [sorted(g, key=lambda i: (order[i] if np.isfinite(order[i]) else np.inf)) for g in groups.values()
            if len(g) > 1]


def umap_grid(emb: dict, colour_label: str, marker_label: str | None = None, join_label: str | None = None,
              layers: Sequence[int] | None = None, *, order_label: str | None = None, ncols: int = 4):
    """Small multiples of a domain's 2-d UMAP across about 8 evenly spaced layers.

    Numeric colour labels (age, stage) get a continuous colormap, others a categorical palette;
    ``marker_label`` picks the marker; with ``join_label``, points sharing that label (and the same
    prompt template) are joined in the order of ``order_label`` (default: the colour label)."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    items, all_layers = emb.get("items", []), [int(v) for v in emb.get("layers", [])]
    if not items or not all_layers:
        raise ReportError(f"umap_grid: embedding of {emb.get('domain', '?')!r} has no items or no layers")
    layers = _evenly_spaced(all_layers) if layers is None else [int(v) for v in layers]
    unknown = [v for v in layers if v not in all_layers]
    if unknown:
        raise ReportError(f"umap_grid: layer(s) {unknown} not in the embedding (has {all_layers[0]}..{all_layers[-1]})")
    labels = [it.get("labels") or {} for it in items]
    cvals = [lab.get(colour_label) for lab in labels]
    numeric = is_numeric_label(cvals)
    grey = "#bbbbbb"
    if numeric:
        cnum = np.array([num(v) for v in cvals])
        norm = Normalize(np.nanmin(cnum), np.nanmax(cnum) if np.nanmax(cnum) > np.nanmin(cnum) else np.nanmin(cnum) + 1)
        cmap = colormaps["viridis"]
        colours = [cmap(norm(v)) if np.isfinite(v) else grey for v in cnum]
    else:
        cats = sorted({str(v) for v in cvals if v is not None})
        palette = colormaps["tab10" if len(cats) <= 10 else "tab20"]
        cmap_cat = {c: palette(i % palette.N) for i, c in enumerate(cats)}
        colours = [cmap_cat[str(v)] if v is not None else grey for v in cvals]
    mcats = sorted({str(lab.get(marker_label)) for lab in labels if lab.get(marker_label) is not None}) \
        if marker_label else []
    mk = {c: _MARKERS[i % len(_MARKERS)] for i, c in enumerate(mcats)}
    markers = [mk.get(str(lab.get(marker_label)), "o") if marker_label else "o" for lab in labels]
    order = [num(lab.get(order_label or colour_label)) for lab in labels]
    paths = join_paths(items, join_label, order) if join_label else []

    nrows = math.ceil(len(layers) / ncols)
    fig = _figure((2.9 * min(ncols, len(layers)) + 2.2, 2.7 * nrows + 0.6))
    axes = fig.subplots(nrows, min(ncols, len(layers)), squeeze=False).ravel()
    for ax, layer in zip(axes, layers):
        xy = np.asarray(emb["coords"][all_layers.index(layer)], dtype=float).reshape(len(items), 2)
        for p in paths:
            ax.plot(xy[p, 0], xy[p, 1], color="#888888", lw=0.6, alpha=0.6, zorder=1)
        for m in dict.fromkeys(markers):
            sel = [i for i, mm in enumerate(markers) if mm == m]
            ax.scatter(xy[sel, 0], xy[sel, 1], c=[colours[i] for i in sel], marker=m, s=16, lw=0.3,
                       edgecolors="white", zorder=2)
        ax.set_title(f"layer {layer}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(layers):]:
        ax.set_visible(False)
    handles = []
    if numeric:
        from matplotlib.cm import ScalarMappable

        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes[:len(layers)]), label=_t(colour_label),
                     fraction=0.03, pad=0.02)
    else:
        handles += [Line2D([], [], ls="", marker="o", color=cmap_cat[c], label=_t(c)) for c in cats]
    handles += [Line2D([], [], ls="", marker=mk[c], color="#444444", label=_t(f"{marker_label}: {c}")) for c in mcats]
    if handles:
        fig.legend(handles=handles, loc="outside right upper", fontsize=7, frameon=False,
                   title=None if numeric else _t(colour_label), title_fontsize=8)
    what = f"colour = {colour_label}" + (f", marker = {marker_label}" if marker_label else "") + \
        (f", joined by {join_label} in {order_label or colour_label} order" if join_label else "")
    fig.suptitle(_t(f"{emb.get('domain', '')} UMAP ({what})"), x=0.01, ha="left", fontsize=11)
    return fig


def collapse_figure(scores_df: Any, finding: dict | None = None):
    """Mean pairwise cosine and effective rank of the activations per layer, one line per domain (dotted:
    the random-init model), and the effective rank under the massive-activation readings (dashed:
    standardized coordinates; dash-dot: the largest coordinates removed). Crosses mark the layers of each
    domain's collapsed ranges (``collapse_range_flag``; the older edge flags ``collapse_flag`` where a run
    has no range rows); grey bands the layers the collapse finding (``finding``, findings.json's
    ``activation_collapse``) counts: a range in two domains or more (its ``layers.collapsed``)."""
    from matplotlib.lines import Line2D


    scores = as_frame(scores_df, ("domain", "technique", "metric", "layer", "value", "ci_low", "ci_high"))
    scores = scores.assign(metric=scores["metric"].astype(str))
    metrics = [m for m in ("mean_cosine", "effective_rank") if (scores["metric"] == m).any()]
    if not metrics:
        raise ReportError("collapse_figure: scores have neither 'mean_cosine' nor 'effective_rank'")
    readings = reading_metrics(scores["metric"].unique())
    panels = metrics + (["readings"] if readings and "effective_rank" in metrics else [])
    fig = _figure((5.4 * len(panels), 3.4))
    axes = fig.subplots(1, len(panels), squeeze=False).ravel()
    flag_metric = "collapse_range_flag" if (scores["metric"] == "collapse_range_flag").any() else "collapse_flag"
    flags = scores[(scores["metric"] == flag_metric) & (scores["value"] > 0)]
    multi = list(((finding or {}).get("layers") or {}).get("collapsed") or [])
    styles = {r: ("--" if r.endswith("@standardized") else "-.") for r in readings}
    for ax, panel in zip(axes, panels):
        for layer in multi:
            ax.axvspan(layer - 0.5, layer + 0.5, color="#dddddd", lw=0, zorder=0)
        metric = "effective_rank" if panel == "readings" else panel
        rows = scores[scores["metric"] == metric]
        for domain in ordered(rows["domain"]):
            c = _curve(rows[rows["domain"] == domain])
            colour = domain_colour(domain)
            if panel == "readings":
                for r in readings:
                    rr = scores[(scores["metric"] == r) & (scores["domain"] == domain)]
                    if len(rr):
                        rc = _curve(rr)
                        ax.plot(rc["layer"], rc["value"], color=colour, lw=1.1, ls=styles[r])
                continue
            ax.fill_between(c["layer"], c["ci_low"], c["ci_high"], color=colour, alpha=0.15, lw=0)
            ax.plot(c["layer"], c["value"], color=colour, lw=1.4, label=_t(domain))
            rand = scores[(scores["metric"] == f"{metric}@random_init") & (scores["domain"] == domain)]
            if len(rand):
                r = _curve(rand)
                ax.plot(r["layer"], r["value"], color=colour, lw=1.0, ls=":", alpha=0.8)
            fl = c[c["layer"].isin(flags.loc[flags["domain"] == domain, "layer"])]
            if len(fl):
                ax.plot(fl["layer"], fl["value"], ls="", marker="x", color="#d62728", ms=7, mew=1.6)
        ax.set_title(_t("effective rank: readings" if panel == "readings" else metric), loc="left", fontsize=10)
        ax.set_xlabel("decoder layer")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    handles, labels_ = axes[0].get_legend_handles_labels()
    if len(flags):
        handles.append(Line2D([], [], ls="", marker="x", color="#d62728", mew=1.6))
        labels_.append("collapsed range" if flag_metric == "collapse_range_flag" else "collapse flagged")
    if multi:
        handles.append(Line2D([], [], color="#dddddd", lw=6))
        labels_.append("collapsed in >= 2 domains")
    for r in readings:
        handles.append(Line2D([], [], color="#555555", ls=styles[r]))
        labels_.append(_t(r.split("@", 1)[1]))
    if scores["metric"].str.endswith("@random_init").any():
        handles.append(Line2D([], [], color="#555555", ls=":"))
        labels_.append("random-init model (dotted)")
    fig.legend(handles, labels_, loc="outside right upper", fontsize=8, frameon=False)
    fig.suptitle("Representation collapse per layer", x=0.01, ha="left", fontsize=11)
    return fig

