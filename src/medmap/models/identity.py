"""A model's identity: a hash that changes whenever its weights, config or tokenizer change. It keys
every cached result and is part of a finished run's identity, so results of other weights are never
served. Computed without loading the weights:

* bundled model or GGUF file: the GGUF's sha256 (the converted weights are checked against the
  checksums recorded at conversion, :func:`medmap.models.bundled.verify_converted`);
* local Hugging Face folder: the sha256 of every weight file (remembered while the file is unchanged,
  :mod:`medmap.store.checksum`: a full read once, then a ``stat``), of its config and tokenizer files;
* hub id: the commit the name resolves to, from the local Hugging Face cache (offline) or the hub.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from medmap.errors import ModelError
from medmap.store.checksum import cached_sha256

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
"""Files hashed (with the memo) as weights."""
SMALL_SUFFIXES = (".json", ".model", ".txt", ".tiktoken", ".py")
"""Other files of a model folder read in full: config, tokenizer, vocabulary, merges, remote code."""


def folder_identity(folder: Path) -> str:
    """Content identity of a local Hugging Face folder: every weight file's sha256 (computed once per
    change of the file) and the bytes of its config, tokenizer and code files; README-like files and
    sub-folders do not count."""
    h = hashlib.sha256(b"medmap-folder/2\n")
    for f in sorted(Path(folder).iterdir()):
        if not f.is_file() or f.name.startswith(".") or f.name.lower().startswith("readme"):
            continue
        if f.suffix in WEIGHT_SUFFIXES:
            h.update(f"{f.name}:{cached_sha256(f)[0]}\n".encode())
        elif f.suffix in SMALL_SUFFIXES:
            h.update(f"{f.name}:{hashlib.sha256(f.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


def hub_identity(hub_id: str, commit: str) -> str:
    return hashlib.sha256(f"hub:{hub_id}@{commit}".encode()).hexdigest()


def hub_commit(hub_id: str, revision: str | None = None, online: bool = True) -> str:
    """The commit ``revision`` (default: main) of ``hub_id`` resolves to: from the local Hugging Face
    cache when the model is there (no network), else from the hub when ``online``. A ModelError when
    neither knows it."""
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(hub_id, revision=revision, local_files_only=True)
        return Path(path).name
    except Exception:  # huggingface_hub raises several types for a missing cache entry
        pass
    if online:
        try:
            from huggingface_hub import HfApi

            sha = HfApi().model_info(hub_id, revision=revision).sha
            if sha:
                return str(sha)
        except Exception as e:  # noqa: BLE001 - any failure means: the hub cannot say
            raise ModelError(f"cannot resolve '{hub_id}'@{revision or 'main'} on the hub: {type(e).__name__}: {e}") from None
    raise ModelError(f"'{hub_id}' is not in the local Hugging Face cache and the hub cannot be reached (offline). "
                     "Download it where the hub is reachable, or name a local folder or .gguf file")


def weights_fingerprint(model) -> str:
    """sha256 of the config and of every parameter (strided sample of large tensors): the identity of
    an in-memory model (e.g. a random-weight test model)."""
    import torch

    h = hashlib.sha256(model.config.to_json_string(use_diff=False).encode())
    with torch.no_grad():
        for n, p in model.state_dict().items():
            flat = p.detach().reshape(-1)
            if flat.numel() > 1 << 16:
                flat = flat[:: max(1, flat.numel() // (1 << 16))]
            h.update(n.encode())
            h.update(flat.float().cpu().numpy().tobytes())
    return h.hexdigest()
