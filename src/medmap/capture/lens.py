"""The logit lens: where in depth a reference answer becomes readable.

The residual stream after each decoder layer, at the last prompt token (the position whose next-token
prediction is the answer's first token), is decoded as if it were the last layer's: through the model's
final norm and its unembedding (with the final logit soft-capping of the models that have one, see
``scoring.unembed``). Per layer we keep the log-probability of the answer's first token and its rank
(1 = the most probable token; ties count in the answer's favour). At the last decoder layer this is the
model's own next-token distribution, which ``tests/capture/test_lens.py`` checks on every tiny architecture.

Cost: one forward pass per batch that stops after the last decoder layer; only one row per item and
layer is ever decoded (the answer position), never the whole sequence. Tokenisation is that of
``scoring`` (the prompt with the tokenizer's special tokens, the answer on its own without them)."""

from __future__ import annotations

from typing import Callable

import torch

from medmap.capture.batching import encode
from medmap.capture.hooks import retain, stop_after
from medmap.capture.oom import batches
from medmap.capture.scoring import answer_tokens, unembed


def decode_rows(lm, h: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability and rank of ``tokens`` [N] under the lens of residual rows ``h`` [N, d]:
    final norm, unembedding, log-softmax (float32)."""
    logits = unembed(lm, lm.arch.final_norm(h))
    tokens = tokens.to(logits.device)
    logp = torch.log_softmax(logits, dim=-1)
    rows = torch.arange(len(tokens), device=logits.device)
    own = logits[rows, tokens]
    rank = (logits > own[:, None]).sum(-1) + 1
    return logp[rows, tokens].cpu(), rank.cpu()


@torch.no_grad()
def lens_batch(lm, prompts: list[str], answers: list[str]) -> dict[str, torch.Tensor]:
    """``logprob`` [B, n_layers] (float32) and ``rank`` [B, n_layers] (int64) of each answer's first
    token when the residual stream after each decoder layer at the last prompt token is decoded."""
    first = torch.tensor([a[0] for a in answer_tokens(lm.tokenizer, answers)])
    batch = encode(lm.tokenizer, prompts, "left").to(lm.device)
    rows = torch.arange(batch.input_ids.shape[0], device=lm.device)
    kept: dict[int, torch.Tensor] = {}

    def keep(i: int, h: torch.Tensor) -> None:
        kept[i] = h[rows.to(h.device), batch.last_index.to(h.device)].contiguous()  # see scoring.unembed

    with retain(list(lm.arch.layers), keep, stop_at_end=True), stop_after():
        lm.model(**batch.model_inputs(), use_cache=False)
    lp = torch.empty(len(prompts), lm.n_layers)
    rank = torch.empty(len(prompts), lm.n_layers, dtype=torch.long)
    for layer in range(lm.n_layers):
        lp[:, layer], rank[:, layer] = decode_rows(lm, kept.pop(layer), first)
    return {"logprob": lp, "rank": rank}


def lens_sweep(lm, prompts: list[str], answers: list[str], *, batch_size: int = 16,
               on_batch: Callable[[int], None] | None = None) -> dict[str, torch.Tensor]:
    """``lens_batch`` over batches of ``batch_size`` items (halved and retried when a batch runs out of
    device memory)."""
    parts = batches(len(prompts), batch_size, lambda s, e: lens_batch(lm, prompts[s:e], answers[s:e]),
                    key=("lens", lm.identity), on_done=on_batch)
    if not parts:
        return {"logprob": torch.empty(0, lm.n_layers), "rank": torch.empty(0, lm.n_layers, dtype=torch.long)}
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
