"""Tokenising prompts into padded batches with explicit position ids.

Position ids are computed from the attention mask (0 at each row's first real token), so a padded row
sees exactly the positions it would see alone, with left or right padding and with absolute (GPT-2)
or rotary position embeddings alike."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from medmap.errors import ConfigError


@dataclass
class Batch:
    input_ids: torch.Tensor
    """[B, T] token ids, padded."""
    attention_mask: torch.Tensor
    """[B, T] 1 for real tokens."""
    position_ids: torch.Tensor
    """[B, T] positions counted from each row's first real token."""
    last_index: torch.Tensor
    """[B] index of each row's last real token."""
    span_mask: torch.Tensor | None = None
    """[B, T] 1 on the tokens of the item's concept span (for span pooling)."""

    def to(self, device) -> "Batch":
        return Batch(*(None if t is None else t.to(device) for t in
                       (self.input_ids, self.attention_mask, self.position_ids, self.last_index, self.span_mask)))

    def model_inputs(self) -> dict:
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask, "position_ids": self.position_ids}


def positions_from_mask(mask: torch.Tensor) -> torch.Tensor:
    pos = mask.long().cumsum(-1) - 1
    return pos.clamp(min=0)


def pad_ids(seqs: list[list[int]], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids [N, W], mask [N, W]) of token sequences padded with ``pad_id`` on ``side`` ('left' or 'right')
    to the longest one's length W; mask 1 on real tokens."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if side == "left":
            ids[i, width - len(s):] = torch.tensor(s)
            mask[i, width - len(s):] = 1
        else:
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
    return ids, mask


def length_order(lengths) -> tuple[np.ndarray, np.ndarray]:
    """(order, back): the items sorted by length (stable), so that batches of neighbours pad little (a
    batch runs at its longest item's length), and the permutation that puts results back in item order."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return order, np.argsort(order)


def tokenize(tokenizer, text: str, special: bool = True) -> list[int]:
    return list(tokenizer(text, add_special_tokens=special)["input_ids"])


def span_token_mask(tokenizer, prompt: str, span: str | None, n_tokens: int) -> list[int]:
    """1 on the prompt tokens that overlap the (last) occurrence of ``span``; all ones without a span."""
    if not span:
        return [1] * n_tokens
    enc = tokenizer(prompt, add_special_tokens=True, return_offsets_mapping=True)
    start = prompt.rfind(span)
    end = start + len(span)
    out = [1 if (a < end and b > start and b > a) else 0 for a, b in enc["offset_mapping"]]
    return out if any(out) else [1] * n_tokens


def encode(tokenizer, prompts: list[str], padding_side: str = "left", spans: list[str | None] | None = None,
           suffixes: list[list[int]] | None = None) -> Batch:
    """Batch ``prompts`` (with BOS etc. as the tokenizer adds them), optionally followed by token-id
    ``suffixes`` (answers). ``last_index`` points at the last token of the prompt itself."""
    if padding_side not in ("left", "right"):
        raise ConfigError(f"padding_side must be 'left' or 'right', not {padding_side!r}")
    seqs = [tokenize(tokenizer, p) for p in prompts]
    n_prompt = [len(s) for s in seqs]
    if suffixes is not None:
        seqs = [s + list(x) for s, x in zip(seqs, suffixes)]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids, mask = pad_ids(seqs, pad, padding_side)
    width = ids.shape[1]
    if padding_side == "left":
        last = torch.tensor([width - len(s) + n - 1 for s, n in zip(seqs, n_prompt)])
    else:
        last = torch.tensor([n - 1 for n in n_prompt])
    span_mask = None
    if spans is not None:
        rows = []
        for p, sp, s, n in zip(prompts, spans, seqs, n_prompt):
            m = span_token_mask(tokenizer, p, sp, n) + [0] * (len(s) - n)
            rows.append(m)
        span_mask, _ = pad_ids(rows, 0, padding_side)
    return Batch(ids, mask, positions_from_mask(mask), last, span_mask)
