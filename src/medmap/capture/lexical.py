"""A representation of each item that knows only its tokens: the lexical baseline of the geometry.

``embedding`` (default): the mean of the model's input token embeddings (the embedding module applied to
the token ids, so a model that scales its embeddings, e.g. Gemma, is scaled the same way; no position
embedding, no forward pass through any layer) over the tokens of the item's concept span: the prompt
tokens that overlap the span's last occurrence, as span pooling takes them. Without a span (or where
no token overlaps it): every token of the prompt except special tokens (BOS etc.).

``bag``: counts of the same tokens over the vocabulary (a sparse matrix [items, vocabulary]).

Whatever the geometry finds in this representation, tokenisation alone gives it: the geometry's
``M@lexical`` rows are the same metrics computed on it."""

from __future__ import annotations

import numpy as np
import torch

from medmap.errors import CaptureError

KINDS = ("embedding", "bag")


def concept_tokens(tokenizer, prompt: str, span: str | None) -> list[int]:
    """Token ids of ``prompt`` (as capture tokenises it, special tokens included) that overlap the last
    occurrence of ``span``; without a span (or one not in the prompt, or that no token overlaps), the
    prompt's non-special tokens."""
    try:
        enc = tokenizer(prompt, add_special_tokens=True, return_offsets_mapping=True)
    except NotImplementedError:  # a slow tokenizer has no offsets: the whole prompt
        return list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
    real = [b > a for a, b in offsets]  # special tokens have empty offsets
    keep = []
    if span and span in prompt:
        start = prompt.rfind(span)
        end = start + len(span)
        keep = [t for t, (a, b), r in zip(ids, offsets, real) if r and a < end and b > start]
    if not keep:
        keep = [t for t, r in zip(ids, real) if r] or ids
    return keep


@torch.no_grad()
def lexical_representation(lm, prompts: list[str], spans: list[str | None] | None = None, kind: str = "embedding"):
    """Per item: the mean input embedding of its concept-span tokens ([items, hidden] float32 numpy), or
    (``kind='bag'``) their counts over the vocabulary (``scipy.sparse.csr_matrix`` [items, vocabulary])."""
    if kind not in KINDS:
        raise CaptureError(f"unknown lexical representation '{kind}': choose from {', '.join(KINDS)}")
    spans = spans if spans is not None else [None] * len(prompts)
    tokens = [concept_tokens(lm.tokenizer, p, s) for p, s in zip(prompts, spans)]
    embed = lm.arch.embed
    if kind == "bag":
        from scipy import sparse

        vocab = int(getattr(embed, "num_embeddings", 0) or len(lm.tokenizer))
        rows = np.repeat(np.arange(len(tokens)), [len(t) for t in tokens])
        cols = np.concatenate([np.asarray(t, dtype=np.int64) for t in tokens]) if tokens else np.zeros(0, int)
        return sparse.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(tokens), vocab))
    out = np.empty((len(tokens), lm.hidden_size), dtype=np.float32)
    for i, t in enumerate(tokens):
        e = embed(torch.tensor([t], device=lm.device))  # [1, T, d]; an offloaded embedding loads itself
        out[i] = e[0].float().mean(0).cpu().numpy()
    return out
