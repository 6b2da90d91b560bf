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

import copy
from contextlib import ExitStack
from dataclasses import dataclass

import torch

from medmap.capture.batching import encode, positions_from_mask, tokenize
from medmap.capture.hooks import edit, layers_return_tuple, replay, retain
from medmap.capture.scoring import answer_tokens, encode_answers, score, tail_logits, unembed
from medmap.errors import CaptureError


@dataclass(frozen=True)
class Pair:
    clean: str
    corrupted: str
    clean_answer: str
    corrupted_answer: str


def _ld(lm, h: torch.Tensor, groups: list[tuple[int, int, list[int], list[int]]]) -> torch.Tensor:
    """Logit-difference LD = score(A) - score(B) per group (row of answer A, row of answer B, A, B), from
    step hidden states [R, S, d]. Both rows share their first step position's context, so there the
    softmax normaliser cancels and the difference of the two logits is exact; later answer tokens
    (answers of several tokens) add their log-probabilities, which need the full vocabulary."""
    ra = torch.tensor([g[0] for g in groups])
    rb = torch.tensor([g[1] for g in groups])
    a0 = torch.tensor([g[2][0] for g in groups], device=h.device)
    b0 = torch.tensor([g[3][0] for g in groups], device=h.device)
    ld = unembed(lm, h[ra, 0], a0) - unembed(lm, h[rb, 0], b0)
    later = [(k, sign, r, s, t) for k, (r_a, r_b, A, B) in enumerate(groups)
             for sign, r, ans in ((1.0, r_a, A), (-1.0, r_b, B)) for s, t in enumerate(ans) if s > 0]
    if later:
        rows = torch.tensor([x[2] for x in later])
        pos = torch.tensor([x[3] for x in later])
        tok = torch.tensor([x[4] for x in later], device=h.device)
        logp = torch.log_softmax(unembed(lm, h[rows, pos]), -1)
        lp = logp[torch.arange(len(later), device=h.device), tok].cpu()
        for (k, sign, *_), v in zip(later, lp.tolist()):
            ld[k] += sign * v
    return ld.cpu()


def _prefix_cache(lm, prompts_ids: list[list[int]]):
    """Run every prompt but its last token (left-padded) with a KV cache."""
    pad = lm.tokenizer.pad_token_id
    width = max(len(p) for p in prompts_ids) - 1
    ids = torch.full((len(prompts_ids), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts_ids):
        if len(p) < 2:
            raise CaptureError("a patching prompt must have at least two tokens")
        ids[i, width - len(p) + 1:] = torch.tensor(p[:-1])
        mask[i, width - len(p) + 1:] = 1
    out = lm.model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device),
                   position_ids=positions_from_mask(mask).to(lm.device), use_cache=True, logits_to_keep=1)
    return kv_cache_of(out), mask


def kv_cache_of(out):
    """The key/value cache a forward pass returned (``cache`` in transformers >= 5.2x, ``past_key_values``
    before)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def kv_cache_kwarg(model) -> str:
    """The name a model's forward takes the key/value cache under: ``cache`` where transformers has
    renamed it (``past_key_values`` is deprecated there and removed in 5.40), else ``past_key_values``."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _cache_rows(cache, idx: torch.Tensor, start: int):
    """A new cache holding rows ``idx`` of ``cache`` (which is left untouched, so one prefix serves many
    steps). Layers below ``start`` will be replayed, never run: they get a broadcast view of one row
    (no copy) that only supplies the shapes the attention-mask code reads. ``None`` when the cache is
    not a per-layer key/value cache this knows (older transformers, quantised caches)."""
    if not _selectable(cache):
        return None
    layers = cache.layers
    new = copy.copy(cache)
    new.layers = []
    for i, lay in enumerate(layers):
        c = copy.copy(lay)
        if getattr(lay, "is_initialized", False) and lay.keys is not None and lay.keys.numel():
            if i >= start:
                c.keys = lay.keys.index_select(0, idx.to(lay.keys.device))
                c.values = lay.values.index_select(0, idx.to(lay.values.device))
            else:
                c.keys = lay.keys[:1].expand(len(idx), *lay.keys.shape[1:])
                c.values = lay.values[:1].expand(len(idx), *lay.values.shape[1:])
        new.layers.append(c)
    return new


_PLAIN_CACHE_LAYERS = {"DynamicLayer", "DynamicSlidingWindowLayer"}


def _selectable(cache) -> bool:
    """Whether ``_cache_rows`` can copy rows out of ``cache`` (a per-layer key/value cache it knows)."""
    layers = getattr(cache, "layers", None)
    return layers is not None and all(type(lay).__name__ in _PLAIN_CACHE_LAYERS for lay in layers)


