"""The logit lens as per-layer scores (technique ``lens``): where each domain's reference answers
become readable from the residual stream (see :mod:`medmap.capture.lens`).

Metrics per decoder layer, over the same seeded sample of answered items as saliency and lesioning
(``max_items``):

- ``lens_logprob``: mean log-probability of the answer's first token, with a bootstrap CI over items;
  the map's curve (interval rule ``rise``: the window where it rises fastest).
- ``lens_rank``: median rank of the answer's first token among the vocabulary (1 = the most probable
  token), with a bootstrap CI of the median (ranks are heavy-tailed: a mean would follow a few items).

Under torchrun the batches are split over the ranks and gathered in single-process order."""

from __future__ import annotations

import torch

from medmap import parallel
from medmap.analyses.causal import CausalOptions, keep_units, sample
from medmap.analyses.stats import frame, median_ci, per_unit_curves
from medmap.capture.batching import length_order, tokenize
from medmap.capture.lens import lens_sweep


def lens_scores(lm, prompts: list[str], answers: list[str], batch_size: int, on_step=None) -> dict[str, torch.Tensor]:
    """``lens_sweep`` with its batches split over the ranks: ``logprob`` and ``rank`` [items, n_layers].
    Batches hold items of about the same prompt length (as lesioning's: a batch runs at its longest
    prompt's length); the scores come back in the items' order."""
    order, back = length_order([len(tokenize(lm.tokenizer, p)) for p in prompts])
    prompts, answers = [prompts[i] for i in order], [answers[i] for i in order]
    spans = [(s, min(s + batch_size, len(prompts))) for s in range(0, len(prompts), batch_size)]

    def one(u):
        s, e = u
        return lens_sweep(lm, prompts[s:e], answers[s:e], batch_size=e - s)

    parts = parallel.map_units(one, spans, size=lambda u: u[1] - u[0], on_step=on_step)
    if not parts:
        return lens_sweep(lm, [], [], batch_size=batch_size)
    back = torch.from_numpy(back)
    return {k: torch.cat([p[k] for p in parts])[back] for k in parts[0]}


def lens(lm, cs, o: CausalOptions, on_step=None, units: dict | None = None):
    """Per-layer ``lens_logprob`` and ``lens_rank``; ``units`` (a dict, when given) receives the
    [items, layers] log-probabilities (the specificity control's input)."""
    items = sample(cs.answered, o.max_items, o.seed)
    r = lens_scores(lm, [it.prompt for it in items], [it.answer for it in items], o.batch_size, on_step)
    lp = r["logprob"].numpy().astype(float)
    rows = per_unit_curves(lp, "lens_logprob", o.n_boot, o.seed)
    rows += per_unit_curves(r["rank"].numpy().astype(float), "lens_rank", o.n_boot, o.seed, stat=median_ci)
    keep_units(units, "lens_logprob", lp)
    return frame(rows, model=lm.name, n_layers=lm.n_layers, domain=cs.domain, technique="lens")

