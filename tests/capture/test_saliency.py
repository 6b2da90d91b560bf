import pytest
import torch

from medmap.capture.saliency import finish, layer_gradient_sums
from medmap.capture.scoring import encode_answers

PROMPTS = ["The first-line drug for type 2 diabetes is", "Chest pain points to the"]
ANSWERS = [" metformin", " heart"]


def _full_autograd(lm, prompts=PROMPTS, answers=ANSWERS):
    """Oracle: ordinary autograd on every parameter, reduced afterwards."""
    model = lm.model
    model.zero_grad(set_to_none=True)
    ab = encode_answers(lm.tokenizer, prompts, answers)
    out = model(**ab.batch.model_inputs(), use_cache=False)
    logp = torch.log_softmax(out.logits.float(), -1)
    T = logp.shape[1]
    nll = []
    for r, ans in enumerate(ab.answers):
        n = len(ans)
        idx = torch.arange(T - n - 1, T - 1)
        nll.append(-logp[r, idx, torch.tensor(ans)].sum())
    torch.stack(nll).mean().backward()
    L = lm.n_layers
    sums = torch.zeros(L, 2, dtype=torch.float64)
    counts = torch.zeros(L, 2, dtype=torch.float64)
    for i in range(L):
        for k, kind in enumerate(("attention", "mlp")):
            for _, p in lm.arch.layer_params(i, kind):
                sums[i, k] += float(p.grad.abs().sum())
                counts[i, k] += p.numel()
    model.zero_grad(set_to_none=True)
    return finish(sums, counts, "mean_abs")


def test_saliency_equals_full_autograd(tiny):
    r = layer_gradient_sums(tiny, PROMPTS, ANSWERS, "mean_abs")
    got = finish(r["sums"], r["counts"], "mean_abs")
    torch.testing.assert_close(got, _full_autograd(tiny), rtol=1e-4, atol=1e-9)
    assert all(p.grad is None for p in tiny.model.parameters())
    assert all(p.requires_grad for p in tiny.model.parameters())


def test_prompts_of_different_lengths_give_the_oracle_gradient(tiny_llama):
    """Short prompts beside long ones, packed several to a row or padded (left padding, positions from
    the mask), with and without recomputation."""
    long = "Patient history: " + "fever and cough for many days, then chest pain and fatigue; " * 4
    prompts = ["Chest pain points to the", "Fever:"] + [long + p for p in PROMPTS]
    answers = [" heart", " flu"] + ANSWERS
    want = _full_autograd(tiny_llama, prompts, answers)
    for recompute in (False, True):
        for pack in (False, True):
            r = layer_gradient_sums(tiny_llama, prompts, answers, "mean_abs", recompute=recompute, pack=pack)
            torch.testing.assert_close(finish(r["sums"], r["counts"], "mean_abs"), want, rtol=1e-4, atol=1e-9)


def test_saliency_statistics_differ(tiny_llama):
    vals = {}
    for stat in ("mean_abs", "l2", "grad_x_weight"):
        r = layer_gradient_sums(tiny_llama, PROMPTS, ANSWERS, stat)
        vals[stat] = finish(r["sums"], r["counts"], stat)
        assert (vals[stat] > 0).all()
    assert not torch.allclose(vals["mean_abs"], vals["l2"])


def test_recomputation_gives_the_same_gradients(tiny, monkeypatch):
    """``recompute`` reruns every layer but the last in backward (their MLPs run twice; the MLP's forward
    is counted, since module hooks did not fire in a recomputation on most tiny architectures) and gives
    the gradients of the plain pass; the layers are left as they were."""
    layers = tiny.arch.layers
    n = [0]
    for layer in layers:
        def counted(*args, forward=layer.mlp.forward, **kwargs):
            n[0] += 1
            return forward(*args, **kwargs)
        monkeypatch.setattr(layer.mlp, "forward", counted)
    got, calls = {}, {}
    for recompute in (False, True):
        n[0] = 0
        got[recompute] = layer_gradient_sums(tiny, PROMPTS, ANSWERS, "mean_abs", recompute=recompute)
        calls[recompute] = n[0]
    assert calls == {False: len(layers), True: 2 * len(layers) - 1}
    torch.testing.assert_close(got[True]["sums"], got[False]["sums"], rtol=1e-6, atol=0)
    assert all("forward" not in layer.__dict__ for layer in layers)


def test_rerun_layers_keeps_the_activations_within_the_budget(tiny_llama):
    """The layers that keep their activations hold at most the budget, one more would not fit, and the
    last layer is always kept."""
    from medmap.capture.saliency import rerun_layers, saved_bytes

    lm = tiny_llama
    L = lm.n_layers
    per_position = saved_bytes(lm)
    weights = sum(p.numel() * p.element_size() for p in lm.model.parameters())
    for positions in (1, 10, 100, 1000, 10**6):
        kept = L - rerun_layers(lm, positions, budget=0.4)
        assert 1 <= kept <= L
        if kept > 1:
            assert kept * positions * per_position <= 0.4 * weights
        if kept < L:
            assert (kept + 1) * positions * per_position > 0.4 * weights
    assert rerun_layers(lm, 1, budget=1e9) == 0 and rerun_layers(lm, 10**9) == L - 1


def _saved_per_layer_position(lm, prompts, answers):
    """Bytes autograd saves in a plain saliency pass (distinct storages, weights excluded) per layer and
    padded position: the oracle of ``saved_bytes``."""
    from medmap.capture.scoring import encode_forced

    weights_at = {p.untyped_storage().data_ptr() for p in lm.model.parameters()}
    seen = {}

    def keep(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in weights_at:
            seen[ptr] = max(seen.get(ptr, 0), t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        layer_gradient_sums(lm, prompts, answers, recompute=False, pack=False)
    positions = encode_forced(lm.tokenizer, prompts, answers).batch.input_ids.numel()
    return sum(seen.values()) / lm.n_layers / positions


LONG = ["Patient history: fever and cough for many days, then chest pain. " * 3 + p for p in PROMPTS]


@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_saved_bytes_matches_a_real_pass_of_the_bundled_models(name):
    """Measured on 16 positions of one row, against a pass over two prompts of ~70 positions (whose
    attention masks and vocabulary rows add a little), within 20%. (On the tiny test models the
    vocabulary rows and masks outweigh their 32-wide layers, so the comparison is made on real ones.)"""
    from real import real_model

    from medmap.capture.saliency import saved_bytes

    lm = real_model(name)
    got, want = saved_bytes(lm), _saved_per_layer_position(lm, LONG, ANSWERS)
    assert 0.8 * want <= got <= 1.2 * want, (got, want)
