"""The techniques medmap runs, as one table: the order they are shown in, the rule that turns their
per-layer curve into map intervals, the metric the map draws, and what a concept set must carry for
them. Plain data (no torch): read by the runner, the map and the report alike."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Technique:
    name: str
    interval_rule: str
    """``rise``: the window where the smoothed curve rises fastest; ``runs``: runs of layers at or above a
    percentile (see :mod:`medmap.maps.rules`)."""
    primary_metric: str | None
    """The metric the map draws (None: it depends on the domain, see ``DomainSpec.primary_metric``)."""
    needs: str | None
    """``answers`` (items with a reference answer), ``pairs`` (items with a patching pair) or None."""
    causal: bool
    """Measured by intervening on the model (weights' gradients, removed layers, patched activations)."""
    specific: bool = False
    """Its curves get a specificity control against the general-knowledge reference set (rows
    ``M@specific``, :mod:`medmap.analyses.specificity`); the map draws the specific curve by default
    (``map_rules.causal_curve``)."""


TABLE: dict[str, Technique] = {t.name: t for t in (
    Technique("geometry", "rise", None, None, False),
    Technique("saliency", "runs", "mean_abs.both", "answers", True, specific=True),
    Technique("lesion", "runs", "logprob_drop", "answers", True, specific=True),
    Technique("patching", "runs", "recovery", "pairs", True, specific=True),
    Technique("lens", "rise", "lens_logprob", "answers", False, specific=True),
)}
TECHNIQUES: tuple[str, ...] = tuple(TABLE)
"""Every technique, in canonical order."""


PROBE_SCORES = ("probe_acc", "probe_r2")
"""The name prefixes of the geometry's linear-probe scores (rows ``<prefix>.<label>``): accuracy for a
categorical label, R^2 for a continuous one or a stage within its disease
(:func:`medmap.analyses.probes.probe_metric`)."""


def technique(name: str) -> Technique | None:
    return TABLE.get(name)
