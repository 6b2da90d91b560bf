"""Greedy generation with one decoder layer lesioned (made the identity) for the whole generation.

Used by the optional LLM-judge measure of lesioning (``medmap.analyses.judge``): the intact model's
answer and the lesioned model's answer to the same prompt are shown to a judge. The lesion is the
plain ``identity_layer`` hook, attached for the duration of ``generate`` and removed afterwards, so
every generated token (prompt pass and each cached step) sees the lesioned layer."""

from __future__ import annotations

from contextlib import nullcontext

import torch

from medmap.capture.batching import encode
from medmap.capture.hooks import identity_layer
from medmap.errors import CaptureError


@torch.no_grad()
def generate_lesioned(lm, prompts: list[str], layer: int | None, max_new_tokens: int = 32, *,
                      batch_size: int = 16) -> list[str]:
    """Greedy continuations of ``prompts`` (new tokens only, special tokens skipped) with decoder layer
    ``layer`` replaced by the identity; ``layer=None`` generates with the intact model.

    Prompts are left-padded in batches of ``batch_size`` and the attention mask is passed, so each
    continuation is the one the prompt would get alone (up to floating-point noise)."""
    prompts = list(prompts)
    if layer is not None and not (isinstance(layer, int) and 0 <= layer < lm.n_layers):
        raise CaptureError(f"cannot lesion layer {layer!r} of '{lm.name}': it has decoder layers 0..{lm.n_layers - 1}")
    if max_new_tokens < 1:
        raise CaptureError(f"max_new_tokens must be at least 1, not {max_new_tokens}")
    if not prompts:
        return []
    tok = lm.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    out: list[str] = []
    for s in range(0, len(prompts), max(1, batch_size)):
        b = encode(tok, prompts[s:s + batch_size], "left").to(lm.device)
        ctx = nullcontext() if layer is None else identity_layer(lm.arch.layers[layer])
        with ctx:
            gen = lm.model.generate(input_ids=b.input_ids, attention_mask=b.attention_mask,
                                    max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
        width = b.input_ids.shape[1]
        out.extend(tok.decode(row[width:], skip_special_tokens=True) for row in gen)
    return out
