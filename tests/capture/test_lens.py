"""The logit lens: at the last decoder layer it is the model's own next-token distribution (every
architecture, soft-capping and final norms included); its rank agrees with its log-probability; it
does not depend on padding; and the analysis turns it into per-layer curves with CIs."""

import numpy as np
import pytest
import torch

from medmap.capture.lens import lens_batch, lens_sweep
from medmap.capture.scoring import answer_tokens, encode_answers, score, tail_logits

PROMPTS = ["The first-line drug for type 2 diabetes is", "Chest pain points to the", "A 17-year-old is",
           "Paris is the capital of"]
ANSWERS = [" metformin", " heart", " a minor", " France"]


def _own_first_token(lm, prompts, answers):
    """The model's own log-probability (and rank) of each answer's first token after its prompt."""
    ab = encode_answers(lm.tokenizer, prompts, answers)
    logits = tail_logits(lm, ab)
    nxt = score(logits, ab.answers)["next_logprobs"]
    first = torch.tensor([a[0] for a in answer_tokens(lm.tokenizer, answers)])
    own = nxt[torch.arange(len(first)), first]
    rank = (nxt > own[:, None]).sum(-1) + 1
    return own, rank


@torch.no_grad()
def test_last_layer_is_the_models_own_output(tiny):
    out = lens_batch(tiny, PROMPTS, ANSWERS)
    own, rank = _own_first_token(tiny, PROMPTS, ANSWERS)
    assert out["logprob"].shape == (len(PROMPTS), tiny.n_layers)
    torch.testing.assert_close(out["logprob"][:, -1], own, atol=1e-4, rtol=1e-4)
    assert torch.equal(out["rank"][:, -1], rank)
    assert not torch.allclose(out["logprob"][:, 0], own, atol=1e-3)  # earlier layers are not the output


def test_gemma_soft_capping_is_applied():
    """A final logit soft-cap that bites (small cap): the lens still equals the model's output."""
    from tiny import tiny_model

    lm = tiny_model("gemma2", final_logit_softcapping=2.0)
    out = lens_batch(lm, PROMPTS, ANSWERS)
    own, _ = _own_first_token(lm, PROMPTS, ANSWERS)
    torch.testing.assert_close(out["logprob"][:, -1], own, atol=1e-4, rtol=1e-4)
    assert out["logprob"].min() >= -2 * 2.0 - np.log(lm.model.config.vocab_size) - 1e-3


def test_rank_agrees_with_logprob_and_batches_do_not_matter(tiny_llama):
    one = lens_sweep(tiny_llama, PROMPTS, ANSWERS, batch_size=1)
    many = lens_sweep(tiny_llama, PROMPTS, ANSWERS, batch_size=4)
    torch.testing.assert_close(one["logprob"], many["logprob"], atol=1e-5, rtol=1e-5)
    assert torch.equal(one["rank"], many["rank"])
    assert (one["rank"] >= 1).all() and (one["rank"] <= tiny_llama.model.config.vocab_size).all()


def test_length_sorted_batches_come_back_in_item_order(tiny_llama):
    from medmap.analyses.lens import lens_scores

    prompts, answers = PROMPTS[::-1] + PROMPTS, ANSWERS[::-1] + ANSWERS  # lengths out of order
    one = lens_sweep(tiny_llama, prompts, answers, batch_size=1)
    sorted_ = lens_scores(tiny_llama, prompts, answers, batch_size=3)
    torch.testing.assert_close(one["logprob"], sorted_["logprob"], atol=1e-5, rtol=1e-5)
    assert torch.equal(one["rank"], sorted_["rank"])


@torch.no_grad()
def test_intermediate_layers_match_hidden_states_decoded_by_hand(tiny_llama):
    """Oracle for every layer but the last: transformers' own hidden states (output of decoder layer l is
    ``hidden_states[l + 1]`` for l < L - 1 in Llama), normed and unembedded by hand, one prompt at a time."""
    lm = tiny_llama
    out = lens_batch(lm, PROMPTS, ANSWERS)
    first = [a[0] for a in answer_tokens(lm.tokenizer, ANSWERS)]
    for i, p in enumerate(PROMPTS):
        ids = lm.tokenizer(p, return_tensors="pt")
        hs = lm.model(**ids, output_hidden_states=True).hidden_states
        for layer in range(lm.n_layers - 1):
            logits = lm.model.lm_head(lm.model.model.norm(hs[layer + 1][0, -1]))
            logp = torch.log_softmax(logits, -1)
            assert abs(float(logp[first[i]]) - float(out["logprob"][i, layer])) < 1e-4
            assert int((logits > logits[first[i]]).sum()) + 1 == int(out["rank"][i, layer])


def test_lens_technique_rows(tiny_llama):
    from medmap.analyses.causal import CausalOptions
    from medmap.analyses.lens import lens
    from medmap.concepts.schema import ConceptItem
    from medmap.concepts.sets import ConceptSet

    items = tuple(ConceptItem(id=f"i{k}", domain="drugs", prompt=p, labels={"c": "x"}, answer=a)
                  for k, (p, a) in enumerate(zip(PROMPTS, ANSWERS)))
    units: dict = {}
    df = lens(tiny_llama, ConceptSet("drugs", items, "test"), CausalOptions(n_boot=50), units=units)
    assert set(df.metric) == {"lens_logprob", "lens_rank"}
    lp = df[df.metric == "lens_logprob"].sort_values("layer")
    direct = lens_batch(tiny_llama, PROMPTS, ANSWERS)["logprob"].numpy()
    np.testing.assert_allclose(lp.value, direct.mean(0), atol=1e-5)
    assert (lp.ci_low <= lp.value + 1e-9).all() and (lp.value <= lp.ci_high + 1e-9).all()
    np.testing.assert_allclose(np.asarray(units["lens_logprob"]), direct, atol=1e-6)
    rk = df[df.metric == "lens_rank"].sort_values("layer")
    assert (rk.value >= 1).all()


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_lens_leaves_no_hook(arch):
    from medmap.capture import attached_hooks
    from tiny import tiny_model

    lm = tiny_model(arch)
    lens_batch(lm, PROMPTS[:2], ANSWERS[:2])
    assert attached_hooks(lm.model) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_last_layer_is_the_bundled_models_own_output(name):
    from real import real_model

    lm = real_model(name)
    out = lens_batch(lm, PROMPTS, ANSWERS)
    own, rank = _own_first_token(lm, PROMPTS, ANSWERS)
    torch.testing.assert_close(out["logprob"][:, -1], own, atol=1e-3, rtol=1e-4)
    assert torch.equal(out["rank"][:, -1], rank)
