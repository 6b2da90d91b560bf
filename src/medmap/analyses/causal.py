"""Techniques 2-4 as per-layer scores: weight saliency, layer lesioning, activation patching.

Under torchrun the units of each sweep (saliency groups, lesion batches x layer blocks, patching
batches) are split over the ranks by ``medmap.parallel``; every unit is exactly a single-process batch,
so the per-item numbers, and the bootstrap over them, are those of a single process. A unit that runs
out of device memory is halved inside the unit (``medmap.capture.oom``)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from medmap import parallel
from medmap.analyses.stats import frame, mean_ci, per_unit_curves
from medmap.capture.batching import length_order
from medmap.capture.lesion import lesion_sweep
from medmap.capture.oom import batches, with_halving
from medmap.capture.patching import Pair, patch_last, patch_positions
from medmap.capture.saliency import STATS, finish, layer_gradient_sums
from medmap.capture.scoring import forced_lengths
from medmap.errors import NumericalError
from medmap.options import MAX_SEED, Float, Int, options


@options(name="causal")
class CausalOptions:
    saliency_stat: Literal[STATS] = "mean_abs"
    """mean_abs (mean |g|), l2 (RMS gradient), grad_x_weight (mean |g*w|)."""
    saliency_group: Int = Field(8, ge=1)
    """Items per group (one backward pass; parts with summed gradients when it does not fit in memory);
    the CI is a bootstrap over these groups."""
    batch_size: Int = Field(16, ge=1)
    """Items per forward pass for lesioning, and pairs per patching step."""
    max_items: Int = Field(48, ge=0)
    """At most this many answered items per domain for saliency and lesioning (seeded sample; 0 = all)."""
    max_pairs: Int = Field(40, ge=0)
    """At most this many patching pairs per domain (seeded sample; 0 = all)."""
    patch_positions: Literal["last", "all", "differ"] = "last"
    """last (fast path), all, or differ (needs equal token lengths)."""
    per_position: Int = Field(0, ge=0)
    """Also patch single positions: the last prompt token and the k-1 before it (layer x position grid,
    metrics ``recovery.pos-<offset>``; pairs of equal token length only). 0 = off."""
    min_gap: Float = 0.1
    """A pair is usable when LD_clean > 0 and LD_clean - LD_corrupted > min_gap (nats; any finite number,
    a negative one keeps pairs whose runs barely differ, as tests do)."""
    n_boot: Int = Field(200, ge=0)
    """Bootstrap resamples (below 2: no intervals)."""
    seed: Int = Field(0, ge=0, le=MAX_SEED)
    """Seed of the item and pair samples and of the bootstrap."""


def sample(items: list, k: int, seed: int) -> list:
    if k <= 0 or len(items) <= k:
        return list(items)
    idx = np.sort(np.random.default_rng(seed).choice(len(items), k, replace=False))
    return [items[i] for i in idx]


def keep_units(units: dict | None, metric: str, values: np.ndarray) -> None:
    """Record a [units, layers] array of per-item (or per-group) values under ``metric`` when the caller
    asked for them (``units`` not None): the specificity control (:mod:`medmap.analyses.specificity`)
    compares them with the reference set's."""
    if units is not None:
        units[metric] = np.asarray(values, dtype=float)


def saliency(lm, cs, o: CausalOptions, on_step=None, units: dict | None = None):
    """Per-layer saliency with CIs over groups; ``units`` (a dict, when given) receives each metric's
    [groups, layers] values."""
    items = sample(cs.answered, o.max_items, o.seed)
    groups = [items[s:s + o.saliency_group] for s in range(0, len(items), o.saliency_group)]

    def one(g):
        # a group that does not fit runs in halved parts whose gradients are summed: same group, same numbers
        r = with_halving(("saliency", lm.identity), len(g), lambda m: layer_gradient_sums(
            lm, [it.prompt for it in g], [it.answer for it in g], o.saliency_stat, micro_batch=m))
        return finish(r["sums"], r["counts"], o.saliency_stat).numpy()

    per_group = parallel.map_units(one, groups, size=len, on_step=on_step)
    arr = np.stack(per_group) if per_group else np.zeros((0, lm.n_layers, 3))
    if arr.size and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise NumericalError(f"saliency: non-finite gradient at decoder layer {bad[1]} in domain '{cs.domain}' of "
                             f"'{lm.name}' (an overflow in a low-precision dtype? try --dtype float32)")
    rows = []
    for k, part in enumerate(("attention", "mlp", "both")):
        rows += per_unit_curves(arr[:, :, k], f"{o.saliency_stat}.{part}", o.n_boot, o.seed)
        keep_units(units, f"{o.saliency_stat}.{part}", arr[:, :, k])
    return frame(rows, model=lm.name, n_layers=lm.n_layers, domain=cs.domain, technique="saliency")


