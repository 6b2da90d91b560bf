"""Gradients of the answer log-likelihood with respect to the weights, reduced per layer on the fly.

Each parameter's gradient is turned into a sum (|g|, g^2 or |g*w|) the moment autograd has accumulated
it, then freed (``grad_reducers``): no copy of the gradients is ever held. The activations autograd
keeps for the backward pass are held within a budget (``ACTIVATION_BUDGET`` of the weights' bytes):
layers beyond it keep only their input and run again in backward (``rerun_layers``), and the items
run packed several to a row (``packing``), so little padding runs through the layers. Only
decoder-layer attention and MLP weights require gradients during the pass."""

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


def _grad_params(arch):
    """(layer, 0 attention / 1 MLP, name, parameter) of every weight saliency takes the gradient of."""
    for i in range(arch.n_layers):
        for k, kind in enumerate(("attention", "mlp")):
            for name, p in arch.layer_params(i, kind):
                yield i, k, name, p


def layer_gradient_sums(lm, prompts: list[str], answers: list[str], stat: str = "mean_abs",
                        micro_batch: int | None = None, recompute: bool | None = None,
                        pack: bool = True) -> dict[str, torch.Tensor]:
    """For one group: loss = mean over items of the answer's negative log-likelihood (summed over its
    tokens). Returns ``sums`` [L, 2] (attention, MLP) of the chosen per-element statistic of the
    group's gradient and ``counts`` [L, 2] (number of weights).

    ``micro_batch`` (fewer items than the group; used when the group does not fit in memory) runs the
    group in parts: each part's gradient (of its share of the group's loss) is added up in float32 on
    the CPU and the statistic is taken of the sum, so the result is the group's, whatever the split
    (|g| is not additive: reducing each part separately would change the numbers).

    ``recompute``: how many layers keep only their input for backward, which runs them again
    (``gradients.recompute_layers``): by default (None) as many as needed to keep the activations within
    ``ACTIVATION_BUDGET`` (``rerun_layers``); True: every layer but the last; False: none (fastest, and
    memory grows with the prompts). ``pack`` runs the items several to a row where the model keeps them
    apart (``packing.packs``). Both give the same gradients up to float rounding (the oracle tests)."""
    if stat not in STATS:
        raise ConfigError(f"unknown saliency statistic '{stat}': choose from {', '.join(STATS)}")
    pack = pack and packs(lm)  # checked before any gradient is taken
    arch = lm.arch
    L = arch.n_layers
    sums = torch.zeros(L, 2, dtype=torch.float64)
    counts = torch.zeros(L, 2, dtype=torch.float64)
    targets = []
    for i, k, name, p in _grad_params(arch):
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

    parts = [_forced(lm, prompts[s:s + step], answers[s:s + step], pack) for s in range(0, n, step)]
    if recompute is None:
        rerun = rerun_layers(lm, max(p[0]["input_ids"].numel() for p in parts))
    else:
        rerun = L - 1 if recompute else 0
    with _only_grads_for(lm.model, [t[0] for t in targets]), \
            grad_reducers([(m, a, make(j, i, k)) for j, (_, m, a, i, k) in enumerate(targets)], lm.model), \
            (recompute_layers(list(arch.layers)[:rerun], lm.model) if rerun else nullcontext()):
        for part in parts:
            loss = _summed_nll(lm, *part) / n  # a part: its share of the group's loss
            if not torch.isfinite(loss):
                raise NumericalError(f"saliency: non-finite loss of '{lm.name}' on a group of {len(prompts)} item(s) "
                                     "(an overflow in a low-precision dtype? try --dtype float32)")
            loss.backward()
            del loss
    for j, (g, weight) in acc.items():
        _, _, _, i, k = targets[j]
        reduce_into(i, k, g, lambda w=weight: w().to("cpu", torch.float32))
    return {"sums": sums, "counts": counts}


ACTIVATION_BUDGET = 0.4
"""What saliency's activations may take, as a fraction of the model's weights: inference holds at least
the weights, so saliency's peak stays within about 1.4 x inference's (``benchmarks/saliency.py``). Layers
whose activations do not fit run again in backward instead (``rerun_layers``)."""


def rerun_layers(lm, positions: int, budget: float = ACTIVATION_BUDGET) -> int:
    """How many decoder layers, from the first, keep only their input for backward (and run again
    there) so that the activations of ``positions`` token positions stay within ``budget`` x the
    weights' bytes; the others keep what autograd saves (``saved_bytes``). The last layer is always
    kept (its rerun would follow its forward at once)."""
    per_layer = positions * saved_bytes(lm)
    weights = sum(p.numel() * p.element_size() for p in lm.model.parameters())
    kept = max(1, min(lm.n_layers, int(budget * weights // per_layer))) if per_layer else lm.n_layers
    return lm.n_layers - kept


def saved_bytes(lm, positions: int = 16) -> float:
    """Bytes autograd saves for backward per decoder layer and token position in a saliency pass,
    measured once per model (and remembered on ``lm``) on a pass over ``positions`` tokens with only the
    layers' attention and MLP weights requiring gradients: every distinct storage it saves but the
    weights, divided by layers x positions. Measured rather than computed from the config, because what
    autograd keeps depends on the architecture (smollm2-135m: 40 kB, 17.4 hidden vectors; gemma3-270m:
    70 kB, 27.2; both within 20% of a pass over ~70 positions, the tests)."""
    if not hasattr(lm, "_saved_bytes"):
        weights_at = {p.untyped_storage().data_ptr() for p in lm.model.parameters()}
        seen: dict[int, int] = {}

        def count(t):
            ptr = t.untyped_storage().data_ptr()
            if ptr not in weights_at:
                seen[ptr] = max(seen.get(ptr, 0), t.untyped_storage().nbytes())
            return t

        vocab = lm.model.get_input_embeddings().num_embeddings
        ids = (torch.arange(positions) + 5) % vocab
        with _only_grads_for(lm.model, [p for *_, p in _grad_params(lm.arch)]), torch.enable_grad(), \
                torch.autograd.graph.saved_tensors_hooks(count, lambda t: t):
            lm.model.base_model(input_ids=ids[None].to(lm.device), use_cache=False)
        lm._saved_bytes = sum(seen.values()) / lm.n_layers / positions
    return lm._saved_bytes


def _forced(lm, prompts: list[str], answers: list[str], pack: bool) -> tuple[dict, torch.Tensor, torch.Tensor,
                                                                             torch.Tensor]:
    """Model inputs of the items (the answers' last tokens are not run: no loss term reads their output)
    and the (row, position, target) of every answer token. With ``pack`` the items are packed several
    to a row (``packing``), so little padding runs through the layers."""
    if pack:
        pb = pack_forced(lm.tokenizer, prompts, answers)
        return pb.model_inputs(lm.device), pb.rows, pb.pos, pb.targets
    ab = encode_forced(lm.tokenizer, prompts, answers)
    return (ab.batch.to(lm.device).model_inputs(),) + forced_positions(ab.answers, ab.batch.input_ids.shape[1])


def _summed_nll(lm, inputs: dict, rows: torch.Tensor, pos: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """The answers' negative log-likelihood, summed over items, from one forward pass; only the
    positions that predict an answer token are projected onto the vocabulary."""
    hs = lm.model.base_model(**inputs, use_cache=False).last_hidden_state
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
