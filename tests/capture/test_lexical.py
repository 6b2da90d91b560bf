"""The lexical representation (what the tokens alone give) and a label carried by one token on a tiny model."""

import numpy as np
import torch

from medmap.capture.lexical import concept_tokens, lexical_representation
from tiny import one_token_set, tiny_model


def test_concept_tokens_are_the_span_or_the_prompt_without_special_tokens():
    lm = tiny_model("llama")
    tk = lm.tokenizer
    ids = concept_tokens(tk, "Drug: metoprolol.", "metoprolol")
    assert tk.decode(ids) == "metoprolol"
    whole = concept_tokens(tk, "Drug: metoprolol.", None)
    assert tk.decode(whole) == "Drug: metoprolol." and tk.bos_token_id not in whole
    assert concept_tokens(tk, "Drug: x.", "absent") == whole[:0] + concept_tokens(tk, "Drug: x.", None)


def test_lexical_vector_is_the_mean_input_embedding_of_the_span_whatever_the_context():
    lm = tiny_model("llama")
    prompts = ["Drug: metoprolol.", "The drug metoprolol is used in"]
    lex = lexical_representation(lm, prompts, ["metoprolol", "metoprolol"])
    W = lm.arch.embed.weight.detach().numpy()
    ids = concept_tokens(lm.tokenizer, prompts[0], "metoprolol")
    assert np.allclose(lex[0], W[ids].mean(0), atol=1e-6)
    assert np.allclose(lex[0], lex[1], atol=1e-6)  # no forward pass: the context does not matter
    other = lexical_representation(lm, prompts, None)
    assert not np.allclose(other[0], other[1])


def test_lexical_uses_the_embedding_module_of_models_that_scale_it():
    lm = tiny_model("gemma3_text")
    lex = lexical_representation(lm, ["Patient: a 17-year-old woman."], ["17-year-old"])
    ids = concept_tokens(lm.tokenizer, "Patient: a 17-year-old woman.", "17-year-old")
    with torch.no_grad():
        ref = lm.arch.embed(torch.tensor([ids]))[0].mean(0).numpy()
    raw = lm.arch.embed.weight.detach()[ids].mean(0).numpy()
    assert np.allclose(lex[0], ref, atol=1e-5) and not np.allclose(lex[0], raw, atol=1e-3)


def test_bag_of_tokens_counts_the_span_tokens():
    lm = tiny_model("llama")
    bag = lexical_representation(lm, ["aab x", "b"], ["aab", None], kind="bag")
    assert bag.shape == (2, lm.arch.embed.num_embeddings)
    a, b = (concept_tokens(lm.tokenizer, "a", None)[0], concept_tokens(lm.tokenizer, "b", None)[0])
    assert bag[0, a] == 2 and bag[0, b] == 1 and bag[0].sum() == 3 and bag[1].sum() == 1


def test_label_carried_by_one_token_has_no_excess_over_the_lexical_baseline(tmp_path):
    from medmap.analyses.geometry import GeometryOptions
    from medmap.analyses.runner import AnalyzeOptions, analyze

    lm = tiny_model("llama", num_hidden_layers=3)
    opts = AnalyzeOptions(geometry=GeometryOptions(n_epochs=30, n_boot=5, workers=1, n_perm=100))
    s = analyze(lm, [one_token_set()], ["geometry"], tmp_path, opts).set_index(["metric", "layer"]).value
    for layer in range(3):
        assert s[("silhouette_raw.kind@p", layer)] < 0.05  # the model's layers do carry the label...
        for m in ("silhouette_raw.kind", "silhouette_umap.kind", "knn_acc.kind"):
            assert s[(f"{m}@excess", layer)] < 0.05  # ...but no more than the tokens alone
