"""The random-weights control: the same architecture and tokenizer, with its weights re-initialised.

What the geometry finds in such a model, tokenisation and architecture give for free; what it finds only
in the trained model, training put there. The copy is built by transformers from the model's config
(``AutoModelForCausalLM.from_config``: the architecture's own ``_init_weights``), under a seeded torch
generator, in the model's dtype, on the device of its embedding; its identity (the cache key of every
result) is derived from the trained model's identity and the seed."""

from __future__ import annotations

import copy
import hashlib

from medmap.models.loader import LoadedModel


def random_init_copy(lm: LoadedModel, seed: int = 0) -> LoadedModel:
    """A re-initialised copy of ``lm``'s architecture (same config and tokenizer), seeded."""
    import torch
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(lm.model.config)
    dtype = next((p.dtype for p in lm.model.parameters() if p.device.type != "meta"), torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.to(lm.device).eval()
    identity = hashlib.sha256(f"{lm.identity}|random_init|{seed}".encode()).hexdigest()
    return LoadedModel.from_model(model, lm.tokenizer, name=f"{lm.name}@random_init", identity=identity,
                                  source={"kind": "random_init", "of": lm.identity, "seed": seed})
