"""Gradients of the answer log-likelihood with respect to the weights, reduced per layer on the fly.

Each parameter's gradient is turned into a sum (|g|, g^2 or |g*w|) the moment autograd has accumulated
it, then freed (``grad_reducers``): no copy of the gradients is ever held. What autograd would keep
for the backward pass is one hidden state per layer (``recompute``: each layer runs again in backward),
and the items run packed several to a row (``packing``), so no padding runs through the layers. On 16
few-shot prompts (``benchmarks/saliency.py``) the peak memory is about inference's, at about 2.5 plain
forwards; keeping every activation instead (``recompute=False``) takes about 1.6 x inference's memory.
Only decoder-layer attention and MLP weights require gradients during the pass."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import torch

from medmap.capture.gradients import grad_reducers, recompute_layers
from medmap.capture.packing import pack_forced, packs
from medmap.capture.scoring import encode_forced, forced_positions, unembed
from medmap.errors import ConfigError, NumericalError

STATS = ("mean_abs", "l2", "grad_x_weight")


@contextmanager
def _only_grads_for(model, params):
    """Only ``params`` require gradients inside. Parameters are restored by name: under accelerate
    offload a parameter object is replaced at every call of its module."""
    keep = {id(p) for p in params}
    before = {n: p.requires_grad for n, p in model.named_parameters()}
    try:
        for p in model.parameters():
            p.requires_grad_(id(p) in keep)
        yield
    finally:
        for n, p in model.named_parameters():
            p.requires_grad_(before.get(n, p.requires_grad))
            p.grad = None


def layer_gradient_sums(lm, prompts: list[str], answers: list[str], stat: str = "mean_abs",
                        micro_batch: int | None = None, recompute: bool = True,
                        pack: bool = True) -> dict[str, torch.Tensor]:
    """For one group: loss = mean over items of the answer's negative log-likelihood (summed over its
    tokens). Returns ``sums`` [L, 2] (attention, MLP) of the chosen per-element statistic of the
    group's gradient and ``counts`` [L, 2] (number of weights).

    ``micro_batch`` (fewer items than the group; used when the group does not fit in memory) runs the
    group in parts: each part's gradient (of its share of the group's loss) is added up in float32 on
    the CPU and the statistic is taken of the sum, so the result is the group's, whatever the split
    (|g| is not additive: reducing each part separately would change the numbers).

    ``recompute`` keeps only each layer's input for backward, which runs the layer again
    (``gradients.recompute_layers``); ``pack`` runs the items several to a row where the model keeps
    them apart (``packing.packs``). Both give the same gradients up to float rounding (the oracle tests);
    turning them off trades memory for time on short prompts, where the fixed cost of a backward pass
    dominates (``benchmarks/saliency.py --domain symptoms``)."""
    if stat not in STATS:
        raise ConfigError(f"unknown saliency statistic '{stat}': choose from {', '.join(STATS)}")
    pack = pack and packs(lm)  # checked before any gradient is taken
    arch = lm.arch
    L = arch.n_layers
    sums = torch.zeros(L, 2, dtype=torch.float64)
    counts = torch.zeros(L, 2, dtype=torch.float64)
    targets = []
    for i in range(L):
        for k, kind in enumerate(("attention", "mlp")):
            for name, p in arch.layer_params(i, kind):
                counts[i, k] += p.numel()
                owner, _, attr = name.rpartition(".")
                targets.append((p, arch.layers[i].get_submodule(owner), attr, i, k))

    def reduce_into(i, k, g, weight):
        with torch.no_grad():
            if stat == "mean_abs":
                v = torch.linalg.vector_norm(g, 1)
            elif stat == "l2":
                v = torch.linalg.vector_norm(g.float(), 2) ** 2
            else:
                v = (g * weight().to(g.device)).abs().sum()
        sums[i, k] += float(v)

    n = len(prompts)
    step = n if not micro_batch or micro_batch >= n else int(micro_batch)
    split = step < n
    acc: dict[int, list] = {}
    """target -> [sum of the parts' gradients (float32, CPU), weight loader]"""

    def make(j, i, k):
        def reduce(g, weight):
            if not split:
                reduce_into(i, k, g, weight)
                return
            with torch.no_grad():
                if j in acc:
                    acc[j][0].add_(g.to("cpu", torch.float32))
                else:
                    acc[j] = [g.to("cpu", torch.float32, copy=True), weight]
        return reduce

    with _only_grads_for(lm.model, [t[0] for t in targets]), \
            grad_reducers([(m, a, make(j, i, k)) for j, (_, m, a, i, k) in enumerate(targets)], lm.model), \
            (recompute_layers(arch.layers, lm.model) if recompute else nullcontext()):
        for s in range(0, n, step):
            loss = _summed_nll(lm, prompts[s:s + step], answers[s:s + step], pack) / n  # a part: its share
            if not torch.isfinite(loss):
                raise NumericalError(f"saliency: non-finite loss of '{lm.name}' on a group of {len(prompts)} item(s) "
                                     "(an overflow in a low-precision dtype? try --dtype float32)")
            loss.backward()
            del loss
    for j, (g, weight) in acc.items():
        _, _, _, i, k = targets[j]
        reduce_into(i, k, g, lambda w=weight: w().to("cpu", torch.float32))
    return {"sums": sums, "counts": counts}


def _summed_nll(lm, prompts: list[str], answers: list[str], pack: bool) -> torch.Tensor:
    """The answers' negative log-likelihood, summed over items, from one forward pass. The answers' last
    tokens are not run (no loss term reads their output), only the positions that predict an answer
    token are projected onto the vocabulary, and with ``pack`` the items are packed several to a row
    (``packing``): little padding runs through the layers."""
    base = lm.model.base_model
    if pack:
        pb = pack_forced(lm.tokenizer, prompts, answers)
        hs = base(**pb.model_inputs(lm.device), use_cache=False).last_hidden_state
        rows, pos, tgt = pb.rows, pb.pos, pb.targets
    else:
        ab = encode_forced(lm.tokenizer, prompts, answers)
        hs = base(**ab.batch.to(lm.device).model_inputs(), use_cache=False).last_hidden_state
        rows, pos, tgt = forced_positions(ab.answers, hs.shape[1])
    z = unembed(lm, hs[rows.to(hs.device), pos.to(hs.device)])  # contiguous rows: see scoring.unembed
    return -(z.gather(1, tgt.to(z.device)[:, None])[:, 0] - torch.logsumexp(z, -1)).sum()


def finish(sums: torch.Tensor, counts: torch.Tensor, stat: str) -> torch.Tensor:
    """Per-layer [L, 3] (attention, MLP, both) from gradient sums: mean |g|, RMS g (for 'l2': the
    L2 norm divided by sqrt(number of weights), comparable across layers of different sizes), mean |g*w|."""
    both_s = sums.sum(1, keepdim=True)
    both_c = counts.sum(1, keepdim=True)
    s = torch.cat([sums, both_s], 1)
    c = torch.cat([counts, both_c], 1)
    return (s / c).sqrt() if stat == "l2" else s / c
