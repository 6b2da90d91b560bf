"""The run report: ``RUN/report.html``, one self-contained file that opens offline.

Sections (each left out when its files are missing): the knowledge map and its intervals, the
findings, per-domain curves, the token cues (metrics with and without a cue in the wording),
interactive UMAP views with a layer slider, collapse curves, the spread of the intervals across seeds
and prompt templates, and the provenance and resolved configuration."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medmap.report import _html as H
from medmap.report.data import (ReportError, RunData, fmt, is_numeric_label, label_names, load_run, ordered,
                                ordered_techniques, umap_views)
from medmap.report.figures import join_paths, unmapped
from medmap.report.render import render_figures
from medmap.store import write_text
from medmap.store.schema import CUE_ROW


def _intervals_table(run: RunData) -> str:
    """Domain rows × technique columns; each cell lists the intervals as layers and depth."""
    n = run.n_layers or 0
    cells: dict[tuple[str, str], list[str]] = {}
    for key, status in unmapped(run.lanes).items():
        cells[key] = [f"<i>{H.esc(status)}</i>"]
    for iv in run.intervals:
        s, e = int(iv["start"]), int(iv["end"])
        depth = f" <small>({s / n:.2f}–{(e + 1) / n:.2f})</small>" if n else ""
        cells.setdefault((str(iv.get("domain")), str(iv.get("technique"))), []).append(f"L{s}–{e}{depth}")
    domains = ordered(d for d, _ in cells)
    techniques = ordered_techniques(t for _, t in cells)
    metrics = {(str(iv.get("domain")), str(iv.get("technique"))): str(iv.get("metric", "")) for iv in run.intervals}
    # cells hold only numbers built above; the names are escaped
    rows = [[H.esc(d)] + [f'<td title="{H.esc(metrics.get((d, t), ""))}">{"<br>".join(cells.get((d, t), [])) or "–"}</td>'
                          for t in techniques] for d in domains]
    return H.table(["domain"] + techniques, rows) + \
        ('<p class="note">Layers (and depth = layer / n_layers); hover a cell for the curve used (<code>@specific</code>: '
         'the domain minus the reference set). <i>not specific</i>: no layer of the domain lies above general '
         'knowledge for that technique, so it has no interval; <i>not beyond controls</i>: no geometry layer of the '
         'interval beats its permutation null and its lexical baseline.</p>')


CONTROLS_NOTE = (
    "<h3>How to read the controls</h3><ul class=\"note\">"
    "<li><b>Permutation null</b> (grey band on geometry curves, up to its 95th percentile <code>M@null95</code>): "
    "what the metric reaches when the labels (or, for progression, the stage order) are shuffled. A value "
    "inside the band is not distinguishable from chance; <code>M@p</code> is the one-sided p-value.</li>"
    "<li><b>Lexical baseline</b> (dashed line, <code>M@lexical</code>): the same metric on a representation "
    "of the prompt's surface form only. A curve that does not rise above it may be reading the words, not "
    "the concept. Rings mark layers where the metric beats both null and lexical (<code>M@excess</code> &gt; 0).</li>"
    "<li><b>Random-init model</b> (dotted, <code>M@random_init</code>): the same architecture with "
    "re-initialised weights; what it shows too is architecture, not learned knowledge.</li>"
    "<li><b>Specific curves</b> (saliency, lesion, patching, lens; <code>M@specific</code>): the domain's "
    "effect minus the general-knowledge reference set's, with a bootstrap CI over the items of both. The "
    "map draws these by default; a lane with no layer whose CI lies above 0 is <i>not specific</i>, and an "
    "interval keeps only its layers whose CI lies above 0. Geometry intervals likewise keep only the layers "
    "that beat both the null and the lexical baseline (<i>not beyond controls</i> when none does).</li>"
    "<li><b>Findings</b>: <i>before controls</i> is the rule on the measured curve alone; the verdict "
    "requires beating every control that ran, is <i>not reproduced</i> when a control explains the effect, "
    "and at most <i>inconclusive</i> when a control did not run.</li></ul>")


def _control_cell(controls) -> str:
    """One line per control: name, its value, the margin by which the finding beats it, and whether it does."""
    if isinstance(controls, dict):
        controls = [controls]
    lines = []
    for c in controls or []:
        if not isinstance(c, dict):
            continue
        beaten = c.get("beaten")
        mark = {True: "beaten", False: "not beaten"}.get(beaten, "did not run")
        cls = {True: "reproduced", False: "not-reproduced"}.get(beaten, "inconclusive")
        bits = [] if beaten is None else [f"{fmt(c.get('value'))}"]
        if c.get("p") is not None:
            bits.append(f"p {fmt(c.get('p'))}")
        if c.get("margin") is not None:
            bits.append(f"margin {float(c['margin']):+.3g}")
        lines.append(f'{H.esc(c.get("name", "?"))}: {H.esc(", ".join(bits))} '
                     f'<span class="verdict {cls}" title="{H.esc(c.get("rule", ""))}">{mark}</span>')
    return "<td>" + ("<br>".join(lines) or "–") + "</td>"


def findings_table(findings: list[dict]) -> str:
    rows = []
    for f in findings:
        title = f"<b>{H.esc(f.get('title', ''))}</b>"
        detail = f"<br><span class=\"detail\">{H.esc(f['detail'])}</span>" if f.get("detail") else ""
        rows.append([H.esc(f.get("id", "")), H.esc(f.get("domain", "")), f'<td>{title}{detail}</td>',
                     H.esc(f.get("measure", "")),
                     f'<td class="num">{H.value_ci(f.get("value"), f.get("ci_low"), f.get("ci_high"))}</td>',
                     f'<td class="num">{H.esc(fmt(f.get("layer")))}</td>', _control_cell(f.get("control")),
                     H.verdict_badge(f.get("verdict_raw")) if f.get("verdict_raw") else "–",
                     H.verdict_badge(f.get("verdict"))])
    return H.table(["id", "domain", "finding", "measure", "value [CI]", "layer", "controls", "before controls",
                    "verdict"], rows)


def cue_table(scores) -> str:
    """Per domain, cue and metric: the model's highest value over layers (with its layer) and the tokens'
    alone (lexical baseline), on the items with and without the cue; empty when the run has no cue rows."""
    geo = scores[scores["technique"] == "geometry"]
    found: dict = {}
    for (domain, metric), g in geo.groupby(["domain", "metric"], sort=False):
        m = CUE_ROW.match(str(metric))
        if m is None or not g["value"].notna().any():
            continue
        cell = found.setdefault((domain, m["metric"], m["cue"]), {})
        best = g.loc[g["value"].idxmax()]
        cell[(m["side"], bool(m["lexical"]))] = (float(best["value"]), int(best["layer"]))
    rows = []
    order = ordered(k[0] for k in found)
    for (domain, metric, cue), cell in sorted(found.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1:])):
        out = [H.esc(domain), H.esc(metric), H.esc(cue)]
        for side in ("true", "false"):
            model, tokens = cell.get((side, False)), cell.get((side, True))
            out.append(f'<td class="num">{H.esc(fmt(model[0]) + f" (L{model[1]})" if model else "–")}</td>')
            out.append(f'<td class="num">{H.esc(fmt(tokens[0]) if tokens else "–")}</td>')
        rows.append(out)
    if not rows:
        return ""
    return H.table(["domain", "metric", "cue", "with the cue: model (layer)", "tokens alone",
                    "without: model (layer)", "tokens alone"], rows)


_GROUPS = {"seed": "seeds", "template": "prompt templates"}


def _range(lo, hi, sd=None, prefix: str = "") -> str:
    """``L3–5 (sd 0.8)``; one value when lo == hi; an en dash when nothing was measured."""
    if fmt(lo) == "–":
        return "–"
    text = f"{prefix}{fmt(lo)}" if fmt(lo) == fmt(hi) else f"{prefix}{fmt(lo)}–{prefix}{fmt(hi)}"
    return text + (f" (sd {fmt(sd, 2)})" if sd is not None and fmt(sd) != "–" else "")


def robustness_table(rows: list[dict]) -> str:
    """One row per (group, interval of the map): how often it is present and how far its ends move."""
    out = []
    for r in rows:
        n, k = r.get("n_variants"), r.get("n_present")
        if not n:
            badge = '<span class="verdict other">not measured</span>'
        elif r.get("identical"):
            badge = '<span class="verdict stable">same in all</span>'
        else:
            badge = '<span class="verdict varies">varies</span>'
        depth = (f"start {_range(r.get('start_depth_min'), r.get('start_depth_max'))}, "
                 f"end {_range(r.get('end_depth_min'), r.get('end_depth_max'))}") if k else "–"
        group = _GROUPS.get(str(r.get("group")), r.get("group"))
        out.append([H.esc(group), H.esc(r.get("domain")), H.esc(r.get("technique")),
                    f'<td class="num">{H.esc(_range(r.get("start"), r.get("end"), prefix="L"))}</td>',
                    f'<td class="num">{H.esc(f"{fmt(k)}/{fmt(n)}" if n else "0/0")}</td>',
                    f'<td class="num">{H.esc(_range(r.get("start_min"), r.get("start_max"), r.get("start_std"), "L"))}</td>',
                    f'<td class="num">{H.esc(_range(r.get("end_min"), r.get("end_max"), r.get("end_std"), "L"))}</td>',
                    f'<td class="num">{H.esc(depth)}</td>', badge])
    return H.table(["across", "domain", "technique", "interval (map)", "present", "start", "end", "depth",
                    "spread"], out)


def robustness_section(rob: dict) -> str:
    settings = rob.get("settings") if isinstance(rob.get("settings"), dict) else {}
    used = []
    if len(settings.get("seeds") or []) > 1:
        used.append("seeds " + ", ".join(str(x) for x in settings["seeds"]))
    for domain, names in (settings.get("templates") or {}).items():
        used.append(f"{domain}: templates {', '.join(map(str, names))}")
    html = ("<h2>Robustness across seeds and phrasings</h2><p class=\"note\">Each interval of the map, matched in "
            "the map of every seed (the items are the same) and of every prompt template (that template's items "
            "alone, the run's seed): in how many it is present, and the range and standard deviation of its start "
            "and end layer and depth. Coverage per layer is in robustness.json; what the seed changes is listed under "
            "Provenance and configuration.</p>")
    if used:
        html += f"<p>{H.esc('; '.join(used))}</p>"
    html += robustness_table(list(rob.get("intervals") or []))
    skipped = [r for r in rob.get("skipped") or [] if isinstance(r, dict)]
    if skipped:
        html += "<h3>Not measured</h3>" + H.table(
            ["across", "variant", "domain", "technique", "reason"],
            [[H.esc(_GROUPS.get(str(r.get("group")), r.get("group"))), H.esc(r.get("variant")), H.esc(r.get("domain")),
              H.esc(r.get("technique")), H.esc(r.get("reason"))] for r in skipped])
    return html


def umap_payload(domain: str, emb: dict) -> dict:
    """What the page's script needs for one domain: coordinates, items, colour choices, joins."""
    views = umap_views(domain, emb)
    names = label_names(emb)
    colours = list(dict.fromkeys([v["colour"] for v in views] + names))
    items = [{"id": str(it.get("id", i)), "prompt": str(it.get("prompt", "")), "labels": it.get("labels") or {}}
             for i, it in enumerate(emb["items"])]
    first = views[0] if views else {"colour": None, "marker": None, "join": None}
    order = [float(v) if isinstance(v, (int, float)) else np.nan
             for v in ((it["labels"] or {}).get(first["colour"]) for it in items)]
    coords = [np.round(np.asarray(xy, dtype=float).reshape(len(items), 2), 4).tolist() for xy in emb["coords"]]
    return {"domain": domain, "layers": [int(v) for v in emb["layers"]], "coords": coords, "items": items,
            "colour_labels": colours,
            "numeric": {c: is_numeric_label([(it["labels"] or {}).get(c) for it in items]) for c in colours},
            "symbol": first["marker"], "paths": join_paths(items, first["join"], order) if first["join"] else []}


