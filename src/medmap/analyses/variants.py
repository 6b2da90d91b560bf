"""The extra analyses behind a robustness estimate: the same techniques under other seeds, and on the
items of each prompt template (phrasing) alone.

* Seeds: seed ``s`` of a run with ``--seeds N`` adds the variants ``s+1 … s+N-1``: every seed of the
  options (geometry, causal, judge) is offset by the same amount; the items are the same.
* Templates: one variant per value of the items' ``template`` field, with the items of that template
  only and the run's own seed.

Every (domain, technique) goes through the runner's cache (the options carry the seed, the concept
hash the subset), so a rerun or a resumed run recomputes nothing. A (variant, domain, technique) that
cannot be analysed while the full set could (a template without patching pairs, a label value with a
single member among one template's items, ...) is recorded in ``skipped`` with the reason, never
dropped silently.

With a reference set (the specificity control), every variant also runs it (whole, with the variant's
seed) through the techniques that have the control and gets its own ``M@specific`` rows, so that each
variant's map is drawn from the same kind of curve as the main map."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd

from medmap.analyses.reference import specificity_frames, specificity_inputs
from medmap.analyses.runner import AnalyzeOptions, run_technique, skip_reason
from medmap.analyses.specificity import REFERENCE_DOMAIN
from medmap.progress import no_bars
from medmap.store.schema import SCORE_COLUMNS
from medmap.techniques import technique as technique_info


@dataclass
class Variant:
    group: str
    """``seed`` or ``template``."""
    name: str
    """``seed=<n>`` or the template id (``t0``, ...)."""
    scores: pd.DataFrame
    """Tidy per-layer scores of every (domain, technique) this variant could analyse."""


@dataclass
class Variants:
    variants: list[Variant] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    """``{group, variant, domain, technique, reason}``; technique ``*`` for the whole domain."""
    settings: dict = field(default_factory=dict)


def with_seed_offset(options: AnalyzeOptions, offset: int) -> AnalyzeOptions:
    """``options`` with every seed moved by ``offset``."""
    return replace(options, geometry=replace(options.geometry, seed=options.geometry.seed + offset),
                   causal=replace(options.causal, seed=options.causal.seed + offset),
                   judge=replace(options.judge, seed=options.judge.seed + offset))


def templates_of(cs) -> list[str]:
    """Distinct templates of a set's items, in order of first appearance."""
    return list(dict.fromkeys(it.template for it in cs.items if it.template is not None))


def _labelled(progress, name: str):
    return lambda desc, total: progress(f"{name}: {desc}", total)


def _run_variant(lm, pieces, techniques, options, cache, progress, group, name, skipped, reference=None) -> Variant:
    """``pieces``: (full set, set to analyse) pairs."""
    frames, units = [], {}
    if reference is not None and all(full.domain != REFERENCE_DOMAIN for full, _ in pieces):
        pieces = list(pieces) + [(reference, reference)]
    for full, cs in pieces:
        for t in techniques:
            if skip_reason(full, t) is not None:
                continue  # not in the main map either: nothing to compare
            why = skip_reason(cs, t)
            if why is not None:
                skipped.append({"group": group, "variant": name, "domain": cs.domain, "technique": t,
                                "reason": why})
                continue
            if cs is reference and not technique_info(t).specific:
                continue
            df, extra = run_technique(lm, cs, t, options, cache, _labelled(progress, name))
            frames.append(df)
            if "units" in extra:
                units[(cs.domain, t)] = specificity_inputs(lm, cs, t, extra, options)
    if reference is not None:
        frames += specificity_frames(lm, units, options)[0]
    scores = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SCORE_COLUMNS)
    return Variant(group, name, scores)


def run_variants(lm, sets, techniques, options: AnalyzeOptions, cache, *, seed: int, seeds: int = 1,
                 paraphrases: bool = False, progress=None, reference=None) -> Variants:
    """Analyse the seed variants ``seed+1 … seed+seeds-1`` and, with ``paraphrases``, one variant per
    template. The main analysis (``seed``, all items) is not repeated here. ``reference``: the reference
    set of the specificity control (``runner.reference_for``), or None."""
    progress = progress or no_bars
    out = Variants(settings={"seeds": [seed + k for k in range(max(1, seeds))], "paraphrases": bool(paraphrases)})
    for k in range(1, seeds):
        name = f"seed={seed + k}"
        out.variants.append(_run_variant(lm, [(cs, cs) for cs in sets], techniques, with_seed_offset(options, k),
                                         cache, progress, "seed", name, out.skipped, reference))
    if not paraphrases:
        return out
    per_template: dict[str, list] = {}
    out.settings["templates"] = {}
    for cs in sets:
        names = templates_of(cs)
        out.settings["templates"][cs.domain] = names
        untemplated = sum(it.template is None for it in cs.items)
        if len(names) < 2:
            reason = (f"only one template ({names[0]!r}): no spread across phrasings to measure" if names else
                      "no item has a 'template' field: no phrasings to compare")
            out.skipped.append({"group": "template", "variant": "*", "domain": cs.domain, "technique": "*",
                                "reason": reason})
            continue
        if untemplated:
            out.skipped.append({"group": "template", "variant": "*", "domain": cs.domain, "technique": "*",
                                "reason": f"{untemplated} item(s) without a 'template' field are in no "
                                          "template's map"})
        for name in names:
            per_template.setdefault(name, []).append((cs, cs.subset(lambda it, n=name: it.template == n)))
    for name, pieces in per_template.items():
        out.variants.append(_run_variant(lm, pieces, techniques, options, cache, progress, "template", name,
                                         out.skipped, reference))
    return out
