"""Short runs that continue prompts from a key/value cache, starting at any decoder layer.

A *prefix* (every prompt but its last token, left-padded) is run once with a key/value cache. A
*step* then runs a few more tokens per row from the cache rows it selects: the prefix's, or those of
an earlier step (which hold one more token). A step may start at decoder layer ``start``: layers below
it are replayed (they return a given hidden state without computing) and their cache entries are
stand-ins that only give the attention-mask code the lengths it reads. The selected cache is a new
object: the cache it was selected from is left untouched, so one prefix serves many steps."""

from __future__ import annotations

import copy
import inspect
from contextlib import ExitStack

import torch

from medmap.capture.batching import pad_ids, positions_from_mask
from medmap.capture.hooks import edit, layers_return_tuple, replay, retain
from medmap.errors import CaptureError


def kv_cache_of(out):
    """The key/value cache a forward pass returned (``cache`` in transformers >= 5.2x, ``past_key_values``
    before)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def kv_cache_kwarg(model) -> str:
    """The name a model's forward takes the key/value cache under: ``cache`` where transformers has
    renamed it (``past_key_values`` is deprecated there and removed in 5.40), else ``past_key_values``."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


_PLAIN_CACHE_LAYERS = {"DynamicLayer", "DynamicSlidingWindowLayer"}


def selectable(cache) -> bool:
    """Whether ``select`` can take rows out of ``cache`` (a per-layer key/value cache it knows; not the
    tuples of older transformers or quantised caches)."""
    layers = getattr(cache, "layers", None)
    return layers is not None and all(type(lay).__name__ in _PLAIN_CACHE_LAYERS for lay in layers)


SHARED_MIN = 8
"""Prompts whose leading tokens agree on at least this many form a group whose shared segment runs once."""


def shared_groups(seqs: list[list[int]], minimum: int = SHARED_MIN) -> list[tuple[list[int], int]]:
    """Groups of sequences that begin with a common segment of at least ``minimum`` tokens: ``(indices,
    length of the segment)``; a segment is never a whole member (each keeps a token of its own), and
    sequences in no group are left out. The sequences are sorted by their tokens, so that a group is a
    run of neighbours whose segment is the smallest common prefix of neighbours in it; a run is split at
    its smallest common prefix wherever that runs fewer tokens in all (each segment once, plus every
    member's remainder)."""
    order = sorted(range(len(seqs)), key=lambda i: seqs[i])
    lens = [len(seqs[i]) for i in order]

    def common(a, b):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    lcp = [common(seqs[a], seqs[b]) for a, b in zip(order, order[1:])]

    def best(lo: int, hi: int) -> tuple[int, list[tuple[int, int, int]]]:
        """(tokens run, groups as (lo, hi, segment)) for the sorted sequences lo .. hi-1."""
        if hi - lo == 1:
            return lens[lo], []
        m = min(range(lo, hi - 1), key=lambda k: lcp[k])
        n = min(lcp[m], min(lens[lo:hi]) - 1)
        left, right = best(lo, m + 1), best(m + 1, hi)
        split = (left[0] + right[0], left[1] + right[1])
        if n >= minimum and n + sum(lens[lo:hi]) - n * (hi - lo) < split[0]:
            return n + sum(lens[lo:hi]) - n * (hi - lo), [(lo, hi, n)]
        return split

    groups = best(0, len(order))[1] if order else []
    return [(sorted(order[lo:hi]), n) for lo, hi, n in groups]


class Prefix:
    """Every prompt but its last token, run once (left-padded) with a key/value cache. ``mask`` [N, W]
    marks the real prefix tokens; ``last`` [N] holds each prompt's last token.

    Prompts that begin alike (the solved examples of a few-shot template, a clean prompt and its corrupted
    partner up to the changed word) share that leading segment: it runs once per group of prompts
    (``shared_groups``), and each prompt's own remainder then runs from its group's cache. Keys and values
    of a causal model at a position depend only on the tokens up to it, so the cache holds what one pass
    per prompt would (up to float rounding); the remainders sit after their group's segment, with padding
    between the two where a segment or a remainder is shorter than the longest (masked, so never read).
    ``groups``: the groups whose segment ran once (empty when one plain pass was cheaper, or for a model
    with sliding-window attention, whose window counts cache slots: the padding between segment and
    remainder would widen it)."""

    def __init__(self, lm, prompts_ids: list[list[int]], share: int = SHARED_MIN):
        if any(len(p) < 2 for p in prompts_ids):
            raise CaptureError("a patching prompt must have at least two tokens")
        seqs = [list(p[:-1]) for p in prompts_ids]
        # a sliding window counts cache slots, which the padding between segment and remainder would make
        # more than positions: such models run one plain pass
        groups = shared_groups(seqs, share) if share and not has_sliding_window(lm) else []
        seg = [0] * len(seqs)
        group_of = [0] * len(seqs)
        for g, (members, n) in enumerate(groups):
            for i in members:
                seg[i], group_of[i] = n, g
        self.last = torch.tensor([p[-1] for p in prompts_ids])
        one_pass = len(seqs) * max(len(x) for x in seqs)  # padded sizes: padding runs as much as a token
        two_pass = (len(groups) * max((n for _, n in groups), default=0)
                    + len(seqs) * max(len(x) - n for x, n in zip(seqs, seg)))
        pad = lm.tokenizer.pad_token_id
        if groups and two_pass < one_pass:  # the groups' segments, then each prompt's remainder from its group's
            heads, head_mask = pad_ids([seqs[m[0]][:n] for m, n in groups], pad, "left")
            cache = _run(lm, heads, head_mask)
            rows = torch.tensor(group_of)
            past = head_mask[rows] * torch.tensor([[1 if s else 0] for s in seg])  # no segment: nothing to read
            tails, tail_mask = pad_ids([s[n:] for s, n in zip(seqs, seg)], pad, "left")
            mask = torch.cat([past, tail_mask], 1)
            positions = positions_from_mask(mask)[:, past.shape[1]:]
            cache = select(cache, rows, 0)
            step(lm, cache, past, tails, tail_mask, positions)  # appends the remainders to ``cache``
            self.cache, self.mask, self.groups = cache, mask, groups
        else:
            ids, mask = pad_ids(seqs, pad, "left")
            self.cache, self.mask, self.groups = _run(lm, ids, mask), mask, []
        self.selectable = selectable(self.cache)