def _umap_block(domain: str, payload: dict) -> str:
    n = len(payload["layers"])
    start = n // 2
    options = "".join(f'<option value="{H.esc(c)}">{H.esc(c)}</option>' for c in payload["colour_labels"])
    select = f'<label>colour by <select>{options}</select></label>' if len(payload["colour_labels"]) > 1 else \
        f'<select hidden>{options}</select>'
    return (f'<div class="umap" data-domain="{H.esc(domain)}"><div class="controls">'
            f'<label>layer <input type="range" min="0" max="{n - 1}" step="1" value="{start}" '
            f'aria-label="{H.esc(domain)} layer"></label><output>layer {payload["layers"][start]}</output>'
            f'{select}</div><div class="plot"></div></div>')


def _header(run: RunData) -> str:
    prov = run.provenance if isinstance(run.provenance, dict) else {}
    bits = [f"{run.n_layers} decoder layers" if run.n_layers else None,
            f"created {prov['created']}" if prov.get("created") else None, f"run folder {run.path.name}"]
    return (f"<h1>medmap report: {H.esc(run.model)}</h1>"
            f"<p>{H.esc(' · '.join(b for b in bits if b))}</p>")


def report_html(run: RunData, figures: list[dict]) -> str:
    """The page for a loaded run and its rendered figures (``render.render_figures``)."""
    figs = {f["name"]: f for f in figures}
    sections: list[tuple[str, str, str]] = []  # (anchor, nav label, html)
    if "map" in figs:
        sections.append(("map", "Map", "<h2>Knowledge map</h2><p class=\"note\">One lane and marker per technique; "
                         "bars span each technique's interval(s); the purple strip counts the techniques whose "
                         "interval covers the layer (where they agree, the localisation is most trusted). Saliency, "
                         "lesion, patching and lens lanes are drawn from the domain's effect minus the reference "
                         "set's; a hatched lane is <i>not specific</i> (nothing above general knowledge).</p>"
                         + H.img(figs["map"]["png"], "knowledge map") + _intervals_table(run)))
    if run.findings and run.findings.get("findings"):
        sections.append(("findings", "Findings", "<h2>Findings</h2><p class=\"note\">Claims of the paper checked "
                         "on this model; value with its confidence interval, each control it was held against, and "
                         "the verdict before and after the controls.</p>"
                         + findings_table(run.findings["findings"])
                         + (H.img(figs["findings"]["png"], "findings and their controls") if "findings" in figs else "")
                         + CONTROLS_NOTE))
    curves = [n for n in figs if n.startswith("curves_")]
    if curves:
        sections.append(("curves", "Curves", "<h2>Per-layer curves</h2><p class=\"note\">Primary metric per "
                         "technique with its CI band and smoothed curve; geometry with its null band, lexical "
                         "baseline and probes; the causal techniques and the lens with their specific curve "
                         "(domain minus reference) beside the raw one; shaded: the chosen intervals. See "
                         "<a href=\"#findings\">How to read the controls</a>.</p>"
                         + "".join(f"<h3>{H.esc(n[len('curves_'):])}</h3>" + H.img(figs[n]["png"], figs[n]["caption"])
                                   for n in curves)))
    cues = cue_table(run.scores) if run.scores is not None else ""
    if cues:
        sections.append(("cues", "Token cues", "<h2>Token cues</h2><p class=\"note\">Items whose wording gives a "
                         "label away (a drug name carrying its class stem, a symptom naming its organ) against the "
                         "items without it: the highest value of each metric over layers, on the geometry's items "
                         "with and without the cue, and what the tokens alone give (lexical baseline). A label that "
                         "clusters only with the cue, and as well from the tokens, is read from the name.</p>" + cues))
    payload = {d: umap_payload(d, e) for d, e in run.embeddings.items() if e.get("items") and e.get("layers")}
    if payload:
        blocks = []
        for d, p in payload.items():
            static = [n for n in figs if n.startswith(f"umap_{d}_")]
            blocks.append(f"<h3>{H.esc(d)}</h3>" + _umap_block(d, p) + (
                "<details><summary>static small multiples</summary>"
                + "".join(H.img(figs[n]["png"], figs[n]["caption"]) for n in static) + "</details>" if static else ""))
        sections.append(("umap", "UMAP", "<h2>Activation geometry (2-d UMAP)</h2><p class=\"note\">Move the slider to "
                         "change layer; hover a point for its prompt and labels.</p>" + "".join(blocks)))
    if "patching_positions" in figs:
        sections.append(("positions", "Positions", "<h2>Activation patching per layer and position</h2><p class=\"note\">"
                         "Each cell: the recovery when only that prompt token (counted back from the last) is patched "
                         "at that layer, pairs whose clean and corrupted prompts have equal token length.</p>"
                         + H.img(figs["patching_positions"]["png"], "patching per layer and position")))
    if "collapse" in figs:
        sections.append(("collapse", "Collapse", "<h2>Representation collapse</h2><p class=\"note\">Mean pairwise "
                         "cosine and effective rank of the activations per layer (dotted: the random-init model), and the effective "
                         "rank with each coordinate standardized (dashed) and with the largest coordinates removed "
                         "(dash-dot); crosses mark each domain's collapsed ranges, grey bands the layers the "
                         "collapse finding counts (a range in two domains or more).</p>"
                         + H.img(figs["collapse"]["png"], "collapse curves")))
    if run.robustness is not None:
        sections.append(("robustness", "Robustness", robustness_section(run.robustness)))
    meta = ""
    if run.provenance is not None:
        meta += f"<h3>Provenance</h3><pre>{H.pretty_json(run.provenance)}</pre>"
    if run.config is not None:
        meta += f"<h3>Resolved configuration</h3><pre>{H.pretty_json(run.config)}</pre>"
    if run.map_json and run.map_json.get("rules"):
        meta += f"<h3>Map rules</h3><pre>{H.pretty_json(run.map_json['rules'])}</pre>"
    if run.findings and run.findings.get("rules"):
        meta += f"<h3>Verdict rules of the findings</h3><pre>{H.esc(str(run.findings['rules']))}</pre>"
    if run.findings and run.findings.get("seed_dependence"):
        meta += f"<h3>What varies with the seed</h3><p>{H.esc(str(run.findings['seed_dependence']))}</p>"
    if meta:
        sections.append(("provenance", "Provenance & config", "<h2>Provenance and configuration</h2>" + meta))
    body = "\n".join(f'<section id="{a}">{h}</section>' for a, _, h in sections)
    data = {"model": run.model, "umap": payload, "findings": (run.findings or {}).get("findings", []),
            "intervals": run.intervals}
    return H.page(f"medmap report: {run.model}", _header(run), [(a, label) for a, label, _ in sections], body,
                  data=data, interactive=bool(payload))


def build_report(run_dir: str | Path, *, save_figures: bool = True) -> Path:
    """Write ``RUN/report.html`` (self-contained) and return its path.

    With ``save_figures`` (default) the figures are also saved under ``RUN/figures/`` as PNG and
    SVG, as ``write_figures`` does. Raises ``ReportError`` when ``scores.csv`` is missing."""
    run = load_run(run_dir)
    if run.scores is None:
        raise ReportError(f"{run.path}: scores.csv is missing; it is the one file a report needs")
    H.require_matplotlib()
    figures = render_figures(run, run.path / "figures" if save_figures else None)
    return write_text(run.path / "report.html", report_html(run, figures))


__all__ = ["build_report", "report_html", "findings_table", "robustness_section", "umap_payload"]
