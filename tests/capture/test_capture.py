import torch

from medmap.capture import capture, capture_batch, encode

PROMPTS = ["A 45-year-old male patient.", "Chest pain", "The first-line drug for type 2 diabetes is",
           "x"]


def _plain_hidden(lm, prompt):
    ids = lm.tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = lm.model(**ids, output_hidden_states=True)
    return out.hidden_states


def test_capture_equals_output_hidden_states(tiny):
    acts = capture(tiny, PROMPTS, batch_size=4)
    L = tiny.n_layers
    assert acts.shape == (len(PROMPTS), L + 1, tiny.hidden_size)
    for i, p in enumerate(PROMPTS):
        hs = _plain_hidden(tiny, p)
        assert len(hs) == L + 1
        for layer in range(L):  # HF's last entry is after the final norm; ours is the raw residual
            torch.testing.assert_close(acts[i, layer], hs[layer][0, -1].float(), atol=1e-5, rtol=1e-4)


def test_batched_equals_unbatched_left_and_right(tiny):
    single = torch.cat([capture(tiny, [p]) for p in PROMPTS])
    for side in ("left", "right"):
        for pooling in ("last", "mean"):
            one = torch.cat([capture(tiny, [p], pooling=pooling) for p in PROMPTS])
            batched = capture(tiny, PROMPTS, batch_size=3, padding_side=side, pooling=pooling)
            torch.testing.assert_close(batched, one, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(capture(tiny, PROMPTS, padding_side="right"), single, atol=1e-5, rtol=1e-4)


def test_span_pooling_covers_span_tokens(tiny_llama):
    prompts = ["The patient has chest pain today."]
    acts = capture(tiny_llama, prompts, pooling="span", spans=["chest pain"])
    b = encode(tiny_llama.tokenizer, prompts, spans=["chest pain"])
    n = int(b.span_mask.sum())
    assert n == len("chest pain")  # byte tokenizer: one token per character
    full = capture(tiny_llama, prompts, pooling="mean")
    assert not torch.allclose(acts, full)


def test_capture_stops_before_unembedding(tiny_llama):
    calls = []
    h = tiny_llama.arch.unembed.register_forward_hook(lambda *a: calls.append(1))
    try:
        capture_batch(tiny_llama, encode(tiny_llama.tokenizer, PROMPTS))
    finally:
        h.remove()
    assert calls == []
