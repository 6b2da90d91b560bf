"""A batch that runs out of device memory is halved and retried, gives the numbers of the run that
fitted, and the size that worked is used for the rest of the run. The out-of-memory error is faked on
the CPU: the embedding raises torch.OutOfMemoryError when it is given more rows than a limit."""

import numpy as np
import pytest
import torch

from medmap.analyses.causal import CausalOptions, pair_scores, saliency
from medmap.capture import capture
from medmap.capture.lesion import lesion_sweep
from medmap.capture.oom import REMEMBERED, batches, with_halving
from medmap.capture.patching import Pair
from medmap.capture.saliency import finish, layer_gradient_sums
from medmap.concepts import load_builtin
from medmap.errors import CaptureError

PROMPTS = ["The first-line drug for type 2 diabetes is", "Chest pain points to the", "A 17 year old patient",
           "Fever and cough suggest", "Aspirin inhibits", "The kidney filters", "Insulin lowers"]
ANSWERS = [" metformin", " heart", " is", " flu", " COX", " blood", " glucose"]
PAIRS = [Pair("Crushing chest pain on exertion: angina", "Productive cough with fever: angina", " heart", " lung"),
         Pair("A 16-year-old patient is", "A 56-year-old patient is", " a minor", " an adult"),
         Pair("Dose of insulin: 10", "Dose of aspirin: 75", " units", " mg")] * 2


@pytest.fixture(autouse=True)
def fresh_sizes():
    REMEMBERED.reset()
    yield
    REMEMBERED.reset()


@pytest.fixture
def fake_oom(monkeypatch):
    """``limit(lm, n)``: from now on ``lm``'s embedding raises OOM on more than ``n`` rows. Returns the
    list of the row counts that raised."""
    raised = []

    def limit(lm, n):
        emb = lm.arch.embed
        forward = emb.forward

        def guarded(input_ids, *a, **k):
            if input_ids.shape[0] > n:
                raised.append(int(input_ids.shape[0]))
                raise torch.OutOfMemoryError(f"CUDA out of memory (fake: {input_ids.shape[0]} rows > {n})")
            return forward(input_ids, *a, **k)

        monkeypatch.setattr(emb, "forward", guarded)
        return raised

    return limit


def test_capture_halves_remembers_and_gives_the_same_tensor(tiny_llama, fake_oom):
    ref = capture(tiny_llama, PROMPTS, batch_size=8)
    raised = fake_oom(tiny_llama, 2)
    done = []
    got = capture(tiny_llama, PROMPTS, batch_size=8, on_batch=done.append)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    assert raised[:2] == [7, 3] and sum(done) == len(PROMPTS)  # 8 -> 7 items, then 3, then 1: fits
    assert REMEMBERED.get(("capture", tiny_llama.identity)) == 1
    raised.clear()
    torch.testing.assert_close(capture(tiny_llama, PROMPTS, batch_size=8), ref, rtol=1e-5, atol=1e-6)
    assert raised == []  # the next call starts at the size that worked


def test_lesion_halves_to_what_fits(tiny_llama, fake_oom):
    ref = lesion_sweep(tiny_llama, PROMPTS, ANSWERS, batch_size=8)
    raised = fake_oom(tiny_llama, 4)
    got = lesion_sweep(tiny_llama, PROMPTS, ANSWERS, batch_size=8)
    assert raised == [7]
    assert REMEMBERED.get(("lesion", tiny_llama.identity)) == 3
    for k in ref:
        torch.testing.assert_close(got[k].float(), ref[k].float(), rtol=1e-5, atol=1e-5)


def test_patching_halves_and_keeps_the_scores(tiny_llama, fake_oom):
    o = CausalOptions(batch_size=6)
    ref = pair_scores(tiny_llama, PAIRS, o)
    rows_one_pair = 2 * 2  # a patched step: per pair, patch_last's default group of 2 layers x both answers
    raised = fake_oom(tiny_llama, 2 * rows_one_pair)
    got = pair_scores(tiny_llama, PAIRS, o)
    assert raised and REMEMBERED.get(("patching", tiny_llama.identity)) == 1  # 6 -> 3 -> 1 pairs
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=1e-5, atol=1e-5)


def test_saliency_split_group_gives_the_group_gradient(tiny_llama):
    for stat in ("mean_abs", "l2", "grad_x_weight"):
        whole = layer_gradient_sums(tiny_llama, PROMPTS, ANSWERS, stat)
        parts = layer_gradient_sums(tiny_llama, PROMPTS, ANSWERS, stat, micro_batch=2)
        torch.testing.assert_close(finish(**parts, stat=stat), finish(**whole, stat=stat), rtol=1e-5, atol=1e-9)
    # reducing each part on its own (what halving the group would naively do) gives other numbers
    whole = layer_gradient_sums(tiny_llama, PROMPTS, ANSWERS)["sums"]
    a = layer_gradient_sums(tiny_llama, PROMPTS[:2], ANSWERS[:2])["sums"] * 2 / 7
    b = layer_gradient_sums(tiny_llama, PROMPTS[2:], ANSWERS[2:])["sums"] * 5 / 7
    assert not torch.allclose(a + b, whole, rtol=1e-3)


def test_saliency_groups_survive_oom_with_the_same_scores(tiny_llama, fake_oom):
    cs = load_builtin("symptoms").subset(lambda it: it.template == "t0" and it.answer is not None)
    o = CausalOptions(max_items=8, saliency_group=4, n_boot=20)
    ref = saliency(tiny_llama, cs, o)
    raised = fake_oom(tiny_llama, 1)
    got = saliency(tiny_llama, cs, o)
    assert raised[:2] == [4, 2] and REMEMBERED.get(("saliency", tiny_llama.identity)) == 1
    np.testing.assert_allclose(got["value"].to_numpy(), ref["value"].to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(got["ci_low"].to_numpy(), ref["ci_low"].to_numpy(), rtol=1e-5)


def test_one_item_that_does_not_fit_is_a_clear_error(tiny_llama, fake_oom):
    fake_oom(tiny_llama, 0)
    with pytest.raises(CaptureError, match=r"capture: out of device memory even with a batch of 1.*--dtype bfloat16"):
        capture(tiny_llama, PROMPTS[:3], batch_size=4)


def test_other_errors_are_not_retried():
    calls = []

    def boom(s, e):
        calls.append(e - s)
        raise ValueError("not memory")

    with pytest.raises(ValueError, match="not memory"):
        batches(10, 8, boom, key="x")
    assert calls == [8]
    assert with_halving("y", 4, lambda n: n) == 4 and REMEMBERED.get("y") is None
