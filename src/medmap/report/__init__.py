"""Figures and a self-contained HTML report from a finished run folder.

The report reads files only (``scores.csv``, ``map.csv``, ``map.json``, ``findings.json``,
``embeddings/*.json``, ``config.json``, ``provenance.json``): it never imports torch or the
modules that compute results. matplotlib and plotly (the ``plot`` extra) are imported when a
function is called, not when this package is imported.
"""

from medmap.report.compare import build_compare_report
from medmap.report.html import build_report
from medmap.report.render import write_figures

__all__ = ["build_report", "build_compare_report", "write_figures"]
