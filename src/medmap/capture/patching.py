"""Activation patching: clean, corrupted and patched runs.

In the patched run for layer l, the corrupted run's output of decoder layer l is replaced, at the
patched positions, by the clean run's. The metric (in ``analyses.patching``) compares answer scores:
LD = score(clean answer) - score(corrupted answer), score = summed log-probability of the answer's
tokens (for one-token answers, the same as the logit difference).

Fast path (positions = last prompt token). Patching position t changes nothing at positions before t,
and in a causal model nothing before t ever reads t. So the corrupted prompt's prefix (all but its
last token) is run once with a key/value cache; every patched run then only processes the last prompt
token and the answer tokens, from that cache. All layers of a pair are patched in one batched step:
row r of the step has layer r's output at the last prompt token replaced by the clean value. One
prefix pass plus one small step per pair replace n_layers full forwards.

General path (positions = all / differing tokens / one position): the corrupted run's layer outputs are
kept; each patched run starts at layer l + 1 (layers 0..l replayed) from the patched layer-l output.
``patch_reference`` is the plain oracle: one full forward per (pair, layer) with an editing hook."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from medmap.capture.batching import encode, tokenize
from medmap.capture.hooks import edit, layers_return_tuple, replay, retain
from medmap.capture.scoring import answer_tokens, encode_answers, score, tail_logits, unembed
from medmap.capture.steps import Prefix, advance_replayed, buckets, select, step
from medmap.errors import CaptureError


@dataclass(frozen=True)
class Pair:
    clean: str
    corrupted: str
    clean_answer: str
    corrupted_answer: str


STEP_OVERHEAD = 24
"""The fixed cost of one model call, in (row x token) units of a step: what ``buckets`` weighs padding
against when it groups answer continuations of different lengths."""


def _logprobs(lm, h: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """Per row, the summed log-probability of ``targets`` [R, S] at the real positions (``mask``) of the
    final hidden states ``h`` [R, S, d]. The normaliser needs every vocabulary entry: the real positions
    are taken out as contiguous rows and projected ``chunk`` at a time (bounded memory)."""
    sel = mask.bool()
    rows = sel.nonzero()[:, 0].to(h.device)
    hs, tg = h[sel.to(h.device)], targets[sel].to(h.device)
    lp = torch.empty(len(tg), device=h.device)
    for s in range(0, len(tg), chunk):
        z = unembed(lm, hs[s:s + chunk])
        lp[s:s + chunk] = z.gather(1, tg[s:s + chunk, None])[:, 0] - torch.logsumexp(z, -1)
    return torch.zeros(h.shape[0], device=h.device).index_add_(0, rows, lp).cpu()


def _first(lm, prefix: Prefix, rows: torch.Tensor, start: int, **kw):
    """The last prompt token of prefix rows ``rows``, one step from the prefix cache. Returns its final
    hidden state [R, d], the step's cache (one token longer) and the positions of that token [R]."""
    cache = select(prefix.cache, rows, start)
    pos = prefix.mask[rows].sum(1)
    ones = torch.ones(len(rows), 1, dtype=torch.long)
    h = step(lm, cache, prefix.mask[rows], prefix.last[rows][:, None], ones, pos[:, None], start=start, **kw)
    advance_replayed(cache, start, 1)
    return h[:, 0], cache, pos


