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

from medmap.capture.batching import positions_from_mask
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


class Prefix:
    """Every prompt but its last token, run once (left-padded) with a key/value cache. ``mask`` [N, W]
    marks the real prefix tokens; ``last`` [N] holds each prompt's last token."""

    def __init__(self, lm, prompts_ids: list[list[int]]):
        if any(len(p) < 2 for p in prompts_ids):
            raise CaptureError("a patching prompt must have at least two tokens")
        pad = lm.tokenizer.pad_token_id
        width = max(len(p) for p in prompts_ids) - 1
        ids = torch.full((len(prompts_ids), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, p in enumerate(prompts_ids):
            ids[i, width - len(p) + 1:] = torch.tensor(p[:-1])
            mask[i, width - len(p) + 1:] = 1
        base = lm.model.base_model  # no unembedding: only the cache is wanted
        out = base(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device),
                   position_ids=positions_from_mask(mask).to(lm.device), use_cache=True)
        self.cache, self.mask = kv_cache_of(out), mask
        self.last = torch.tensor([p[-1] for p in prompts_ids])
        self.selectable = selectable(self.cache)


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
