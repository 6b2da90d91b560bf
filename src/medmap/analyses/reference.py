"""The general-knowledge reference set in a run: which set serves as the control of the causal
techniques, and the ``M@specific`` rows computed from the per-unit arrays of each domain and of the
reference (definitions in :mod:`medmap.analyses.specificity`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medmap.analyses.specificity import REFERENCE_DOMAIN, UNIFORM, specific_rows, units_from_json
from medmap.analyses.stats import frame
from medmap.store import as_written
from medmap.techniques import technique as technique_info


def reference_for(sets, techniques, options, note=None):
    """The reference set of the specificity control and what happened to it (for ``specificity.json``):
    a set of domain ``reference`` among ``sets``, else the built-in one. None when no technique has a
    specificity control, when ``analyze.reference`` is off, or when the built-in set is not shipped (said
    through ``note``: the causal lanes then use raw curves)."""
    specific = [t for t in techniques if (info := technique_info(t)) is not None and info.specific]
    if not specific:
        return None, {"status": "not needed", "note": "no technique with a specificity control was run"}
    if not options.reference:
        return None, {"status": "off", "note": "analyze.reference is false: the causal lanes use raw curves"}
    given = [cs for cs in sets if cs.domain == REFERENCE_DOMAIN]
    if given:
        ref = given[0]
    else:
        from medmap.concepts import load_builtin
        from medmap.errors import ConceptError

        try:
            ref = load_builtin(REFERENCE_DOMAIN)
        except ConceptError as e:
            msg = f"reference set unavailable ({e}): the causal lanes of the map use raw curves"
            if note is not None:
                note(msg)
            return None, {"status": "unavailable", "note": msg}
    return ref, {"status": "ran", "origin": ref.origin, "sha256": ref.hash, "n_items": len(ref),
                 "n_answered": len(ref.answered), "n_pairs": len(ref.pairs), "techniques": specific}


def specificity_inputs(lm, cs, technique: str, extra: dict, options) -> dict:
    """The per-unit arrays of a technique's result (``extra["units"]``, as JSON) plus what the
    specificity definitions need beside them: for lesioning, the answers' token counts
    (``answer_tokens``, [items, 1]; tokenising the sampled answers again is cheap and keeps cached entries
    valid); for the lens, the log-probability of a uniform guess over the vocabulary
    (``uniform_logprob``, -log V, [items, 1])."""
    units = units_from_json(extra["units"])
    if technique == "lesion":
        from medmap.analyses.causal import answer_lengths

        units = dict(units, answer_tokens=answer_lengths(lm, cs, options.causal))
    if technique == "lens" and "lens_logprob" in units:
        vocab = lm.arch.unembed.weight.shape[0]
        units = dict(units, **{UNIFORM: np.full((len(units["lens_logprob"]), 1), -np.log(vocab))})
    return units


def specificity_frames(lm, units: dict, options) -> tuple[list[pd.DataFrame], dict]:
    """``M@specific`` rows of every (domain, technique) in ``units`` ((domain, technique) -> per-unit
    arrays) whose technique also has units for the reference set; and what ``specificity.json`` says of
    them: ``missing`` (the others, and why not) and ``notes`` (what a definition chose from the data,
    e.g. the lens's anchor layer)."""
    frames, missing, notes = [], [], []
    for (domain, t), u in units.items():
        if domain == REFERENCE_DOMAIN:
            continue
        ref = units.get((REFERENCE_DOMAIN, t))
        if ref is None:
            missing.append({"domain": domain, "technique": t,
                            "reason": f"the reference set was not run through {t} (no usable items or pairs)"})
            continue
        chosen: dict = {}
        rows = specific_rows(t, u, ref, options.causal.n_boot, options.causal.seed, notes=chosen)
        notes += [{"domain": domain, "technique": t, "what": k, "value": v} for k, v in chosen.items()]
        # as the technique results (read back from their cache files): a map of scores.csv is the same
        frames.append(as_written(frame(rows, model=lm.name, n_layers=lm.n_layers, domain=domain, technique=t)))
    return frames, {"missing": missing, "notes": notes}
