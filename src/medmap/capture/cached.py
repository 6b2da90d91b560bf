"""Capture of a whole concept set, cached on disk (safetensors + manifest with provenance)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from medmap.capture.activations import capture
from medmap.store import Cache, save_tensors, write_json


def capture_key(lm, cs, pooling: str, padding_side: str = "left") -> dict:
    return {"model": lm.identity, "concepts": cs.hash, "domain": cs.domain, "pooling": pooling,
            "padding_side": padding_side, "dtype": str(next(lm.model.parameters()).dtype)}


def capture_set(lm, cs, cache: Cache, *, pooling: str = "last", batch_size: int = 32, progress=None) -> torch.Tensor:
    """Pooled activations [items, layers+1, hidden] of concept set ``cs``; loaded when cached."""
    parts = capture_key(lm, cs, pooling)
    folder = cache.entry("capture", parts)
    if cache.valid(folder):
        return load_file(str(folder / "activations.safetensors"))["activations"]
    spans = [it.span for it in cs.items] if pooling == "span" else None
    acts = capture(lm, [it.prompt for it in cs.items], pooling=pooling, batch_size=batch_size, spans=spans,
                   ids=[it.id for it in cs.items], on_batch=progress)
    folder.mkdir(parents=True, exist_ok=True)
    save_tensors(folder / "activations.safetensors", {"activations": acts})
    write_json(folder / "items.json", {"ids": [it.id for it in cs.items], "layers": lm.n_layers,
                                       "index_0": "embeddings (input of decoder layer 0)",
                                       "index_l_plus_1": "output of decoder layer l"})
    cache.seal(folder, parts, model=lm.name, model_source=lm.source, concept_origin=cs.origin)
    return acts


def export_capture(folder: Path, lm, cs, acts: torch.Tensor, pooling: str) -> None:
    """Write a capture as user-facing files: activations.safetensors and manifest.json."""
    from medmap.store import provenance

    save_tensors(Path(folder) / "activations.safetensors", {"activations": acts})
    write_json(Path(folder) / "manifest.json", provenance(
        model=lm.name, model_identity=lm.identity, model_source=lm.source, domain=cs.domain,
        concept_origin=cs.origin, concept_hash=cs.hash, pooling=pooling, shape=list(acts.shape),
        dtype=str(acts.dtype), item_ids=[it.id for it in cs.items],
        layout="[item, layer+1, hidden]; index 0 = embeddings, index l+1 = output of decoder layer l"))
