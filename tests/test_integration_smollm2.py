"""Integration tests on the bundled SmolLM2-135M (converted once into the medmap cache)."""

import pytest
import torch

from medmap.capture import capture
from medmap.capture.lesion import lesion_batch, lesion_reference
from medmap.capture.patching import Pair, patch_last, patch_reference
from medmap.capture.scoring import greedy
from medmap.concepts import load_builtin
from real import real_model

pytestmark = pytest.mark.slow


def test_loads_from_bundled_package_and_names_metformin():
    lm = real_model("smollm2-135m")
    assert lm.n_layers == 30 and lm.source["kind"] == "bundled"
    assert "metformin" in greedy(lm, "The first-line drug for type 2 diabetes is").lower()


def test_captures_the_age_set_and_matches_hidden_states():
    lm = real_model("smollm2-135m")
    cs = load_builtin("age")
    prompts = [it.prompt for it in cs.items]
    acts = capture(lm, prompts, batch_size=64)
    assert acts.shape == (len(cs), 31, 576)
    assert torch.isfinite(acts).all()
    for p_i in (0, 301, 605):
        ids = lm.tokenizer(prompts[p_i], return_tensors="pt")
        with torch.no_grad():
            hs = lm.model(**ids, output_hidden_states=True).hidden_states
        for layer in range(30):
            torch.testing.assert_close(acts[p_i, layer], hs[layer][0, -1], atol=2e-4, rtol=1e-4)


def test_fast_paths_equal_reference_on_smollm2():
    lm = real_model("smollm2-135m")
    pairs = [Pair("A 16-year-old male patient comes to the clinic. Legally, the patient is",
                  "A 56-year-old male patient comes to the clinic. Legally, the patient is", " a minor", " an adult")]
    layers = [0, 14, 29]
    fast = patch_last(lm, pairs, layers)
    torch.testing.assert_close(fast["ld_patched"], patch_reference(lm, pairs, layers), atol=1e-3, rtol=1e-4)
    # patching the last layer's output at the last token fixes the first answer token's logits
    assert fast["ld_clean"][0] > fast["ld_corrupted"][0]
    f = lesion_batch(lm, [pairs[0].clean], [" a minor"], layers)
    r = lesion_reference(lm, [pairs[0].clean], [" a minor"], layers)
    torch.testing.assert_close(f["logprob"], r["logprob"], atol=1e-3, rtol=1e-4)
