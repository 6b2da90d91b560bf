"""Gradients of the answer log-likelihood with respect to the weights, reduced per layer on the fly.

Each parameter's gradient is turned into a sum (|g|, g^2 or |g*w|) the moment autograd has accumulated
it, then freed (``grad_reducers``), so memory stays near inference level: no copy of the gradients is
ever held. Only decoder-layer attention and MLP weights require gradients during the pass."""

from __future__ import annotations

from contextlib import contextmanager

import torch

from medmap.capture.hooks import grad_reducers
from medmap.capture.scoring import encode_answers, unembed

STATS = ("mean_abs", "l2", "grad_x_weight")


@contextmanager
def _only_grads_for(model, params):
    keep = {id(p) for p in params}
    before = {id(p): p.requires_grad for p in model.parameters()}
    try:
        for p in model.parameters():
            p.requires_grad_(id(p) in keep)
        yield
    finally:
        for p in model.parameters():
            p.requires_grad_(before[id(p)])
            p.grad = None


def layer_gradient_sums(lm, prompts: list[str], answers: list[str], stat: str = "mean_abs") -> dict[str, torch.Tensor]:
    """For one batch: loss = mean over items of the answer's negative log-likelihood (summed over its
    tokens). Returns ``sums`` [L, 2] (attention, MLP) of the chosen per-element statistic and ``counts``
    [L, 2] (number of weights)."""
    if stat not in STATS:
        raise ValueError(f"unknown saliency statistic '{stat}': choose from {', '.join(STATS)}")
    arch = lm.arch
    L = arch.n_layers
    sums = torch.zeros(L, 2, dtype=torch.float64)
    counts = torch.zeros(L, 2, dtype=torch.float64)
    targets = []
    for i in range(L):
        for k, kind in enumerate(("attention", "mlp")):
            for _, p in arch.layer_params(i, kind):
                counts[i, k] += p.numel()
                targets.append((p, i, k))

    def make(i, k):
        def reduce(g, p):
            with torch.no_grad():
                if stat == "mean_abs":
                    v = torch.linalg.vector_norm(g, 1)
                elif stat == "l2":
                    v = torch.linalg.vector_norm(g.float(), 2) ** 2
                else:
                    v = (g * p).abs().sum()
            sums[i, k] += float(v)
        return reduce

    ab = encode_answers(lm.tokenizer, prompts, answers)
    b = ab.batch.to(lm.device)
    with _only_grads_for(lm.model, [t[0] for t in targets]), \
            grad_reducers([(p, make(i, k)) for p, i, k in targets]):
        K = ab.keep
        hs = lm.model.base_model(**b.model_inputs(), use_cache=False).last_hidden_state
        h = hs[:, -K:].reshape(-1, hs.shape[-1])  # contiguous rows: see scoring.unembed
        logp = torch.log_softmax(unembed(lm, h).view(hs.shape[0], K, -1), -1)
        nll = []
        for r, ans in enumerate(ab.answers):
            n = len(ans)
            idx = torch.arange(K - n - 1, K - 1, device=logp.device)
            nll.append(-logp[r, idx, torch.tensor(ans, device=logp.device)].sum())
        loss = torch.stack(nll).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError("non-finite loss in saliency")
        loss.backward()
        del hs, h, logp, loss
    return {"sums": sums, "counts": counts}


def finish(sums: torch.Tensor, counts: torch.Tensor, stat: str) -> torch.Tensor:
    """Per-layer [L, 3] (attention, MLP, both) from gradient sums: mean |g|, RMS g (for 'l2': the
    L2 norm divided by sqrt(number of weights), comparable across layers of different sizes), mean |g*w|."""
    both_s = sums.sum(1, keepdim=True)
    both_c = counts.sum(1, keepdim=True)
    s = torch.cat([sums, both_s], 1)
    c = torch.cat([counts, both_c], 1)
    return (s / c).sqrt() if stat == "l2" else s / c
