"""One-pass capture of the residual stream after the embeddings and after every decoder layer,
pooled inside the hook so that only [items, layers+1, hidden] is ever kept."""

from __future__ import annotations

from typing import Callable

import torch

from medmap.capture.batching import Batch, encode
from medmap.capture.hooks import layer_input, retain, stop_after
from medmap.capture.oom import batches
from medmap.errors import CaptureError

POOLINGS = ("last", "mean", "span")


def pool(hidden: torch.Tensor, batch: Batch, pooling: str) -> torch.Tensor:
    """[B, T, d] -> [B, d] by the last real token, the mean over real tokens, or the concept span."""
    if pooling == "last":
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), batch.last_index]
    if pooling == "mean":
        m = batch.attention_mask.to(hidden.dtype).unsqueeze(-1)
    elif pooling == "span":
        if batch.span_mask is None:
            raise CaptureError("span pooling needs spans")
        m = (batch.span_mask * batch.attention_mask).to(hidden.dtype).unsqueeze(-1)
    else:
        raise CaptureError(f"unknown pooling '{pooling}': choose from {', '.join(POOLINGS)}")
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1)


@torch.no_grad()
def capture_batch(lm, batch: Batch, pooling: str = "last") -> torch.Tensor:
    """Pooled residual stream of one batch: [B, n_layers + 1, d] in float32 on the CPU.
    Index 0 is the input of the first decoder layer (the embeddings), index l + 1 the output of decoder layer l. The forward pass
    stops after the last decoder layer: no final norm, no unembedding."""
    arch = lm.arch
    batch = batch.to(lm.device)
    out = torch.empty(batch.input_ids.shape[0], arch.n_layers + 1, lm.hidden_size, dtype=torch.float32)

    def keep(i: int, h: torch.Tensor) -> None:
        out[:, i] = pool(h, batch, pooling).float().cpu()

    with layer_input(arch.layers[0], lambda h: keep(0, h)), \
            retain(list(arch.layers), lambda i, h: keep(i + 1, h), stop_at_end=True), stop_after():
        lm.model(**batch.model_inputs(), use_cache=False)
    return out


def check_finite(acts: torch.Tensor, ids: list[str]) -> None:
    """Raise naming the first layer and item whose activation is NaN or infinite."""
    bad = ~torch.isfinite(acts).all(-1)
    if bad.any():
        item, layer = (int(x) for x in bad.nonzero()[0])
        where = "the embeddings" if layer == 0 else f"decoder layer {layer - 1}"
        raise CaptureError(
            f"non-finite activation (NaN or inf) at {where} for item '{ids[item]}' "
            f"({int(bad.sum())} item-layer cells in all); try float32 or a smaller learning-free dtype"
        )


def capture(lm, prompts: list[str], *, pooling: str = "last", batch_size: int = 32,
            padding_side: str = "left", spans: list[str | None] | None = None,
            ids: list[str] | None = None, on_batch: Callable[[int], None] | None = None) -> torch.Tensor:
    """Pooled residual stream for every prompt: [N, n_layers + 1, d] float32. A batch that runs out of
    device memory is halved and retried (``medmap.capture.oom``)."""
    if pooling not in POOLINGS:
        raise CaptureError(f"unknown pooling '{pooling}': choose from {', '.join(POOLINGS)}")
    if pooling == "span" and spans is None:
        raise CaptureError("span pooling needs a span for each item")
    def run(s: int, e: int) -> torch.Tensor:
        return capture_batch(lm, encode(lm.tokenizer, prompts[s:e], padding_side, spans[s:e] if spans else None),
                             pooling)

    parts = batches(len(prompts), batch_size, run, key=("capture", lm.identity), on_done=on_batch)
    acts = torch.cat(parts) if parts else torch.empty(0, lm.n_layers + 1, lm.hidden_size)
    check_finite(acts, ids or [str(i) for i in range(len(prompts))])
    return acts
