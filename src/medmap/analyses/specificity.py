"""Specificity of the causal techniques and the lens: a domain's effect relative to general knowledge.

Removing layer 0 breaks every answer, medical or not; a layer that matters for *medical* knowledge is
one whose effect on a medical domain exceeds its effect on general knowledge. The control is the
built-in reference set (domain ``reference``: capitals, units, objects, arithmetic, animals, ...), run
through the same technique with the same options. For each medical domain, technique and metric ``M``
the rows ``M@specific`` hold, per decoder layer,

    M@specific(l) = mean over the domain's units of x(l)  -  mean over the reference's units of x(l)

with a 95% percentile-bootstrap CI that resamples the units of both sets independently (``n_boot``
resamples, seeded; one resample of each set serves every layer). A *unit* is an item, except for
saliency, whose unit is a group of ``saliency_group`` items (one backward pass), used the same way in
both sets. ``x`` is fixed per technique and metric (:data:`DEFINITIONS`):

- lesion ``logprob_drop``: the item's drop of the answer's log-probability divided by the answer's number
  of tokens (nats per answer token): the drop is summed over the answer's tokens, and a set with longer
  answers (drug classes) would otherwise show larger drops than one of one-token answers (capitals) at
  every layer.
- lesion ``kl``, patching ``recovery``: the per-item value itself (the next-token KL from the intact
  model; the recovery, normalised by the pair's clean-corrupted gap).
- lesion ``accuracy``: the change of the item's greedy accuracy when the layer is removed (lesioned
  minus intact), so that a domain the intact model answers better is not "specific" for that reason.
- saliency (attention, MLP, both): the group's share of its gradient at the layer (its per-layer value
  divided by its sum over layers). Raw gradient magnitudes scale with the loss, i.e. with how unlikely
  the answers are, at every layer alike; the share compares *where* the gradient goes.
- lens ``lens_logprob``: the share of the item's rise (log-probability at the last layer minus at the
  *anchor layer*) that the log-probability has reached at the layer, (x(l) - x(a)) / (x(L-1) - x(a));
  positive = readable earlier than general knowledge, each answer measured against its own start and
  end. Items whose rise is below LENS_MIN_RISE (1 nat) are left out (no rise to share), and layers
  before the anchor get no value. The anchor a is the first layer at which the lens predicts the
  reference set's answers at least as well as a uniform guess over the vocabulary (median log-probability
  >= -log V): before it the lens is not yet a readout (gemma3-270m: -70 to -130 nats at layer 0, far
  below -log V = -12.5), and a share anchored there said how low that layer was. The anchor is the same
  for every domain of a run and is written to ``specificity.json`` (``notes``). Two earlier definitions
  failed planted cases: x(l) - x(L-1) made every domain with harder answers "readable earlier" at the
  first layers (x(a) is about the same for every answer, so x(a) - x(L-1) grows with the difficulty;
  smollm2-135m: dosage "specific" at L0-2 with +12 nats), and the same quantity compared between items
  matched on x(L-1) kept the answers' token prior (a frequent answer token, " 500", is likely under the
  lens of every layer: dosage +14 to +25 nats at every layer of smollm2-135m); the share anchored at
  layer 0 hung on layer 0.

The reference set is run once per run (and cached like any domain) and reused for every domain; its
own rows appear in ``scores.csv`` under domain ``reference`` and it is not a lane of the map."""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

REFERENCE_DOMAIN = "reference"
"""The built-in general-knowledge set every medical domain's causal curves are compared with."""
SUFFIX = "@specific"


def _itself(units: dict, metric: str, reference: dict) -> np.ndarray:
    return units[metric]


def _share(units: dict, metric: str, reference: dict) -> np.ndarray:
    x = units[metric]
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.nansum(x, axis=1, keepdims=True)
        return np.where(total > 0, x / np.where(total > 0, total, 1.0), np.nan)


def _per_answer_token(units: dict, metric: str, reference: dict) -> np.ndarray:
    x = units[metric]
    n = units.get("answer_tokens")
    return x if n is None else x / np.maximum(n, 1.0)


def _accuracy_change(units: dict, metric: str, reference: dict) -> np.ndarray:
    return units["accuracy"] - units["accuracy_intact"]


LENS_MIN_RISE = 1.0
"""Nats: an item whose lens log-probability rises less than this from the anchor layer to the last layer
has no rise to share out and is left out of the lens's specific curve."""
UNIFORM = "uniform_logprob"
"""Units key of the log-probability of a uniform guess over the vocabulary, -log V ([items, 1])."""


def lens_anchor(reference: dict, metric: str = "lens_logprob") -> int | None:
    """The lens's anchor layer: the first at which the reference set's median log-probability is at least
    that of a uniform guess (units ``uniform_logprob``; without it, layer 0); None when there is none."""
    x = reference[metric]
    if not len(x):
        return None
    floor = reference.get(UNIFORM)
    if floor is None:
        return 0
    ok = np.flatnonzero(np.nanmedian(x, axis=0) >= float(np.nanmedian(floor)))
    return int(ok[0]) if len(ok) else None


def _rise_reached(units: dict, metric: str, reference: dict) -> np.ndarray:
    x = units[metric]
    a = lens_anchor(reference, metric)
    if a is None:
        return np.full(x.shape, np.nan)
    start = x[:, a:a + 1]
    rise = x[:, -1:] - start
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(rise >= LENS_MIN_RISE, (x - start) / np.where(rise > 0, rise, 1.0), np.nan)
    share[:, :a] = np.nan
    return share


