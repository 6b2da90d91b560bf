import torch

from medmap.capture.lesion import lesion_batch, lesion_reference, lesion_sweep
from medmap.capture.scoring import score_answers

PROMPTS = ["The first-line drug for type 2 diabetes is", "Chest pain points to the", "A 17-year-old is"]
ANSWERS = [" metformin", " heart", " a minor"]


def test_fast_lesion_equals_reference(tiny):
    fast = lesion_batch(tiny, PROMPTS, ANSWERS)
    ref = lesion_reference(tiny, PROMPTS, ANSWERS)
    torch.testing.assert_close(fast["logprob"], ref["logprob"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fast["kl"], ref["kl"], atol=1e-4, rtol=1e-4)


def test_lesion_of_nothing_equals_baseline(tiny_llama):
    base = score_answers(tiny_llama, PROMPTS, ANSWERS)
    out = lesion_sweep(tiny_llama, PROMPTS, ANSWERS, layers=[], batch_size=2)
    torch.testing.assert_close(out["base_logprob"], base["logprob"], atol=1e-5, rtol=1e-5)
    assert out["logprob"].shape == (3, 0)


def test_lesion_changes_the_answer_scores(tiny_llama):
    out = lesion_batch(tiny_llama, PROMPTS, ANSWERS)
    assert (out["kl"] > 1e-6).all()
    assert not torch.allclose(out["logprob"], out["base_logprob"][:, None].expand_as(out["logprob"]))


def test_forced_scores_equal_full_teacher_forcing(tiny):
    """Oracle for ``score_final``: leaving the answers' last token out and projecting only the positions
    that predict an answer token gives the scores of the full teacher-forced pass."""
    from medmap.capture.scoring import encode_answers, encode_forced, final_hidden, score, score_final, tail_logits

    prompts, answers = PROMPTS + ["x"], ANSWERS + [" y"]  # answers of 1 to 9 tokens, a one-token prompt
    with torch.no_grad():
        ab = encode_answers(tiny.tokenizer, prompts, answers)
        ref = score(tail_logits(tiny, ab), ab.answers)
        fb = encode_forced(tiny.tokenizer, prompts, answers)
        got = score_final(tiny, final_hidden(tiny, fb), fb.answers)
    torch.testing.assert_close(got["logprob"], ref["logprob"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got["next_logprobs"], ref["next_logprobs"], atol=1e-4, rtol=1e-4)
    assert torch.equal(got["correct"], ref["correct"])


def test_lesion_scores_in_length_order_are_each_items_own(tiny_llama):
    """``lesion_scores`` batches the items by length and gives the scores back in the items' order: each
    item's scores equal the plain one-forward-per-layer oracle run on that item alone."""
    from medmap.analyses.causal import lesion_scores

    prompts = PROMPTS + ["Wheezing in a child who coughs at night suggests", "Insulin lowers blood"]
    answers = ANSWERS + [" asthma", " glucose levels in the body"]
    got = lesion_scores(tiny_llama, prompts, answers, 2)
    for i, (p, a) in enumerate(zip(prompts, answers)):
        ref = lesion_reference(tiny_llama, [p], [a])
        torch.testing.assert_close(got["logprob"][i], ref["logprob"][0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(got["kl"][i], ref["kl"][0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(got["base_logprob"][i], ref["base_logprob"][0], atol=1e-4, rtol=1e-4)
