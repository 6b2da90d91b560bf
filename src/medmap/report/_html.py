"""HTML building blocks shared by the run report and the comparison report.

Rules every page follows: one self-contained file that opens offline (CSS, JavaScript, plotly.js
and figures inlined; a Content-Security-Policy that forbids any network fetch), every string from
a run HTML-escaped, and data for scripts embedded as JSON in which ``<``, ``>`` and ``&`` are
written as ``\\u003c`` etc., so that no string can close the ``<script>`` element."""

from __future__ import annotations

import base64
import html
import json
import math
from importlib import resources
from typing import Any, Iterable

from medmap.report.data import ReportError, fmt, num

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
       "font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'")

# Runs first: records script errors, unhandled rejections, console errors and CSP violations in
# <body data-errors>, so a headless browser (and a curious reader) can see them.
ERROR_TRAP = """(function () {
  var errs = [];
  function rec(m) { errs.push(String(m)); document.body.setAttribute("data-errors", errs.join(" | ")); }
  window.__medmapError = rec;
  window.addEventListener("error", function (e) { rec((e.message || "error") + " @" + (e.lineno || "?")); });
  window.addEventListener("unhandledrejection", function (e) { rec("unhandled rejection: " + ((e.reason && e.reason.message) || e.reason)); });
  document.addEventListener("securitypolicyviolation", function (e) { rec("blocked " + e.violatedDirective + ": " + e.blockedURI); });
  var ce = console.error;
  console.error = function () { rec(Array.prototype.join.call(arguments, " ")); return ce.apply(console, arguments); };
})();"""


def esc(value: Any) -> str:
    """HTML-escape any value (quotes included), for text and attribute context."""
    return html.escape("" if value is None else str(value), quote=True)


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):  # numpy scalars
        return _clean(obj.item())
    return obj


def script_json(obj: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: NaN becomes null, and ``<``, ``>``,
    ``&``, U+2028/9 are unicode escapes (so ``</script>`` or ``<!--`` in a prompt stays data)."""
    text = json.dumps(_clean(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for ch, rep in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, rep)
    return text


def pretty_json(obj: Any) -> str:
    """Indented JSON, HTML-escaped, for a ``<pre>`` block."""
    return esc(json.dumps(_clean(obj), indent=2, ensure_ascii=False, sort_keys=True, default=str))


def asset(name: str) -> str:
    return resources.files("medmap.report").joinpath("assets", name).read_text(encoding="utf-8")


def plotly_js() -> str:
    """plotly.js, inlined (no CDN)."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as e:
        raise ReportError("the HTML report needs plotly: pip install 'medmap[plot]'") from e
    js = get_plotlyjs()
    return js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise ReportError("figures need matplotlib: pip install 'medmap[plot]'") from e


def img(png: bytes, alt: str, caption: str | None = None) -> str:
    """A PNG figure as a data URI inside ``<figure>``."""
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{src}" alt="{esc(alt)}" loading="lazy">{cap}</figure>'


def verdict_badge(verdict: Any) -> str:
    v = "" if verdict is None else str(verdict)
    cls = v.replace(" ", "-") if v in ("reproduced", "not reproduced", "inconclusive") else "other"
    return f'<span class="verdict {cls}">{esc(v or "–")}</span>'


def value_ci(value: Any, lo: Any, hi: Any) -> str:
    """``0.97 [0.95, 0.99]``; the CI is left out when both ends are missing."""
    text = fmt(value)
    if math.isfinite(num(lo)) or math.isfinite(num(hi)):
        text += f" [{fmt(lo)}, {fmt(hi)}]"
    return esc(text)


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], row_classes: Iterable[str] | None = None) -> str:
    """A table; header strings are escaped, cells are taken as already-built HTML."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    classes = list(row_classes) if row_classes is not None else None
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{esc(classes[i])}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in r) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(title: str, header: str, nav: list[tuple[str, str]], body: str, data: Any = None,
         interactive: bool = False) -> str:
    """The whole document. ``title`` is plain text (escaped here); ``header`` and ``body`` are HTML.
    With ``interactive``, plotly.js and the report script are inlined after the data."""
    links = "".join(f'<a href="#{esc(anchor)}">{esc(label)}</a>' for anchor, label in nav)
    scripts = ""
    if data is not None:
        scripts += f'<script type="application/json" id="medmap-data">{script_json(data)}</script>\n'
    if interactive:
        scripts += f'<script id="plotly-js">{plotly_js()}</script>\n<script>{asset("report.js")}</script>\n'
    else:
        scripts += '<script>document.body.dataset.ready = "1";</script>\n'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="medmap">
<title>{esc(title)}</title>
<style>
{asset("report.css")}
</style>
</head>
<body data-errors="">
<script>{ERROR_TRAP}</script>
<header>{header}</header>
<nav>{links}</nav>
<main>
{body}
</main>
<footer>Generated by medmap. Self-contained: opens offline, loads nothing from the network.</footer>
{scripts}</body>
</html>
"""