def _continue(lm, cache, past: torch.Tensor, pos: torch.Tensor, conts: list, groups: list[list[int]],
              start: int = 0, value=None, keep=None) -> torch.Tensor:
    """Answer continuations after ``_first``: ``conts[k]`` = (row of ``cache``, input tokens, target
    tokens) (the answer but its last token, the answer but its first). Each group of ``groups`` runs as
    one right-padded step from ``cache`` (``past`` [R, W] its real prefix entries, ``pos`` [R] the
    first step's positions). ``value(group, width)`` gives the replayed input when ``start`` > 0;
    ``keep(i, h, group)`` reads layer outputs. Returns the summed target log-probability per continuation."""
    out = torch.zeros(len(conts))
    pad = lm.tokenizer.pad_token_id
    for grp in groups:
        w = max(len(conts[k][1]) for k in grp)
        ids = torch.full((len(grp), w), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        tgt = torch.zeros_like(ids)
        for r, k in enumerate(grp):
            n = len(conts[k][1])
            ids[r, :n], mask[r, :n], tgt[r, :n] = torch.tensor(conts[k][1]), 1, torch.tensor(conts[k][2])
        arow = torch.tensor([conts[k][0] for k in grp])
        past_mask = torch.cat([past[arow], torch.ones(len(grp), 1, dtype=torch.long)], 1)
        positions = pos[arow][:, None] + 1 + torch.arange(w)[None]
        h = step(lm, select(cache, arow, start), past_mask, ids, mask, positions, start=start,
                 value=value(grp, w) if start else None,
                 keep=(lambda i, x, grp=grp: keep(i, x, grp)) if keep else None)
        out[grp] = _logprobs(lm, h, mask, tgt)
    return out


@torch.no_grad()
def patch_last(lm, pairs: list[Pair], layers=None, group: int = 2) -> dict[str, torch.Tensor]:
    """Fast path: patch the last prompt token at each layer. Returns ``ld_clean`` [P],
    ``ld_corrupted`` [P], ``ld_patched`` [P, n_layers_patched].

    Every distinct prompt's prefix runs once with a key/value cache, and prompts that begin alike (a
    few-shot template's solved examples; a clean prompt and its partner up to the changed word) run that
    beginning once between them (``steps.Prefix``). Each run then goes in two steps
    from it: the last prompt token alone (its final hidden state gives the first answer tokens'
    logit difference: both answers share that context, so the softmax normaliser cancels), then the
    continuations of the answers of several tokens from that step's cache, grouped by length
    (``buckets``) so that short answers are not padded to the longest. A run patched at layer l
    equals the corrupted run up to layer l's output, where only the last prompt token changes: the
    rows patched at layers ``a .. a+group-1`` start at layer a + 1 from the corrupted run's kept
    outputs (layers up to a are replayed), the row of layer a with its patched value. ``group``
    trades the number of model calls against layers recomputed; 1 runs the fewest layers. Needs a
    per-layer key/value cache (transformers' dynamic caches); otherwise the general path runs."""
    layers = list(range(lm.n_layers)) if layers is None else list(layers)
    tok = lm.tokenizer
    clean_ids = [tokenize(tok, p.clean) for p in pairs]
    corr_ids = [tokenize(tok, p.corrupted) for p in pairs]
    distinct: dict[tuple, int] = {}
    pc = [distinct.setdefault(tuple(x), len(distinct)) for x in clean_ids]
    pk = [distinct.setdefault(tuple(x), len(distinct)) for x in corr_ids]
    prefix = Prefix(lm, [list(x) for x in distinct])
    if not prefix.selectable:
        return patch_positions(lm, pairs, layers, "last")
    answers = list(zip(answer_tokens(tok, [p.clean_answer for p in pairs]),
                       answer_tokens(tok, [p.corrupted_answer for p in pairs])))
    P = len(pairs)
    A0 = torch.tensor([a[0][0] for a in answers], device=lm.device)
    B0 = torch.tensor([a[1][0] for a in answers], device=lm.device)
    # answers of several tokens: (pair, 0 = clean answer / 1 = corrupted answer), continued in a second step
    multi = [(p, x) for p in range(P) for x in (0, 1) if len(answers[p][x]) > 1]
    widths = [len(answers[p][x]) - 1 for p, x in multi]
    wmax = max(widths, default=0)
    sign = torch.tensor([1.0 if x == 0 else -1.0 for _, x in multi])

    def conts(row_of, n_rep):
        """Continuation m * n_rep + k: answer ``multi[m]`` after phase-A row ``row_of(p, k)``."""
        return [(row_of(p, k), answers[p][x][:-1], answers[p][x][1:]) for p, x in multi for k in range(n_rep)]

    # unpatched runs (rows: the clean prompts, then the corrupted ones), keeping every layer's output
    kept0: dict[int, torch.Tensor] = {}
    rows = torch.tensor(pc + pk)
    h0, cache, pos = _first(lm, prefix, rows, 0, keep=lambda i, h: kept0.__setitem__(i, h[:, 0]))
    ld = (unembed(lm, h0, A0.repeat(2)) - unembed(lm, h0, B0.repeat(2))).cpu()
    clean_h = {i: h[:P] for i, h in kept0.items()}
    base0 = {i: h[P:] for i, h in kept0.items()}
    baseB: dict[int, torch.Tensor] = {}  # layer -> corrupted run's continuation outputs [P, 2, wmax, d]

    def keep_base(i, h, grp):
        sel = [r for r, c in enumerate(grp) if c % 2 == 1]  # k = 1: on the corrupted prompt
        if i not in baseB:
            baseB[i] = h.new_zeros(P, 2, wmax, h.shape[-1])
        m = [multi[grp[r] // 2] for r in sel]
        baseB[i][[p for p, _ in m], [x for _, x in m], :h.shape[1]] = h[sel]

    if multi:
        lp = _continue(lm, cache, prefix.mask[rows], pos, conts(lambda p, k: p + k * P, 2),
                       buckets([w for w in widths for _ in range(2)], STEP_OVERHEAD), keep=keep_base)
        ld.index_add_(0, torch.tensor([p + k * P for p, _ in multi for k in range(2)]),
                      lp * sign.repeat_interleave(2))
    ld_clean, ld_corr = ld[:P], ld[P:]
    out = torch.empty(P, len(layers))
    order = sorted(range(len(layers)), key=lambda j: layers[j])
    for c in range(0, len(order), max(1, group)):
        cols = order[c:c + max(1, group)]
        chunk = [layers[j] for j in cols]
        a, n_rep = chunk[0], len(chunk)
        start = a + 1
        # phase-A rows: (pair p, k-th layer of the chunk) at p * n_rep + k
        row_pair = torch.arange(P).repeat_interleave(n_rep).to(lm.device)
        row_layer = torch.tensor(chunk * P, device=lm.device)
        value = base0[a][row_pair].clone()
        at_a = row_layer == a
        value[at_a] = clean_h[a][row_pair[at_a]].to(value.dtype)

        def setter(i, h):
            sel = (row_layer == i).nonzero().squeeze(-1)
            if sel.numel() == 0:
                return None
            h = h.clone()
            h[sel, 0] = clean_h[i][row_pair[sel]].to(h.dtype)
            return h

        rows = torch.tensor(pk).repeat_interleave(n_rep)
        h0, cache, pos = _first(lm, prefix, rows, start, value=value[:, None], setter=setter)
        ld = (unembed(lm, h0, A0[row_pair]) - unembed(lm, h0, B0[row_pair])).cpu()
        if multi:
            def value_b(grp, w):
                m = [multi[g // n_rep] for g in grp]
                return baseB[a][[p for p, _ in m], [x for _, x in m], :w]

            lp = _continue(lm, cache, prefix.mask[rows], pos, conts(lambda p, k: p * n_rep + k, n_rep),
                           buckets([w for w in widths for _ in range(n_rep)], STEP_OVERHEAD / n_rep),
                           start=start, value=value_b)
            ld.index_add_(0, torch.tensor([p * n_rep + k for p, _ in multi for k in range(n_rep)]),
                          lp * sign.repeat_interleave(n_rep))
        out[:, cols] = ld.view(P, n_rep)
    return {"ld_clean": ld_clean, "ld_corrupted": ld_corr, "ld_patched": out}


def _aligned(lm, pairs: list[Pair]):
    """Clean and corrupted sequences (prompt + each answer), padded to one width so positions align."""
    tok = lm.tokenizer
    prompts, answers = [], []
    for p in pairs:
        for a in (p.clean_answer, p.corrupted_answer):
            prompts += [p.clean, p.corrupted]
            answers += [a, a]
    ab = encode_answers(tok, prompts, answers)
    n_clean = [len(tokenize(tok, p.clean)) for p in pairs]
    n_corr = [len(tokenize(tok, p.corrupted)) for p in pairs]
    bad = [i for i, (a, b) in enumerate(zip(n_clean, n_corr)) if a != b]
    return ab, bad


@torch.no_grad()
def patch_positions(lm, pairs: list[Pair], layers=None, positions: str | int = "all") -> dict[str, torch.Tensor]:
    """General path. ``positions``: 'all' positions (prompt and answer tokens), 'differ' (tokens that differ between clean
    and corrupted), 'last' prompt token, or an int offset from the last prompt token (0 = last,
    1 = the one before). Needs clean and corrupted prompts of equal token length (except 'last')."""
    layers = list(range(lm.n_layers)) if layers is None else list(layers)
    ab, bad = _aligned(lm, pairs)
    if bad and positions != "last":
        raise CaptureError(f"pairs {bad[:5]} tokenise to different lengths; patch positions='last' for them")
    rows = ab.batch.input_ids.shape[0]
    clean_rows, corr_rows = torch.arange(0, rows, 2), torch.arange(1, rows, 2)
    outs: dict[int, torch.Tensor] = {}
    with retain(list(lm.arch.layers), lambda i, h: outs.__setitem__(i, h)):
        s = score(tail_logits(lm, ab), ab.answers)
    lp = s["logprob"].view(len(pairs), 2, 2)  # pair, answer, (clean, corrupted)
    ld_clean = lp[:, 0, 0] - lp[:, 1, 0]
    ld_corr = lp[:, 0, 1] - lp[:, 1, 1]
    width = ab.batch.input_ids.shape[1]
    m = torch.zeros(len(corr_rows), width, dtype=torch.bool)
    for k, r in enumerate(corr_rows.tolist()):
        last = int(ab.batch.last_index[r])
        first = width - int(ab.batch.attention_mask[r].sum())
        if positions == "all":  # every position, the teacher-forced answer tokens too
            m[k, first:] = True
        elif positions == "last":
            m[k, last] = True
        elif positions == "differ":
            m[k, first:last + 1] = ab.batch.input_ids[r, first:last + 1] != ab.batch.input_ids[r - 1, first:last + 1]
        elif isinstance(positions, int):
            m[k, last - positions] = True
        else:
            raise CaptureError(f"unknown positions {positions!r}: all, differ, last or an int")
    corr_ab = type(ab)(_rows(ab.batch, corr_rows), [ab.answers[i] for i in corr_rows.tolist()])
    ld = torch.empty(len(pairs), len(layers))
    mask = m.to(lm.device).unsqueeze(-1)
    for j, l in enumerate(layers):
        h = torch.where(mask, outs[l][clean_rows], outs[l][corr_rows])
        with replay(lm.arch.layers, l + 1, h, as_tuple=layers_return_tuple(lm)):
            sp = score(tail_logits(lm, corr_ab), corr_ab.answers)["logprob"].view(len(pairs), 2)
        ld[:, j] = sp[:, 0] - sp[:, 1]
    return {"ld_clean": ld_clean, "ld_corrupted": ld_corr, "ld_patched": ld}


def _rows(batch, idx):
    from medmap.capture.batching import Batch

    return Batch(batch.input_ids[idx], batch.attention_mask[idx], batch.position_ids[idx], batch.last_index[idx])


@torch.no_grad()
def patch_reference(lm, pairs: list[Pair], layers=None) -> torch.Tensor:
    """Oracle for the last-token fast path: a full forward per (pair, layer, answer), the layer's output
    at the last prompt token overwritten by a hook. Returns ld_patched [P, n_layers_patched]."""
    layers = list(range(lm.n_layers)) if layers is None else list(layers)
    out = torch.empty(len(pairs), len(layers))
    for k, p in enumerate(pairs):
        clean = encode(lm.tokenizer, [p.clean])
        kept: dict[int, torch.Tensor] = {}
        with retain(list(lm.arch.layers), lambda i, h: kept.__setitem__(i, h[0, -1].clone())):
            lm.model(**clean.to(lm.device).model_inputs(), use_cache=False)
        n = len(tokenize(lm.tokenizer, p.corrupted))
        for j, l in enumerate(layers):
            lps = []
            for a in (p.clean_answer, p.corrupted_answer):
                ab = encode_answers(lm.tokenizer, [p.corrupted], [a])

                def setter(i, h, l=l):
                    if i != l:
                        return None
                    h = h.clone()
                    h[0, n - 1] = kept[l]
                    return h

                with edit(list(lm.arch.layers), setter):
                    lps.append(score(tail_logits(lm, ab), ab.answers)["logprob"][0])
            out[k, j] = lps[0] - lps[1]
    return out
