"""Layer lesioning: decoder layer l replaced by the identity (its input passes through).

A lesion at layer l changes nothing before l, so the intact run's layer inputs are kept once and each
lesioned run starts at layer l + 1 with the input of layer l (layers 0..l are *replayed*, not run).
``lesion_reference`` is the plain implementation (a full forward per lesioned layer) used as an oracle."""

from __future__ import annotations

from typing import Callable

import torch

from medmap.capture.hooks import identity_layer, layers_return_tuple, replay, retain_inputs
from medmap.capture.oom import batches
from medmap.capture.scoring import encode_answers, encode_forced, final_hidden, kl, score, score_final, tail_logits


def _layers_or_all(lm, layers):
    return list(range(lm.n_layers)) if layers is None else list(layers)


@torch.no_grad()
def lesion_batch(lm, prompts: list[str], answers: list[str], layers=None) -> dict[str, torch.Tensor]:
    """Scores of every (item, lesioned layer): ``logprob`` [B, n], ``correct`` [B, n], ``kl`` [B, n]
    (KL of the intact next-token distribution from the lesioned one), plus the intact ``base_*``."""
    layers = _layers_or_all(lm, layers)
    # the answers' last tokens are not run, and only the positions that predict an answer token are
    # projected onto the vocabulary (the next-token distribution for the KL is the first of them)
    ab = encode_forced(lm.tokenizer, prompts, answers)
    inputs: dict[int, torch.Tensor] = {}

    def keep(i, h):
        inputs[i] = h

    with retain_inputs(list(lm.arch.layers), keep):
        base = score_final(lm, final_hidden(lm, ab), ab.answers)
    out = {k: torch.empty(len(prompts), len(layers), dtype=torch.bool if k == "correct" else torch.float32)
           for k in ("logprob", "correct", "kl")}
    for j, l in enumerate(layers):
        with replay(lm.arch.layers, l + 1, inputs[l], as_tuple=layers_return_tuple(lm)):
            s = score_final(lm, final_hidden(lm, ab), ab.answers)
        out["logprob"][:, j] = s["logprob"]
        out["correct"][:, j] = s["correct"]
        out["kl"][:, j] = kl(base["next_logprobs"], s["next_logprobs"])
    out.update(base_logprob=base["logprob"], base_correct=base["correct"])
    return out


@torch.no_grad()
def lesion_reference(lm, prompts: list[str], answers: list[str], layers=None) -> dict[str, torch.Tensor]:
    """Oracle: one full forward per lesioned layer, the layer made an identity by a hook."""
    layers = _layers_or_all(lm, layers)
    ab = encode_answers(lm.tokenizer, prompts, answers)
    base = score(tail_logits(lm, ab), ab.answers)
    lp = torch.empty(len(prompts), len(layers))
    kls = torch.empty(len(prompts), len(layers))
    for j, l in enumerate(layers):
        with identity_layer(lm.arch.layers[l]):
            s = score(tail_logits(lm, ab), ab.answers)
        lp[:, j] = s["logprob"]
        kls[:, j] = kl(base["next_logprobs"], s["next_logprobs"])
    return {"logprob": lp, "kl": kls, "base_logprob": base["logprob"]}


def lesion_sweep(lm, prompts: list[str], answers: list[str], *, layers=None, batch_size: int = 16,
                 on_batch: Callable[[int], None] | None = None) -> dict[str, torch.Tensor]:
    """``lesion_batch`` over batches of ``batch_size`` items (halved and retried when a batch runs out
    of device memory)."""
    parts = batches(len(prompts), batch_size, lambda s, e: lesion_batch(lm, prompts[s:e], answers[s:e], layers),
                    key=("lesion", lm.identity), on_done=on_batch)
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
