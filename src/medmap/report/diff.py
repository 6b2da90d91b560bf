"""Figures and files of ``medmap compare --diff A B``: per domain the difference B - A of each map lane's
metric with its CI and both runs' intervals, and the layers x layers CKA heat map of the two models'
activations (:mod:`medmap.maps.diff` computes the numbers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from medmap.errors import plot_skipped
from medmap.report.data import ordered, ordered_techniques
from medmap.report.render import figure_bytes
from medmap.report.style import new_figure, technique_style, text
from medmap.store import write_bytes, write_json, write_with

MAX_DOMAIN_ROWS = 8


def _lanes(result: dict, lanes: pd.DataFrame | None) -> list[tuple[str, str, str]]:
    """(domain, technique, metric) drawn: the map lanes (primary metrics) present in the diff."""
    diff = result["diff"]
    have = set(diff[["domain", "technique", "metric"]].itertuples(index=False, name=None))
    cand = lanes if lanes is not None and len(lanes) else result["intervals"]
    out = [(d, t, m) for d, t, m in cand[["domain", "technique", "metric"]].itertuples(index=False, name=None)
           if (d, t, m) in have]
    return list(dict.fromkeys(out))


def _bar(ax, text: str, y: float, colour: str) -> None:
    """Intervals written 'L3-5, L9-12' as a thin bar at height ``y`` (axes fraction)."""
    spans = []
    for part in text.split(", "):
        if part.startswith("L") and "-" in part:
            s, e = (int(v) for v in part[1:].split("-"))
            spans.append((s - 0.5, e - s + 1))
    if spans:
        ax.broken_barh(spans, (y, 0.05), facecolors=colour, transform=ax.get_xaxis_transform(), alpha=0.8)


def diff_figure(result: dict, lanes: pd.DataFrame | None = None):
    """Rows = domains; columns = techniques (B - A of the lane's metric, CI band, A's intervals in grey
    and B's in the technique colour along the bottom) and the CKA heat map (A's layers down, B's across)."""
    chosen = _lanes(result, lanes)
    domains = ordered([d for d, _, _ in chosen] + list(result["cka"]["domain"]))[:MAX_DOMAIN_ROWS]
    techniques = ordered_techniques([t for _, t, _ in chosen])
    has_cka = len(result["cka"]) > 0
    ncol = len(techniques) + int(has_cka)
    if not domains or ncol == 0:
        from medmap.report.data import ReportError

        raise ReportError("diff_figure: nothing to draw (no shared map lanes and no CKA)")
    fig = new_figure((2.35 * ncol + 0.6, 1.9 * len(domains) + 0.9))
    axes = fig.subplots(len(domains), ncol, squeeze=False)
    moved = result["intervals"].set_index(["domain", "technique"])
    n = int(result["n_layers"])
    image = None
    for r, d in enumerate(domains):
        for c, t in enumerate(techniques):
            ax = axes[r, c]
            lane = [m for dd, tt, m in chosen if dd == d and tt == t]
            if not lane:
                ax.axis("off")
                continue
            m = lane[0]
            df = result["diff"]
            df = df[(df.domain == d) & (df.technique == t) & (df.metric == m)].sort_values("layer")
            colour, marker = technique_style(t, techniques)
            ax.axhline(0, color="#999999", lw=0.8)
            ax.plot(df["layer"], df["diff"], color=colour, marker=marker, ms=2.5, lw=1.2)
            if df["ci_low"].notna().any():
                ax.fill_between(df["layer"], df["ci_low"], df["ci_high"], color=colour, alpha=0.25, lw=0)
            if (d, t) in moved.index:
                row = moved.loc[(d, t)]
                _bar(ax, str(row["a"]), 0.02, "#777777")
                _bar(ax, str(row["b"]), 0.08, colour)
            ax.set_xlim(-0.5, n - 0.5)
            ax.set_title(text(f"{d} · {t}\n{m}"), fontsize=7.5)
            ax.tick_params(labelsize=6.5)
            if r == len(domains) - 1:
                ax.set_xlabel("layer", fontsize=7)
        if has_cka:
            ax = axes[r, -1]
            sub = result["cka"][result["cka"].domain == d]
            if not len(sub):
                ax.text(0.5, 0.5, "no CKA", ha="center", va="center", transform=ax.transAxes, fontsize=7)
                ax.axis("off")
                continue
            mat = np.full((n, n), np.nan)
            mat[sub["layer_a"].astype(int), sub["layer_b"].astype(int)] = sub["cka"].astype(float)
            image = ax.imshow(mat, origin="lower", vmin=0, vmax=1, cmap="viridis", aspect="auto")
            ax.set_title(text(f"{d} · CKA A vs B"), fontsize=7.5)
            ax.set_ylabel("A layer", fontsize=7)
            ax.tick_params(labelsize=6.5)
            if r == len(domains) - 1:
                ax.set_xlabel("B layer", fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes[:, -1].tolist(), label="linear CKA", fraction=0.05, pad=0.02, shrink=0.8)
    fig.suptitle(text(f"B - A: {result['b']} minus {result['a']}  (band: 95% CI over paired units; bars: intervals, "
                    "grey A, colour B)"), fontsize=8.5)
    return fig


def cka_figure(result: dict):
    """The CKA heat maps alone, one panel per domain."""
    cka = result["cka"]
    domains = ordered(list(cka["domain"]))
    if not domains:
        from medmap.report.data import ReportError

        raise ReportError("cka_figure: no CKA (neither run has captured activations of a common domain)")
    n = int(result["n_layers"])
    fig = new_figure((2.6 * len(domains) + 0.8, 2.7))
    axes = fig.subplots(1, len(domains), squeeze=False)[0]
    image = None
    for ax, d in zip(axes, domains):
        sub = cka[cka.domain == d]
        mat = np.full((n, n), np.nan)
        mat[sub["layer_a"].astype(int), sub["layer_b"].astype(int)] = sub["cka"].astype(float)
        image = ax.imshow(mat, origin="lower", vmin=0, vmax=1, cmap="viridis")
        ax.set_title(text(d), fontsize=9)
        ax.set_xlabel(text(f"{result['b']} layer"), fontsize=7.5)
        ax.set_ylabel(text(f"{result['a']} layer"), fontsize=7.5)
    fig.colorbar(image, ax=list(axes), label="linear CKA", fraction=0.03)
    return fig


def write_diff(result: dict, out: str | Path, lanes: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write ``diff.csv``, ``cka.csv``, ``intervals.csv``, ``diff.json`` (labels, notes, intervals) and
    ``figures/diff.png|svg`` (and ``figures/cka.png|svg`` when there is a CKA) into ``out``."""
    out = Path(out)
    files = {}
    for name, key in (("diff.csv", "diff"), ("cka.csv", "cka"), ("intervals.csv", "intervals")):
        df = result[key]
        files[name] = write_with(out / name, lambda tmp, df=df: df.to_csv(tmp, index=False))
    files["diff.json"] = write_json(out / "diff.json", {
        "a": result["a"], "b": result["b"], "n_layers": result["n_layers"], "notes": result["notes"],
        "intervals": result["intervals"].replace({np.nan: None}).to_dict(orient="records")})
    try:
        figs = [("diff", diff_figure(result, lanes))]
        if len(result["cka"]):
            figs.append(("cka", cka_figure(result)))
    except ImportError as e:
        result["notes"].append(plot_skipped("figures", e))
        return files
    for name, fig in figs:
        for fmt in ("png", "svg"):
            files[f"figures/{name}.{fmt}"] = write_bytes(out / "figures" / f"{name}.{fmt}", figure_bytes(fig, fmt))
    return files