def lesion(lm, cs, o: CausalOptions, on_step=None, units: dict | None = None):
    """Per-layer lesion effects with CIs over items; ``units`` (a dict, when given) receives each
    metric's [items, layers] values (``accuracy_intact``: the intact model's, repeated per layer)."""
    items = sample(cs.answered, o.max_items, o.seed)
    r = lesion_scores(lm, [it.prompt for it in items], [it.answer for it in items], o.batch_size, on_step)
    drop = (r["base_logprob"][:, None] - r["logprob"]).numpy()
    rows = per_unit_curves(drop, "logprob_drop", o.n_boot, o.seed)
    rows += per_unit_curves(r["kl"].numpy(), "kl", o.n_boot, o.seed)
    rows += per_unit_curves(r["correct"].float().numpy(), "accuracy", o.n_boot, o.seed)
    intact = r["base_correct"].float().numpy()[:, None].repeat(lm.n_layers, 1)
    rows += per_unit_curves(intact, "accuracy_intact", 0, o.seed)
    for metric, values in (("logprob_drop", drop), ("kl", r["kl"].numpy()),
                           ("accuracy", r["correct"].float().numpy()), ("accuracy_intact", intact)):
        keep_units(units, metric, values)
    return frame(rows, model=lm.name, n_layers=lm.n_layers, domain=cs.domain, technique="lesion")


def answer_lengths(lm, cs, o: CausalOptions) -> np.ndarray:
    """Tokens in the reference answer of each item ``lesion`` (and ``saliency``) use, [items, 1] in their
    order: the specificity control divides the summed log-probability drop by it (a set with longer answers
    would otherwise show larger drops at every layer)."""
    from medmap.capture.scoring import answer_tokens

    items = sample(cs.answered, o.max_items, o.seed)
    return np.array([[len(t)] for t in answer_tokens(lm.tokenizer, [it.answer for it in items])], dtype=float)


def lesion_units(n_items: int, batch_size: int, n_layers: int, world: int) -> list[tuple[int, int, list[int]]]:
    """Units of the lesion sweep: (start, end, layers) cells of the single-process batches. A lesion at
    layer l is computed from the batch's intact pass alone, so a batch's layers can be split over ranks
    without changing a number; they are split (into ``world`` blocks) only when the batches alone do
    not divide evenly over the ranks."""
    batches_ = [(s, min(s + batch_size, n_items)) for s in range(0, n_items, batch_size)]
    blocks = 1 if len(batches_) % world == 0 else min(world, n_layers)
    layer_blocks = [b.tolist() for b in np.array_split(np.arange(n_layers), blocks)]
    return [(s, e, ls) for s, e in batches_ for ls in layer_blocks]


def _cat(parts: list[dict[str, torch.Tensor]], dim: int = 0) -> dict[str, torch.Tensor]:
    return {k: torch.cat([p[k].cpu() for p in parts], dim) for k in parts[0]}


def lesion_scores(lm, prompts: list[str], answers: list[str], batch_size: int, on_step=None) -> dict[str, torch.Tensor]:
    """``lesion_sweep`` with its (batch, layers) cells split over the ranks: ``logprob``, ``correct``,
    ``kl`` [items, n_layers] and the intact ``base_logprob``, ``base_correct`` [items]."""
    # batches of items of about the same length: a batch runs at its longest item's length (age: 44
    # positions on average, 64 in a batch of the items in their own order); the scores go back to the
    # items' order, and an item's scores do not depend on its batch (the oracle tests compare them)
    order, back = length_order(forced_lengths(lm.tokenizer, prompts, answers))
    prompts, answers = [prompts[i] for i in order], [answers[i] for i in order]
    back = torch.from_numpy(back)
    units = lesion_units(len(prompts), batch_size, lm.n_layers, parallel.world_size())

    def one(u):
        s, e, layers = u
        return lesion_sweep(lm, prompts[s:e], answers[s:e], layers=layers, batch_size=e - s)

    def size(u):  # a batch counts once its last layer block is done
        return u[1] - u[0] if u[2][-1] == lm.n_layers - 1 else 0

    parts = parallel.map_units(one, units, size=size, on_step=on_step)
    by_batch: dict[int, list] = {}
    for (s, _, _), p in zip(units, parts):
        by_batch.setdefault(s, []).append(p)
    out = {k: torch.cat([torch.cat([p[k] for p in ps], 1) for ps in by_batch.values()])
           for k in ("logprob", "correct", "kl")}
    out.update({k: torch.cat([ps[0][k] for ps in by_batch.values()]) for k in ("base_logprob", "base_correct")})
    return {k: v[back] for k, v in out.items()}