def has_sliding_window(lm) -> bool:
    """Whether some layer of ``lm`` attends within a sliding window (its key/value cache, as transformers
    builds it from the model's config, has a sliding-window layer); remembered on ``lm``."""
    if not hasattr(lm, "_sliding_window"):
        from transformers import DynamicCache

        try:
            layers = DynamicCache(config=lm.model.config).layers
        except (TypeError, ValueError, AttributeError):  # a config transformers' cache cannot read: assume one
            layers = None
        lm._sliding_window = layers is None or any("Sliding" in type(lay).__name__ for lay in layers)
    return lm._sliding_window


def _run(lm, ids: torch.Tensor, mask: torch.Tensor):
    """The key/value cache of ``ids`` (no unembedding: only the cache is wanted)."""
    base = lm.model.base_model
    out = base(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device),
               position_ids=positions_from_mask(mask).to(lm.device), use_cache=True)
    return kv_cache_of(out)


def select(cache, idx: torch.Tensor, start: int):
    """A new cache holding rows ``idx`` of ``cache`` for layers ``start ..``; layers below ``start`` get
    a one-row broadcast view (no copy) that only supplies the lengths the attention-mask code reads."""
    new = copy.copy(cache)
    new.layers = []
    for i, lay in enumerate(cache.layers):
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


def advance_replayed(cache, start: int, n: int) -> None:
    """After a step of ``n`` tokens that started at layer ``start``, the replayed layers' stand-ins are
    made ``n`` tokens longer, as the layers that ran now are (one row, updated the way the layer's own
    cache class updates: a sliding-window layer keeps its window)."""
    for lay in cache.layers[:start]:
        if not (getattr(lay, "is_initialized", False) and lay.keys is not None and lay.keys.numel()):
            continue
        k, v = lay.keys[:1], lay.values[:1]
        lay.keys, lay.values = k, v
        lay.update(k.new_zeros(1, k.shape[1], n, k.shape[3]), v.new_zeros(1, v.shape[1], n, v.shape[3]))


def step(lm, cache, past_mask: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, *,
         start: int = 0, value: torch.Tensor | None = None, setter=None, keep=None) -> torch.Tensor:
    """Run tokens ``ids`` [R, S] (``mask`` 1 on real ones, right-padded; ``positions`` [R, S]) from
    ``cache`` (whose real entries ``past_mask`` [R, W] marks). Layers below ``start`` are replayed with
    ``value`` [R, S, d]; ``setter(i, h)`` may replace and ``keep(i, h)`` reads the output of layer i >=
    start. Returns the final hidden states [R, S, d] (after the final norm; no vocabulary projection);
    ``cache`` holds the step's keys and values afterwards."""
    layers = lm.arch.layers
    dev = lm.device
    with ExitStack() as st:
        if start:
            st.enter_context(replay(layers, start, value, as_tuple=layers_return_tuple(lm)))
        if setter is not None:
            st.enter_context(edit(list(layers)[start:], lambda i, h: setter(i + start, h)))
        if keep is not None:
            st.enter_context(retain(list(layers)[start:], lambda i, h: keep(i + start, h)))
        base = lm.model.base_model
        out = base(input_ids=ids.to(dev), attention_mask=torch.cat([past_mask, mask], 1).to(dev),
                   position_ids=positions.to(dev), use_cache=True, **{kv_cache_kwarg(base): cache})
    return out.last_hidden_state


def buckets(widths: list[int], overhead: float) -> list[list[int]]:
    """Indices of ``widths`` grouped so that each group runs as one padded step: minimises the padded
    size (count x the group's widest) plus ``overhead`` per group (the fixed cost of a model call, in
    the same units). Groups hold consecutive widths (dynamic programming over the sorted widths)."""
    ws = sorted(set(widths))
    count = [sum(1 for w in widths if w == x) for x in ws]
    best, cut = [0.0] + [float("inf")] * len(ws), [0] * (len(ws) + 1)
    for j in range(1, len(ws) + 1):
        for i in range(j):
            c = best[i] + sum(count[i:j]) * ws[j - 1] + overhead
            if c < best[j]:
                best[j], cut[j] = c, i
    groups, j = [], len(ws)
    while j > 0:
        lo, hi = ws[cut[j]], ws[j - 1]
        groups.append([k for k, w in enumerate(widths) if lo <= w <= hi])
        j = cut[j]
    return groups[::-1]