class _Step:
    """One prompt set's prefix (all prompt tokens but the last, run once with a KV cache) and the small
    steps run from it: [last prompt token, answer tokens[:-1]] per row, where ``rows_pair[r]`` picks
    the prompt and ``rows_answer[r]`` the answer token ids. Every step returns the final hidden states
    [R, S, d] (after the final norm; no vocabulary projection)."""

    def __init__(self, lm, prompts_ids: list[list[int]], width: int):
        self.lm, self.prompts_ids, self.width = lm, prompts_ids, width
        self.prefix, self.prefix_mask = _prefix_cache(lm, prompts_ids)
        self.reusable = _selectable(self.prefix)

    def run(self, rows_pair, rows_answer, *, start: int = 0, value=None, setter=None, keep=None):
        """``start`` > 0: layers below it are replayed, returning ``value`` [R, S, d] (the input of layer
        ``start``); only layers ``start ..`` run."""
        lm = self.lm
        R, S = len(rows_pair), self.width
        idx = torch.tensor(rows_pair)
        cache = _cache_rows(self.prefix, idx, start) if self.reusable else None
        if cache is None:  # rebuild the prefix and select rows in place (needs the full depth)
            if start:
                raise CaptureError("starting a patched step at a layer needs a per-layer key/value cache")
            cache, _ = _prefix_cache(lm, self.prompts_ids)
            cache.reorder_cache(idx.to(lm.device))
        pad = lm.tokenizer.pad_token_id
        ids = torch.full((R, S), pad, dtype=torch.long)
        smask = torch.zeros((R, S), dtype=torch.long)
        for r, (p, a) in enumerate(zip(rows_pair, rows_answer)):
            toks = [self.prompts_ids[p][-1]] + a[:-1]
            ids[r, : len(toks)] = torch.tensor(toks)
            smask[r, : len(toks)] = 1
        mask = torch.cat([self.prefix_mask[idx], smask], 1)
        pos = self.prefix_mask[idx].sum(1, keepdim=True) + torch.arange(S)[None]
        layers = lm.arch.layers
        with ExitStack() as st:
            if start:
                st.enter_context(replay(layers, start, value, as_tuple=layers_return_tuple(lm)))
            if setter is not None:
                st.enter_context(edit(list(layers)[start:], lambda i, h: setter(i + start, h)))
            if keep is not None:
                st.enter_context(retain(list(layers)[start:], lambda i, h: keep(i + start, h)))
            base = lm.model.base_model
            out = base(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device),
                       position_ids=pos.to(lm.device), use_cache=True, **{kv_cache_kwarg(base): cache})
        return out.last_hidden_state


@torch.no_grad()
def patch_last(lm, pairs: list[Pair], layers=None, group: int = 2) -> dict[str, torch.Tensor]:
    """Fast path: patch the last prompt token at each layer. Returns ``ld_clean`` [P],
    ``ld_corrupted`` [P], ``ld_patched`` [P, n_layers_patched].

    A run patched at layer l equals the corrupted run below l, so patched rows start there: the
    corrupted step keeps every layer's output, and the rows patched at layers ``a .. a+group-1`` start
    at layer ``a`` from it (layers below are replayed). ``group`` trades the number of model calls
    against layers recomputed; 1 runs the fewest layers."""
    layers = list(range(lm.n_layers)) if layers is None else list(layers)
    tok = lm.tokenizer
    clean_ids = [tokenize(tok, p.clean) for p in pairs]
    corr_ids = [tokenize(tok, p.corrupted) for p in pairs]
    A = answer_tokens(tok, [p.clean_answer for p in pairs])
    B = answer_tokens(tok, [p.corrupted_answer for p in pairs])
    P, L = len(pairs), lm.n_layers
    single = [len(A[p]) == 1 and len(B[p]) == 1 for p in range(P)]
    width = max(len(a) for a in A + B)

    def layout(variants):
        """Rows for every (pair, variant): one row when both answers are single tokens (the step input is
        just the last prompt token for both), else one row per answer. Returns rows, the row of the
        unpatched step each corresponds to, the variant of each row, and the LD groups."""
        rows_pair, rows_ans, rows_base, rows_var, groups = [], [], [], [], []
        base = 0
        for p in range(P):
            answers = (A[p],) if single[p] else (A[p], B[p])
            for v in variants:
                first = len(rows_pair)
                for k, a in enumerate(answers):
                    rows_pair.append(p)
                    rows_ans.append(a)
                    rows_base.append(base + k)
                    rows_var.append(v)
                groups.append((first, first if single[p] else first + 1, A[p], B[p]))
            base += len(answers)
        return rows_pair, rows_ans, rows_base, rows_var, groups

    # clean: keep every layer's output at the last prompt token (step position 0)
    rows_pair, rows_ans, _, _, groups = layout([None])
    first_rows = torch.tensor([g[0] for g in groups])
    clean_h = torch.empty(P, L, lm.hidden_size, device=lm.device)

    def keep_clean(i, h):
        clean_h[:, i] = h[first_rows, 0]

    ld_clean = _ld(lm, _Step(lm, clean_ids, width).run(rows_pair, rows_ans, keep=keep_clean), groups)
    # corrupted, unpatched: keep every layer's output at every step position
    step = _Step(lm, corr_ids, width)
    base_out: dict[int, torch.Tensor] = {}
    ld_corr = _ld(lm, step.run(rows_pair, rows_ans, keep=base_out.__setitem__), groups)
    if not step.reusable:
        group = len(layers)
    ld = torch.empty(P, len(layers))
    order = sorted(range(len(layers)), key=lambda j: layers[j])
    for c in range(0, len(order), max(1, group)):
        chunk = [layers[j] for j in order[c:c + group]]
        start = min(chunk) if step.reusable else 0
        rows_pair, rows_ans, rows_base, rows_var, groups = layout(chunk)
        row_layer = torch.tensor(rows_var, device=lm.device)
        row_pair = torch.tensor(rows_pair, device=lm.device)

        def setter(i, h):
            sel = (row_layer == i).nonzero().squeeze(-1)
            if sel.numel() == 0:
                return None
            h = h.clone()
            h[sel, 0] = clean_h[row_pair[sel], i].to(h.dtype)
            return h

        value = base_out[start - 1][torch.tensor(rows_base, device=lm.device)] if start else None
        out = _ld(lm, step.run(rows_pair, rows_ans, start=start, value=value, setter=setter), groups)
        out = out.view(P, len(chunk))
        for k, l in enumerate(chunk):
            ld[:, layers.index(l)] = out[:, k]
    return {"ld_clean": ld_clean, "ld_corrupted": ld_corr, "ld_patched": ld}


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
