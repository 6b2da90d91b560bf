"""Verdict rules of the findings: small pure functions over numbers, with every threshold a named
constant of this module. Fixed in advance, never tuned per model; ``tests/analyses/test_findings.py`` runs each
rule over a table of inputs, boundaries included.

Each finding has a verdict before controls (``verdict_raw``: the rule on the measured curve alone) and
after them (``verdict``). Verdicts: "reproduced", "not reproduced", "inconclusive".

Rules before controls:
- age_boundary_17_18: "reproduced" when 17->18 is the strongest age boundary in at least
  BOUNDARY_LAYER_FRACTION (a quarter) of the layers, "inconclusive" when in at least one, else "not
  reproduced".
- age_nonlinear: the linear R^2 of age (30-d UMAP) at the best layer versus the worst layer at
  INTERMEDIATE_DEPTH (25-75% depth); "reproduced" when the intermediate minimum's CI lies wholly below the
  best layer's CI, "inconclusive" when the CIs overlap but the minimum is lower by more than
  NONLINEAR_MIN_DROP (0.1), else "not reproduced".
- progression_circular (per disease): a layer is circular when circularity > CIRCULARITY_THRESHOLD (0.25:
  the end stage is less than 75% as far from stage 0 as the farthest stage); "reproduced" when at least
  CIRCULAR_LAYER_FRACTION (a quarter) of the layers are circular, "inconclusive" when at least one is,
  else "not reproduced" (monotone).
- drugs_specialty_over_mechanism: the silhouette gap (specialty - mechanism) at the layer where the
  specialty silhouette is highest; "reproduced" when its CI lies above 0, "not reproduced" when below 0,
  else "inconclusive".
- activation_collapse: per domain, the collapsed ranges of the effective-rank curve (runs of at least
  COLLAPSE_MIN_RUN (2) layers below COLLAPSE_RATIO (0.5) times the median rank of the curve's top quarter
  of layers, ``medmap.analyses.collapse.collapse_ranges``; fixed here, whatever the run's
  ``collapse_ratio``); a layer is collapsed when it lies in a range in at least COLLAPSE_MIN_DOMAINS (2)
  domains at once. "reproduced" when a collapsed layer lies at INTERMEDIATE_DEPTH (25-75% depth) and the
  last layer is not collapsed (the rank recovers); "inconclusive" when layers collapse only outside that
  depth, in single domains, or without recovery; else "not reproduced".

Controls, each evaluated at the finding's layer (score rows ``M@<control>``, see CONVENTIONS):
- permutation null (rows M@p, M@null95): beaten when the one-sided permutation p-value is below the
  finding's P_MAX (17->18 boundary: BOUNDARY_P_MAX = 0.01; non-linear age: the intermediate minimum's R^2
  above its null, NONLINEAR_P_MAX = 0.05, i.e. age is still encoded there, so the dip is a change of
  shape and not a loss of the signal; circularity against its order-shuffled null: CIRCULAR_P_MAX =
  0.05; drugs gap against the gap of the two labelings' nulls, which keeps their class sizes: GAP_P_MAX =
  0.05). Without a p-value, a P_MAX of 0.05 or more may be judged from M@null95 (value > null95).
  A finding that picks its layer as a curve's best (17->18 boundary: the strongest layer; circularity:
  the peak layer; drugs gap: the best specialty layer) is judged by the family-wise p-value over the
  layers (M@p_layers: the observed value against each permutation's best layer), so that choosing the
  layer after looking is paid for; without those rows (runs before them) the control did not run.
- lexical baseline (rows M@lexical): beaten when the finding's CI lower bound (its value, without a CI)
  lies above the same metric on the lexical baseline representation (17->18 boundary; drugs gap).
- massive-activation readings (rows effective_rank@standardized, effective_rank@notop<k>): the
  intermediate collapsed layers are recomputed, by the same rule, on each reading (every coordinate
  scaled to unit root mean square; the k largest coordinates removed); beaten when at least one
  intermediate collapsed layer stays collapsed under every reading (the collapse is the representation's,
  not a few huge coordinates'). Value: the intermediate collapsed layers that do not survive. Not run
  (null) when no intermediate layer collapsed.
- random-init model (rows effective_rank@random_init, same rule): beaten when at least one intermediate
  collapsed layer that survives the readings is not collapsed in the re-initialised model. Value: those
  layers the re-initialised model collapses too (architecture, not training). Not run (null) when no
  layer survived the readings (the readings control then already decides).
A control object: {name, value, margin = observed - value, beaten (true, false, or null when the control
did not run), rule}. After controls: a raw "not reproduced" stays; a control that ran and was not beaten
makes "not reproduced" (the control explains the effect); a control that did not run caps the verdict at
"inconclusive"; otherwise the raw verdict stands.
"""

