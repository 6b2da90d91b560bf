"""Tiny random-weight models of every registered architecture, and a byte-level tokenizer, built
offline from configs (nothing is downloaded)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

from medmap.models import LoadedModel

VOCAB = 300
MAX_PARAMS = 2_000_000  # a typo'd config (e.g. hidden 3200) fails loudly instead of running slowly


def byte_tokenizer() -> PreTrainedTokenizerFast:
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<pad>": 0, "<bos>": 1, "<eos>": 2}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")


COMMON = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
              pad_token_id=0, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)

CONFIGS = {
    "llama": dict(COMMON),
    "mistral": dict(COMMON, sliding_window=None),
    "qwen2": dict(COMMON),
    "qwen3": dict(COMMON, head_dim=8),
    "phi3": dict(COMMON),
    "gemma2": dict(COMMON, head_dim=8, sliding_window=4, query_pre_attn_scalar=8),
    "gemma3_text": dict(COMMON, head_dim=8, sliding_window=4, query_pre_attn_scalar=8,
                        layer_types=["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"]),
    "gpt2": dict(vocab_size=VOCAB, n_embd=32, n_layer=4, n_head=4, n_positions=256,
                 bos_token_id=1, eos_token_id=2, pad_token_id=0),
    "gpt_neox": dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                     num_attention_heads=4, max_position_embeddings=256, bos_token_id=1, eos_token_id=2,
                     pad_token_id=0, tie_word_embeddings=False),
}
ARCHS = list(CONFIGS)


def tiny_model(arch: str = "llama", seed: int = 0, **overrides) -> LoadedModel:
    """``overrides`` change the config (e.g. ``num_hidden_layers=8``, ``max_position_embeddings=64``)."""
    torch.manual_seed(seed)
    cfg = AutoConfig.for_model(arch, **{**CONFIGS[arch], **overrides})
    if hasattr(cfg, "attn_implementation"):
        pass
    cfg._attn_implementation = "eager"
    model = AutoModelForCausalLM.from_config(cfg)
    n = sum(p.numel() for p in model.parameters())
    assert n < MAX_PARAMS, f"tiny {arch} has {n} parameters"
    # random init is small; scale weights up a little so layers matter and differences are visible
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.2)
    model.eval()
    return LoadedModel.from_model(model, byte_tokenizer(), name=f"tiny-{arch}")


def saved_tiny(folder, arch: str = "llama", **overrides):
    """A tiny random model written to ``folder`` as a Hugging Face folder (safetensors + tokenizer), for
    tests that load models by path; returns the folder."""
    lm = tiny_model(arch, **overrides)
    lm.model.save_pretrained(folder, safe_serialization=True)
    lm.tokenizer.save_pretrained(folder)
    return folder


SMALL_GEOMETRY = {"n_epochs": 30, "n_boot": 3, "workers": 1, "pca_dims": 10}
SMALL_CAUSAL = {"max_items": 8, "n_boot": 10}


def small_run_config(folder, techniques, geometry=None, causal=None, **more):
    """In ``folder``: ``c.jsonl`` (the symptoms set's t0 items) and ``run.yaml`` running ``techniques`` on it
    with small options (``geometry`` and ``causal`` update SMALL_GEOMETRY / SMALL_CAUSAL; ``more``: other
    top-level keys), for tests that run ``medmap run`` on a tiny model; returns the run.yaml path."""
    import yaml

    from medmap.concepts import load_builtin, to_jsonl

    folder = Path(folder)
    (folder / "c.jsonl").write_text(to_jsonl(load_builtin("symptoms").subset(lambda it: it.template == "t0")))
    cfg = {"concepts": str(folder / "c.jsonl"), "techniques": list(techniques), **more,
           "analyze": {"geometry": {**SMALL_GEOMETRY, **(geometry or {})}, "causal": {**SMALL_CAUSAL, **(causal or {})}}}
    (folder / "run.yaml").write_text(yaml.safe_dump(cfg))
    return folder / "run.yaml"


def run_command(model, config, out, *extra) -> list[str]:
    """``python -m medmap run`` on ``model`` with ``config``, writing to ``out`` (for a subprocess)."""
    return [sys.executable, "-m", "medmap", "run", "--model", str(model), "--config", str(config), "--out", str(out),
            *extra]


def one_token_set(seed=0, n=60):
    """Label = the first letter of a 4-letter code; the other 3 letters are random: the label is carried by
    one token of the span (byte-level tokenizer: one token per letter)."""
    import numpy as np

    from medmap.concepts import ConceptSet
    from medmap.concepts.domains import DomainSpec, LabelSpec
    from medmap.concepts.schema import ConceptItem

    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        c = "abc"[i % 3]
        code = c + "".join(rng.choice(list("defghijklmnopqrstuvwxyz"), 3))
        for t, p in (("neutral", f"Code {code}."), ("t0", f"The code {code} means")):
            items.append(ConceptItem(id=f"x{i}-{t}", domain="toy", prompt=p, labels={"kind": f"k{c}"},
                                     concept=f"x{i}", template=t, span=code))
    spec = DomainSpec("toy", (LabelSpec("kind", "categorical"),), primary="kind")
    return ConceptSet("toy", tuple(items), "test", spec=spec)
