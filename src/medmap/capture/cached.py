"""Capture of a whole concept set, cached on disk (safetensors + manifest with provenance).

Memory stays bounded for sets of any size: pooled activations are written shard by shard as they are
produced (``shards/shard-<j>.safetensors``, ``shard_size`` items each, written atomically, each with a
small manifest giving its sha256 and item ids). A killed capture resumes at the first shard that is
missing or does not match its manifest; nothing else is recomputed. The cache entry's
``activations.safetensors`` is then streamed together from the shards, one shard in memory at a time,
and read back memory-mapped (pages are loaded when used)."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from medmap.capture.activations import capture
from medmap.capture.batching import length_order, tokenize
from medmap.errors import CacheError
from medmap.store import Cache, save_tensors, write_json, write_with
from medmap.store.cache import file_sha256

SHARD_SIZE = 256
"""Items per shard: 256 x 31 layers x 576 dims of float32 is 18 MB for SmolLM2-135M."""


def capture_key(lm, cs, pooling: str, padding_side: str = "left") -> dict:
    return {"model": lm.identity, "concepts": cs.hash, "domain": cs.domain, "pooling": pooling,
            "padding_side": padding_side, "dtype": str(next(lm.model.parameters()).dtype)}


class _OneProcess:
    """The single-process stand-in for ``medmap.parallel``: every unit runs here, this process writes."""

    @staticmethod
    def map_units(fn, units, *, size=None, on_step=None):
        out = []
        for u in units:
            out.append(fn(u))
            if on_step:
                on_step(size(u) if size else 1)
        return out

    @staticmethod
    def on_main(fn, *, share=True):
        return fn()

    @staticmethod
    def is_main():
        return True

    @staticmethod
    def active():
        return False


def capture_set(lm, cs, cache: Cache, *, pooling: str = "last", batch_size: int = 32, on_step=None,
                shard_size: int = SHARD_SIZE, ranks=None) -> torch.Tensor:
    """Pooled activations [items, layers+1, hidden] of concept set ``cs`` (float32), computed shard by
    shard when not cached, resuming from the shards already written, and sealed into one cache entry.

    The layout is one for every kind of run: shards of ``shard_size`` items, each cut into batches of
    ``batch_size``; ``ranks`` (``medmap.parallel`` under torchrun; default: this process alone) runs the
    batches of a shard (``map_units``: split over the ranks, every result on every rank) and decides and
    writes on its main rank (``on_main``), so a torchrun capture writes and resumes the same shards as a
    single process. The main rank returns the sealed file memory-mapped; the other ranks hold the
    activations in memory (no shared file system is assumed)."""
    ranks = ranks or _OneProcess
    distributed = ranks.active()
    parts = capture_key(lm, cs, pooling)
    folder = cache.entry("capture", parts)
    final = folder / "activations.safetensors"
    if ranks.on_main(lambda: cache.check_or_evict(folder)):
        return ranks.on_main(lambda: load_mapped(final))
    items = list(cs.items)
    ids = [it.id for it in items]
    spans = [it.span for it in items] if pooling == "span" else None
    shard_dir = folder / "shards"
    shard_size = max(1, int(shard_size))
    shards, held = [], []
    for j, a in enumerate(range(0, len(items), shard_size)):
        b = min(a + shard_size, len(items))
        path = shard_dir / f"shard-{j:05d}.safetensors"
        shards.append(path)
        if ranks.on_main(lambda: _shard_ok(path, ids[a:b], cache)):
            if on_step:
                on_step(b - a)
            if distributed:  # the other ranks get the shard from the main rank (which reads the sealed file)
                shard = ranks.on_main(lambda: load_file(str(path))["activations"])
                if not ranks.is_main():
                    held.append(shard)
            continue

        def one(u):
            return capture(lm, [items[i].prompt for i in u], pooling=pooling, batch_size=len(u),
                           spans=[spans[i] for i in u] if spans else None, ids=[ids[i] for i in u])

        # batches of prompts of about the same length (a batch runs at its longest prompt's length: the
        # sets interleave short neutral prompts with long task ones); the shard keeps the items' order
        order, back = length_order([len(tokenize(lm.tokenizer, items[i].prompt)) for i in range(a, b)])
        batches = [(a + order[s:s + batch_size]).tolist() for s in range(0, b - a, batch_size)]
        acts = torch.cat(ranks.map_units(one, batches, size=len, on_step=on_step))[torch.from_numpy(back)]

        def write(acts=acts, path=path, a=a, b=b):
            save_tensors(path, {"activations": acts})
            write_json(path.with_suffix(".json"), {"sha256": file_sha256(path), "ids": ids[a:b],
                                                   "shape": list(acts.shape)})

        ranks.on_main(write, share=False)
        if not ranks.is_main():
            held.append(acts)
        del acts
    shape = [len(items), lm.n_layers + 1, lm.hidden_size]

    def seal() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        _concatenate(shards, final, shape)
        _seal(lm, cs, cache, folder, parts)

    ranks.on_main(seal, share=False)
    if not ranks.is_main():
        return torch.cat(held) if held else torch.empty(0, *shape[1:])
    return load_mapped(final)


def _seal(lm, cs, cache: Cache, folder: Path, parts: dict) -> None:
    write_json(folder / "items.json", {"ids": [it.id for it in cs.items], "layers": lm.n_layers,
                                       "index_0": "embeddings (input of decoder layer 0)",
                                       "index_l_plus_1": "output of decoder layer l"})
    cache.seal(folder, parts, model=lm.name, model_source=lm.source, concept_origin=cs.origin)
    shutil.rmtree(folder / "shards", ignore_errors=True)  # the sealed file holds them all (or they are stale)


def _shard_ok(path: Path, ids: list[str], cache: Cache) -> bool:
    """A shard is reused when its manifest's sha256 and item ids match; a corrupted one is reported
    (``cache.rejected``) and recomputed."""
    man = path.with_suffix(".json")
    if not path.is_file() or not man.is_file():
        return False
    reason = None
    try:
        m = json.loads(man.read_text())
        if m["ids"] != ids:
            reason = "its item ids are not those of the set"
        elif file_sha256(path) != m["sha256"]:
            reason = "it does not match its sha256"
    except (OSError, ValueError, KeyError, TypeError):
        reason = "its manifest cannot be read"
    ok = reason is None
    if not ok:
        cache.reject(path, reason)
        path.unlink(missing_ok=True)
        man.unlink(missing_ok=True)
    return ok


def _header(shape: list[int]) -> bytes:
    n = int(np.prod(shape)) * 4
    h = json.dumps({"activations": {"dtype": "F32", "shape": shape, "data_offsets": [0, n]}},
                   separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    return struct.pack("<Q", len(h)) + h


def _concatenate(shards: list[Path], out: Path, shape: list[int]) -> None:
    """One safetensors file [items, ...] from the shards (concatenated along items), written atomically
    with one shard in memory at a time."""
    def write(tmp: str) -> None:
        n = 0
        with open(tmp, "wb") as f:
            f.write(_header(shape))
            for path in shards:
                t = load_file(str(path))["activations"]
                if t.dtype != torch.float32 or list(t.shape[1:]) != shape[1:]:
                    raise CacheError(f"{path}: shard of shape {list(t.shape)} {t.dtype} does not fit {shape}")
                f.write(t.contiguous().numpy().tobytes())
                n += t.shape[0]
        if n != shape[0]:
            raise CacheError(f"{out}: the shards hold {n} items, the set has {shape[0]}")

    write_with(out, write)


def load_mapped(path: Path) -> torch.Tensor:
    """The ``activations`` tensor of a safetensors file. safetensors maps the file into memory
    (copy-on-write) rather than reading it: pages are loaded when used."""
    return load_file(str(path))["activations"]


def export_capture(folder: Path, lm, cs, acts: torch.Tensor, pooling: str) -> None:
    """Write a capture as user-facing files: activations.safetensors and manifest.json."""
    from medmap.store import provenance

    save_tensors(Path(folder) / "activations.safetensors", {"activations": acts})
    write_json(Path(folder) / "manifest.json", provenance(
        model=lm.name, model_identity=lm.identity, model_source=lm.source, domain=cs.domain,
        concept_origin=cs.origin, concept_hash=cs.hash, pooling=pooling, shape=list(acts.shape),
        dtype=str(acts.dtype), item_ids=[it.id for it in cs.items],
        layout="[item, layer+1, hidden]; index 0 = embeddings, index l+1 = output of decoder layer l"))