from __future__ import annotations

import math

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)

BOUNDARY_LAYER_FRACTION = 0.25
BOUNDARY_P_MAX = 0.01
INTERMEDIATE_DEPTH = (0.25, 0.75)
"""Depth (layer / n_layers) of the "intermediate layers" of the non-linear age and collapse findings."""
NONLINEAR_MIN_DROP = 0.1
NONLINEAR_P_MAX = 0.05
CIRCULARITY_THRESHOLD = 0.25
CIRCULAR_LAYER_FRACTION = 0.25
CIRCULAR_P_MAX = 0.05
GAP_P_MAX = 0.05
MONOTONE_SPEARMAN = 0.8
"""Detail only: layers where the Spearman correlation of stage with distance exceeds this are listed as
monotone."""
COLLAPSE_MIN_DOMAINS = 2
COLLAPSE_RATIO = 0.5
COLLAPSE_MIN_RUN = 2
NULL95_P = 0.05
"""M@null95 is the null's 95th percentile: ``value > null95`` is the test at p < 0.05 and can stand in
for a p-value only at a P_MAX of 0.05 or more."""

PERMUTATION_NULL, LEXICAL_BASELINE, RANDOM_INIT = "permutation null", "lexical baseline", "random-init model"
READINGS = "massive-activation readings"


def finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _num(x):
    return float(x) if finite(x) else None


def count_verdict(n_hits: int, n_layers: int, fraction: float) -> str:
    """Reproduced with hits in at least ``fraction`` of the layers (and at least one), inconclusive with
    at least one hit, else not reproduced."""
    if n_hits >= max(1.0, fraction * n_layers):
        return REPRODUCED
    return INCONCLUSIVE if n_hits >= 1 else NOT_REPRODUCED


def boundary_verdict(n_strongest: int, n_layers: int) -> str:
    """17->18 the strongest age boundary in ``n_strongest`` of ``n_layers`` layers."""
    return count_verdict(n_strongest, n_layers, BOUNDARY_LAYER_FRACTION)


def circular_verdict(n_circular: int, n_layers: int) -> str:
    """``n_circular`` of ``n_layers`` layers have circularity above CIRCULARITY_THRESHOLD."""
    return count_verdict(n_circular, n_layers, CIRCULAR_LAYER_FRACTION)


def is_circular(circularity) -> bool:
    return finite(circularity) and float(circularity) > CIRCULARITY_THRESHOLD


def nonlinear_verdict(best: float, best_ci_low, worst: float, worst_ci_high) -> str:
    """Best R^2 (with its CI lower bound) against the intermediate minimum (with its CI upper bound)."""
    if finite(worst_ci_high) and finite(best_ci_low) and worst_ci_high < best_ci_low:
        return REPRODUCED
    if finite(best) and finite(worst) and best - worst > NONLINEAR_MIN_DROP:
        return INCONCLUSIVE
    return NOT_REPRODUCED


def gap_verdict(ci_low, ci_high) -> str:
    """A difference with its CI: above 0, below 0, or neither."""
    if finite(ci_low) and ci_low > 0:
        return REPRODUCED
    if finite(ci_high) and ci_high < 0:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def is_intermediate(layer, n_layers: int) -> bool:
    lo, hi = INTERMEDIATE_DEPTH
    return lo * n_layers <= float(layer) <= hi * n_layers