def pair_scores(lm, pairs: list[Pair], o: CausalOptions, layers=None, on_step=None,
                positions=None) -> dict[str, torch.Tensor]:
    positions = o.patch_positions if positions is None else positions

    def run(chunk: list[Pair], s: int, e: int) -> dict[str, torch.Tensor]:
        if positions == "last":
            return patch_last(lm, chunk[s:e], layers)
        return patch_positions(lm, chunk[s:e], layers, positions)

    def one(chunk: list[Pair]) -> dict[str, torch.Tensor]:
        return _cat(batches(len(chunk), len(chunk), lambda s, e: run(chunk, s, e), key=("patching", lm.identity)))

    chunks = [pairs[s:s + o.batch_size] for s in range(0, len(pairs), o.batch_size)]
    return _cat(parallel.map_units(one, chunks, size=len, on_step=on_step))


def usable_pairs(ld_clean: torch.Tensor, ld_corr: torch.Tensor, min_gap: float) -> tuple[np.ndarray, list[str]]:
    """Mask of usable pairs and, for the others, why not."""
    ok = np.ones(len(ld_clean), dtype=bool)
    why = []
    for i, (c, k) in enumerate(zip(ld_clean.tolist(), ld_corr.tolist())):
        if not (np.isfinite(c) and np.isfinite(k)):
            ok[i], w = False, "non-finite scores"
        elif c <= 0:
            ok[i], w = False, "the model prefers the corrupted answer on the clean prompt"
        elif c - k <= min_gap:
            ok[i], w = False, f"clean and corrupted runs differ by less than {min_gap} nats in the expected direction"
        else:
            w = ""
        why.append(w)
    return ok, why


def patching(lm, cs, o: CausalOptions, on_step=None, units: dict | None = None):
    """Normalised recovery P = (LD_patched - LD_corrupted) / (LD_clean - LD_corrupted) per layer, not
    clipped; pairs whose runs do not differ in the expected direction are excluded and reported.
    ``units`` (a dict, when given) receives the used pairs' [pairs, layers] recovery."""
    items = sample(cs.pairs, o.max_pairs, o.seed)
    pairs = [Pair(it.prompt, it.pair.corrupted_prompt, it.pair.clean_answer, it.pair.corrupted_answer)
             for it in items]
    r = pair_scores(lm, pairs, o, on_step=on_step)
    ok, why = usable_pairs(r["ld_clean"], r["ld_corrupted"], o.min_gap)
    denom = (r["ld_clean"] - r["ld_corrupted"])[:, None]
    rec = ((r["ld_patched"] - r["ld_corrupted"][:, None]) / denom).numpy()[ok]
    rows = per_unit_curves(rec, "recovery", o.n_boot, o.seed)
    keep_units(units, "recovery", rec)
    v, lo, hi = mean_ci((r["ld_clean"] - r["ld_corrupted"]).numpy()[ok], o.n_boot, o.seed)
    rows += [{"metric": "ld_gap", "layer": l, "value": v, "ci_low": lo, "ci_high": hi} for l in range(lm.n_layers)]
    if o.per_position > 0:
        from medmap.capture.batching import tokenize

        same = [i for i, p in enumerate(pairs) if ok[i] and
                len(tokenize(lm.tokenizer, p.clean)) == len(tokenize(lm.tokenizer, p.corrupted))]
        if same:
            sub = [pairs[i] for i in same]
            for off in range(o.per_position):
                rp = pair_scores(lm, sub, o, positions=off)
                d = (rp["ld_clean"] - rp["ld_corrupted"])[:, None]
                grid = ((rp["ld_patched"] - rp["ld_corrupted"][:, None]) / d).numpy()
                rows += per_unit_curves(grid, f"recovery.pos-{off}", o.n_boot, o.seed)
    excluded = [{"id": it.id, "reason": w, "ld_clean": float(c), "ld_corrupted": float(k)}
                for it, w, c, k in zip(items, why, r["ld_clean"].tolist(), r["ld_corrupted"].tolist()) if w]
    df = frame(rows, model=lm.name, n_layers=lm.n_layers, domain=cs.domain, technique="patching")
    return df, {"n_pairs": len(items), "n_used": int(ok.sum()), "excluded": excluded}
