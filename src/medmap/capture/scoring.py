"""Scoring reference answers: log-probability of an answer's tokens given its prompt (teacher forced),
greedy correctness, and the next-token distribution at the last prompt token. Sequences are
left-padded so every answer ends at the last position and only the last few positions' logits are
ever computed (``logits_to_keep``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from medmap.capture.batching import Batch, encode, tokenize
from medmap.capture.gradients import weights_loaded
from medmap.errors import CaptureError


def answer_tokens(tokenizer, answers: list[str]) -> list[list[int]]:
    out = []
    for a in answers:
        ids = tokenize(tokenizer, a, special=False)
        if not ids:
            raise CaptureError(f"answer {a!r} tokenises to nothing")
        out.append(ids)
    return out


@dataclass
class AnswerBatch:
    batch: Batch
    answers: list[list[int]]

    @property
    def keep(self) -> int:
        return max(len(a) for a in self.answers) + 1


def encode_answers(tokenizer, prompts: list[str], answers: list[str] | list[list[int]]) -> AnswerBatch:
    ans = answers if answers and isinstance(answers[0], list) else answer_tokens(tokenizer, answers)
    return AnswerBatch(encode(tokenizer, prompts, "left", suffixes=ans), ans)


def encode_forced(tokenizer, prompts: list[str], answers: list[str]) -> AnswerBatch:
    """Prompts followed by their answers *but each answer's last token*: teacher forcing reads the
    outputs of the last prompt token and of the answer tokens before the last, never the output of the
    last one, so it is not run (one position fewer per pass). Score with ``final_hidden`` and
    ``score_final``."""
    ans = answer_tokens(tokenizer, answers)
    return AnswerBatch(encode(tokenizer, prompts, "left", suffixes=[a[:-1] for a in ans]), ans)


def forced_lengths(tokenizer, prompts: list[str], answers: list[str]) -> list[int]:
    """Positions each item takes in an ``encode_forced`` batch (prompt tokens plus its answer's but one):
    sorting items by it before batching cuts the padding."""
    return [len(tokenize(tokenizer, p)) + len(a) - 1 for p, a in zip(prompts, answer_tokens(tokenizer, answers))]


def forced_positions(answers: list[list[int]], width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For an ``encode_forced`` batch of ``width`` positions: (row, position, target token) of every
    answer token, the positions that predict them (row b's last len(answers[b]) positions)."""
    rows = torch.tensor([b for b, a in enumerate(answers) for _ in a])
    pos = torch.tensor([width - len(a) + s for a in answers for s in range(len(a))])
    return rows, pos, torch.tensor([t for a in answers for t in a])


def final_hidden(lm, ab: AnswerBatch) -> torch.Tensor:
    """Final hidden states (after the final norm, before the unembedding) of an ``encode_forced``
    batch's last max(answer length) positions: [B, K, d]."""
    b = ab.batch.to(lm.device)
    hs = lm.model.base_model(**b.model_inputs(), use_cache=False).last_hidden_state
    return hs[:, -max(len(a) for a in ab.answers):]


def score_final(lm, h: torch.Tensor, answers: list[list[int]]) -> dict[str, torch.Tensor]:
    """``score`` from ``final_hidden``: only the positions that predict an answer token are projected
    onto the vocabulary (the sum of the answers' lengths, not rows x the longest answer + 1)."""
    rows, pos, tgt = forced_positions(answers, h.shape[1])
    z = unembed(lm, h[rows.to(h.device), pos.to(h.device)])  # [N, V] float32, contiguous rows
    tgt = tgt.to(z.device)
    logp = z - torch.logsumexp(z, -1, keepdim=True)
    first = torch.tensor([0] + [len(a) for a in answers[:-1]]).cumsum(0).to(z.device)
    lp = torch.zeros(len(answers), device=z.device).index_add_(0, rows.to(z.device), logp.gather(1, tgt[:, None])[:, 0])
    miss = torch.zeros(len(answers), device=z.device).index_add_(0, rows.to(z.device), (z.argmax(-1) != tgt).float())
    return {"logprob": lp.cpu(), "correct": (miss == 0).cpu(), "next_logprobs": logp[first].cpu()}


def unembed(lm, h: torch.Tensor, tokens: torch.Tensor | None = None) -> torch.Tensor:
    """Logits (float32) from final hidden states [N, d] (after the final norm): of every vocabulary entry,
    or only of ``tokens`` [N] (one dot product each instead of a full vocabulary projection). Final
    logit soft-capping, where the model has it, is applied. Callers pass contiguous 2-d rows: the
    model's own forward applies its head to a strided 3-d slice, which with grad on the input but not on
    the (tied) weight takes a broadcast-bmm path ten times slower than one matrix product (torch 2.13,
    CPU)."""
    head = lm.arch.unembed
    if tokens is None:  # a call of the head module: accelerate places and loads its weights as usual
        out = head(h)
    else:
        with weights_loaded(head):  # an offloaded head is loaded for reading its rows directly
            W = head.weight
            b = getattr(head, "bias", None)
            tokens = tokens.to(W.device)
            out = (h.to(W.device) * W[tokens]).sum(-1) + (b[tokens] if b is not None else 0)
    cap = getattr(lm.model.config, "final_logit_softcapping", None)
    if cap:
        out = torch.tanh(out / cap) * cap
    return out.float()


def tail_logits(lm, ab: AnswerBatch) -> torch.Tensor:
    """Logits of the last ``ab.keep`` positions: [B, keep, vocab] (float32)."""
    b = ab.batch.to(lm.device)
    try:
        out = lm.model(**b.model_inputs(), use_cache=False, logits_to_keep=ab.keep)
    except TypeError:  # models without logits_to_keep
        out = lm.model(**b.model_inputs(), use_cache=False)
    return out.logits[:, -ab.keep:].float()


def score(logits: torch.Tensor, answers: list[list[int]]) -> dict[str, torch.Tensor]:
    """From tail logits [B, K, V]: ``logprob`` [B] (sum over answer tokens), ``correct`` [B] (every
    answer token is the argmax), ``next_logprobs`` [B, V] (log-softmax at the last prompt token)."""
    B, K, _ = logits.shape
    logp = torch.log_softmax(logits, dim=-1)
    lp = torch.empty(B)
    ok = torch.empty(B, dtype=torch.bool)
    nxt = torch.empty(B, logits.shape[-1])
    for b, ans in enumerate(answers):
        n = len(ans)
        idx = torch.arange(K - n - 1, K - 1)
        tgt = torch.tensor(ans)
        lp[b] = logp[b, idx, tgt].sum().cpu()
        ok[b] = bool((logits[b, idx].argmax(-1).cpu() == tgt).all())
        nxt[b] = logp[b, K - n - 1].cpu()
    return {"logprob": lp, "correct": ok, "next_logprobs": nxt}


def kl(p_log: torch.Tensor, q_log: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row from log-probabilities."""
    return (p_log.exp() * (p_log - q_log)).sum(-1).clamp(min=0)


@torch.no_grad()
def score_answers(lm, prompts: list[str], answers: list[str], batch_size: int = 32) -> dict[str, torch.Tensor]:
    """Intact model's scores for each (prompt, answer)."""
    parts = []
    for s in range(0, len(prompts), batch_size):
        ab = encode_answers(lm.tokenizer, prompts[s:s + batch_size], answers[s:s + batch_size])
        parts.append(score(tail_logits(lm, ab), ab.answers))
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


@torch.no_grad()
def greedy(lm, prompt: str, max_new_tokens: int = 12) -> str:
    """Greedy continuation of ``prompt`` (for checks and examples)."""
    ids = lm.tokenizer(prompt, return_tensors="pt").to(lm.device)
    out = lm.model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                            pad_token_id=lm.tokenizer.pad_token_id)
    return lm.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