def collapse_verdict(n_intermediate: int, n_collapsed: int, recovered: bool, n_single_layers: int) -> str:
    """``n_collapsed`` layers collapsed in COLLAPSE_MIN_DOMAINS domains or more, ``n_intermediate`` of
    them at INTERMEDIATE_DEPTH (``recovered``: the last layer is not collapsed); ``n_single_layers`` layers
    in a collapsed range of one domain only."""
    if n_intermediate and recovered:
        return REPRODUCED
    return INCONCLUSIVE if n_collapsed or n_single_layers else NOT_REPRODUCED


def _control(name: str, value, observed, beaten, rule: str, **extra) -> dict:
    margin = float(observed) - float(value) if finite(observed) and finite(value) else None
    return {"name": name, "value": _num(value), "margin": margin, "beaten": beaten, "rule": rule, **extra}


def null_control(observed, null95, p, p_max: float, over_layers: bool = False) -> dict:
    """Permutation null: beaten when ``p`` < ``p_max``; without a p-value, when ``observed`` > ``null95``
    provided ``p_max`` >= NULL95_P; not run (beaten None) otherwise. ``over_layers``: ``p`` is the
    family-wise p-value over the layers (``M@p_layers``), for a finding that picked its best layer."""
    if finite(p):
        beaten = bool(float(p) < p_max)
    elif finite(null95) and finite(observed) and p_max >= NULL95_P and not over_layers:
        beaten = bool(float(observed) > float(null95))
    else:
        beaten = None
    rule = f"p < {p_max:g}" + (" against the best layer of each permutation" if over_layers else "")
    return _control(PERMUTATION_NULL, null95, observed, beaten, rule, p=_num(p), over_layers=over_layers)


def lexical_control(observed, observed_ci_low, lexical) -> dict:
    """Lexical baseline: beaten when the CI lower bound (the value, without a CI) exceeds ``lexical``."""
    if not finite(lexical):
        beaten = None
    else:
        x = observed_ci_low if finite(observed_ci_low) else observed
        beaten = bool(finite(x) and float(x) > float(lexical))
    return _control(LEXICAL_BASELINE, lexical, observed, beaten, "CI lower bound above the lexical baseline")


def readings_control(n_collapsed, n_not_surviving) -> dict:
    """Massive-activation readings: of ``n_collapsed`` intermediate collapsed layers, ``n_not_surviving``
    are not collapsed under some reading; beaten when at least one survives (None: no reading ran, or no
    intermediate layer collapsed, so there is nothing to test)."""
    testable = finite(n_not_surviving) and finite(n_collapsed) and float(n_collapsed) > 0
    beaten = bool(float(n_collapsed) - float(n_not_surviving) > 0) if testable else None
    return _control(READINGS, n_not_surviving, n_collapsed, beaten,
                    "a collapsed intermediate layer stays collapsed with each coordinate standardized and with "
                    "the largest coordinates removed")


def random_init_control(n_surviving, n_random) -> dict:
    """Random-init model: of ``n_surviving`` collapsed layers, the re-initialised model collapses
    ``n_random`` too; beaten when at least one is left (None: the control did not run, or no layer
    survived to be tested)."""
    testable = finite(n_random) and finite(n_surviving) and float(n_surviving) > 0
    beaten = bool(float(n_surviving) - float(n_random) > 0) if testable else None
    return _control(RANDOM_INIT, n_random, n_surviving, beaten,
                    "a collapsed layer that the random-init model does not collapse")


def controlled_verdict(raw: str, controls: list[dict]) -> str:
    """The verdict after controls (see the module's rules)."""
    if raw == NOT_REPRODUCED:
        return raw
    if any(c.get("beaten") is False for c in controls):
        return NOT_REPRODUCED
    if not controls or any(c.get("beaten") is None for c in controls):
        return INCONCLUSIVE
    return raw