DEFINITIONS: dict[tuple[str, str], tuple[Callable[[dict, str, dict], np.ndarray], str]] = {
    # transform(units, metric, reference units) -> [units, layers]
    ("lesion", "logprob_drop"): (_per_answer_token, "per item: drop of the answer's log-probability when the "
                                                    "layer is removed, divided by the answer's token count; "
                                                    "domain mean minus reference mean"),
    ("lesion", "kl"): (_itself, "per item: KL of the next-token distribution from the intact model's; domain "
                                "mean minus reference mean"),
    ("lesion", "accuracy"): (_accuracy_change, "per item: greedy accuracy with the layer removed minus intact "
                                               "(a change, <= 0 when the lesion hurts); domain mean minus "
                                               "reference mean"),
    ("patching", "recovery"): (_itself, "per used pair: recovery P; domain mean minus reference mean"),
    ("saliency", "*"): (_share, "per group: the layer's share of the group's saliency summed over layers; "
                                "domain mean minus reference mean"),
    ("lens", "lens_logprob"): (_rise_reached, "per item: share of the rise of the first-token log-probability "
                                              "under the lens (last layer minus the anchor layer, the first "
                                              "where the reference answers' median beats a uniform guess) "
                                              "reached at the layer (items rising less than "
                                              f"{LENS_MIN_RISE:g} nat left out; no value before the anchor); "
                                              "domain mean minus reference mean"),
}


def definition(technique: str, metric: str):
    """(transform, text) of ``metric``'s specificity for ``technique``, or None when it has none."""
    if technique == "saliency" and metric.rsplit(".", 1)[-1] in ("attention", "mlp", "both"):
        return DEFINITIONS[("saliency", "*")]
    return DEFINITIONS.get((technique, metric))


def definitions_text(techniques=None) -> dict[str, str]:
    """``"technique metric" -> definition`` for the report and ``specificity.json``."""
    return {f"{t} {m}": text for (t, m), (_, text) in DEFINITIONS.items() if techniques is None or t in techniques}


def difference_ci(a: np.ndarray, b: np.ndarray, n_boot: int, seed: int,
                  level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column (layer): mean of ``a`` [na, L] minus mean of ``b`` [nb, L] (NaNs ignored), with a
    percentile-bootstrap CI resampling the rows of ``a`` and of ``b`` independently. The CI is NaN with
    fewer than 2 rows on either side or ``n_boot`` < 2. Vectorised over layers and resamples (numpy).
    scipy.stats.bootstrap could do the same (two samples, ``paired=False``, a vectorised statistic over
    layers, as :func:`medmap.maps.diff.paired_ci` uses it); it draws other resamples, so moving to it
    changes every ``@specific`` CI and waits for the next RESULTS_VERSION change."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, as intended
        value = np.nanmean(a, 0) - np.nanmean(b, 0)
        nan = np.full(value.shape, np.nan)
        if len(a) < 2 or len(b) < 2 or n_boot < 2:
            return value, nan, nan.copy()
        rng = np.random.default_rng(seed)
        ia = rng.integers(0, len(a), (n_boot, len(a)))
        ib = rng.integers(0, len(b), (n_boot, len(b)))
        diffs = np.nanmean(a[ia], 1) - np.nanmean(b[ib], 1)
        alpha = (1 - level) / 2
        lo, hi = np.nanquantile(diffs, [alpha, 1 - alpha], axis=0)
    return value, lo, hi


def specific_rows(technique: str, domain_units: dict, reference_units: dict, n_boot: int, seed: int,
                  notes: dict | None = None) -> list[dict]:
    """Rows ``M@specific`` (metric, layer, value, ci_low, ci_high) for every metric of ``technique`` that
    both sets have units of and that has a definition, in the order of the metric names (the units of a
    fresh run and of one read back from its cache hold the same metrics in different orders). ``notes``
    (a dict, when given) receives what a definition chose from the data (the lens's anchor layer)."""
    rows = []
    for metric in sorted(domain_units):
        d = definition(technique, metric)
        if d is None or metric not in reference_units:
            continue
        transform, _ = d
        a = transform(domain_units, metric, reference_units)
        b = transform(reference_units, metric, reference_units)
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or not len(a) or not len(b):
            continue
        if transform is _rise_reached and notes is not None:
            notes[f"{metric} anchor_layer"] = lens_anchor(reference_units, metric)
        value, lo, hi = difference_ci(a, b, n_boot, seed)
        rows += [{"metric": metric + SUFFIX, "layer": layer, "value": float(value[layer]),
                  "ci_low": float(lo[layer]), "ci_high": float(hi[layer])} for layer in range(a.shape[1])]
    return rows


def units_to_json(units: dict) -> dict:
    """Per-unit arrays as nested lists (NaN becomes null when written)."""
    return {k: np.asarray(v, dtype=float).tolist() for k, v in units.items()}


def units_from_json(d: dict | None) -> dict:
    """Nested lists (null = NaN) back to [units, layers] float arrays."""
    out = {}
    for k, v in (d or {}).items():
        arr = np.array(v, dtype=float) if len(v) else np.zeros((0, 0))
        out[k] = arr.reshape(len(v), -1) if arr.ndim != 2 else arr
    return out
