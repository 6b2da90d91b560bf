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

from medmap.capture.batching import encode, positions_from_mask, tokenize
from medmap.capture.hooks import edit, replay, retain
from medmap.capture.lesion import _as_tuple
from medmap.capture.scoring import answer_tokens, encode_answers, score, tail_logits
from medmap.errors import CaptureError


@dataclass(frozen=True)
class Pair:
    clean: str
    corrupted: str
    clean_answer: str
    corrupted_answer: str


def _answer_lp(logits: torch.Tensor, ans: list[list[int]]) -> torch.Tensor:
    """Summed log-prob of ``ans[r]`` from step logits [R, S, V] (step token s predicts answer token s)."""
    logp = torch.log_softmax(logits.float(), -1)
    return torch.stack([logp[r, torch.arange(len(a)), torch.tensor(a)].sum() for r, a in enumerate(ans)]).cpu()


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
    return out.past_key_values, mask


def _step(lm, cache, prefix_mask, prompts_ids, rows_pair, rows_answer, setter=None, keep=None):
    """Process [last prompt token, answer tokens[:-1]] for each row from the (expanded) prefix cache.
    ``rows_pair[r]`` picks the prompt, ``rows_answer[r]`` the answer token ids. Returns step logits."""
    R = len(rows_pair)
    S = max(len(a) for a in rows_answer)
    pad = lm.tokenizer.pad_token_id
    idx = torch.tensor(rows_pair)
    cache.reorder_cache(idx.to(lm.device))  # expand / select the batch rows (index_select)
    ids = torch.full((R, S), pad, dtype=torch.long)
    smask = torch.zeros((R, S), dtype=torch.long)
    for r, (p, a) in enumerate(zip(rows_pair, rows_answer)):
        toks = [prompts_ids[p][-1]] + a[:-1]
        ids[r, : len(toks)] = torch.tensor(toks)
        smask[r, : len(toks)] = 1
    mask = torch.cat([prefix_mask[idx], smask], 1)
    start = prefix_mask[idx].sum(1, keepdim=True)
    pos = start + torch.arange(S)[None]
    layers = list(lm.arch.layers)
    ctx = [edit(layers, setter)] if setter else []
    if keep is not None:
        ctx.append(retain(layers, keep))
    from contextlib import ExitStack

    with ExitStack() as st:
        for c in ctx:
            st.enter_context(c)
        out = lm.model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device),
                       position_ids=pos.to(lm.device), past_key_values=cache, use_cache=True)
    return out.logits


@torch.no_grad()
def patch_last(lm, pairs: list[Pair], layers=None) -> dict[str, torch.Tensor]:
    """Fast path: patch the last prompt token at each layer. Returns ``ld_clean`` [P],
    ``ld_corrupted`` [P], ``ld_patched`` [P, n_layers_patched]."""
    layers = list(range(lm.n_layers)) if layers is None else list(layers)
    tok = lm.tokenizer
    clean_ids = [tokenize(tok, p.clean) for p in pairs]
    corr_ids = [tokenize(tok, p.corrupted) for p in pairs]
    A = answer_tokens(tok, [p.clean_answer for p in pairs])
    B = answer_tokens(tok, [p.corrupted_answer for p in pairs])
    P, L = len(pairs), lm.n_layers
    # clean: rows (pair, answer A), (pair, answer B); keep every layer's output at the last prompt token
    clean_h = torch.empty(P, L, lm.hidden_size, device=lm.device)

    def keep(i, h):
        clean_h[:, i] = h[0::2, 0]

    cache, pmask = _prefix_cache(lm, clean_ids)
    rows_pair = [p for p in range(P) for _ in (0, 1)]
    rows_ans = [x for p in range(P) for x in (A[p], B[p])]
    lp = _answer_lp(_step(lm, cache, pmask, clean_ids, rows_pair, rows_ans, keep=keep), rows_ans)
    ld_clean = lp[0::2] - lp[1::2]
    # corrupted: per pair, rows = (layer patched or none) x (answer A, B)
    nL = len(layers)
    cache, pmask = _prefix_cache(lm, corr_ids)
    rows_pair, rows_ans, rows_layer = [], [], []
    for p in range(P):
        for j in [*range(nL), -1]:
            for a in (A[p], B[p]):
                rows_pair.append(p)
                rows_ans.append(a)
                rows_layer.append(layers[j] if j >= 0 else -1)
    row_layer = torch.tensor(rows_layer, device=lm.device)
    row_pair = torch.tensor(rows_pair, device=lm.device)

    def setter(i, h):
        sel = (row_layer == i).nonzero().squeeze(-1)
        if sel.numel() == 0:
            return None
        h = h.clone()
        h[sel, 0] = clean_h[row_pair[sel], i].to(h.dtype)
        return h

    lp = _answer_lp(_step(lm, cache, pmask, corr_ids, rows_pair, rows_ans, setter=setter), rows_ans)
    ld = (lp[0::2] - lp[1::2]).view(P, nL + 1)
    return {"ld_clean": ld_clean, "ld_corrupted": ld[:, -1], "ld_patched": ld[:, :-1]}


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
        with replay(lm.arch.layers, l + 1, h, as_tuple=_as_tuple(lm)):
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
