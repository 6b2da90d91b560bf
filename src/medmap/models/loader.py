"""Resolving a model spec (bundled name, local HF folder, .gguf file, hub id) to a LoadedModel."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medmap.errors import ModelError
from medmap.models.bundled import BUNDLED, DEFAULT_MODEL, convert_gguf
from medmap.models.identity import folder_identity, hub_commit, hub_identity, weights_fingerprint
from medmap.models.registry import Architecture, resolve
from medmap.store.checksum import cached_sha256


@dataclass
class LoadedModel:
    """A model ready for medmap: module, tokenizer, architecture and a stable identity for caching."""

    model: Any
    tokenizer: Any
    arch: Architecture
    name: str
    identity: str
    """Hash that changes whenever the weights or config change: the cache key of every result."""
    source: dict = field(default_factory=dict)
    """Provenance: how the model was resolved (kind, path, revision, gguf sha256)."""

    @property
    def n_layers(self) -> int:
        return self.arch.n_layers

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self):
        """Where inputs go: the embedding's execution device. Under accelerate offload the embedding's
        weight lives on the meta device between calls, so its hook's execution device is asked first."""
        dev = execution_device(self.arch.embed)
        return dev if dev is not None else self.arch.embed.weight.device

    @property
    def offloaded(self) -> bool:
        """Whether accelerate offloads some weights (to the CPU or disk) and loads them for each call."""
        return any(getattr(_align_hook(m), "offload", False) for m in self.model.modules())

    @classmethod
    def from_model(cls, model, tokenizer, name: str = "in-memory", identity: str | None = None,
                   source: dict | None = None) -> "LoadedModel":
        """Wrap an already-built model (e.g. a random-weight test model)."""
        model.eval()
        _ensure_pad(tokenizer, name)
        if identity is None:
            identity = weights_fingerprint(model)
        return cls(model, tokenizer, resolve(model), name, identity, source or {"kind": "in-memory"})


def _align_hook(module):
    """accelerate's AlignDevicesHook on ``module`` (inside a SequentialHook or a medmap wrapper), or None."""
    hook = getattr(module, "_hf_hook", None)
    while hook is not None:
        if hasattr(hook, "execution_device"):
            return hook
        inner = getattr(hook, "hooks", None) or getattr(hook, "inner", None)
        if isinstance(inner, (list, tuple)):
            hook = next((h for h in inner if hasattr(h, "execution_device")), None)
        else:
            hook = inner
    return None


def execution_device(module):
    """The device accelerate runs ``module`` on (None without an accelerate hook)."""
    import torch

    dev = getattr(_align_hook(module), "execution_device", None)
    if dev is None:
        return None
    if isinstance(dev, int):
        return torch.device("cuda", dev)
    return torch.device(dev)


def parse_device_map(value):
    """A device map from the command line: a JSON object ``{"module": device}`` or a word accelerate
    knows ('auto', 'balanced', 'sequential', a device name); None stays None."""
    if not isinstance(value, str):
        return value
    v = value.strip()
    if v.startswith("{"):
        try:
            return json.loads(v)
        except ValueError as e:
            raise ModelError(f"device map '{value}' is not valid JSON: {e}") from None
    return v or None


def parse_max_memory(value) -> dict | None:
    """``max_memory`` for accelerate from a mapping or a string such as ``"0=20GiB,cpu=60GiB"``: device
    index (int) or ``cpu`` / ``disk`` / ``mps`` -> a size accelerate understands (``"20GiB"``, bytes)."""
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, str):
        items = []
        for part in value.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ModelError(f"max_memory '{value}': write DEVICE=SIZE pairs separated by commas, "
                                 "e.g. '0=20GiB,cpu=60GiB'")
            k, v = part.split("=", 1)
            items.append((k.strip(), v.strip()))
    elif isinstance(value, dict):
        items = list(value.items())
    else:
        raise ModelError(f"max_memory must be a mapping or 'DEVICE=SIZE,...', not {value!r}")
    out: dict = {}
    for k, v in items:
        key = int(k) if isinstance(k, int) or str(k).isdigit() else str(k)
        if isinstance(key, str) and not (key in ("cpu", "disk", "mps") or key.split(":")[0] in ("cuda", "xpu", "npu")):
            raise ModelError(f"max_memory: unknown device '{k}': use a GPU index (0, 1, ...), cpu or disk")
        if isinstance(key, str) and key.startswith("cuda:"):
            key = int(key.split(":", 1)[1])
        out[key] = int(v) if isinstance(v, (int, float)) or str(v).isdigit() else str(v)
    return out


def _ensure_pad(tokenizer, name: str) -> None:
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise ModelError(
                f"the tokenizer of '{name}' has neither a pad token nor an end-of-sequence token, so prompts "
                "of different lengths cannot be batched; give the tokenizer a pad token"
            )
        # Padding positions are masked out everywhere, so reusing EOS as padding changes no result.
        tokenizer.pad_token = tokenizer.eos_token


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def hub_access(hub_id: str, revision: str | None = None) -> dict:
    """from_pretrained keywords for a hub id: ``local_files_only`` when it is in the local Hugging Face
    cache (the network is never touched then), none when it is not but the hub answers; a ModelError
    when it is not cached and the hub cannot be reached."""
    from transformers import AutoTokenizer

    try:
        AutoTokenizer.from_pretrained(hub_id, local_files_only=True, revision=revision)
        return {"local_files_only": True}
    except Exception:  # transformers raises many types for a missing cache entry
        if not _hub_reachable():
            raise ModelError(
                f"'{hub_id}' is not in the local Hugging Face cache and the hub cannot be reached (offline). "
                "Download it where the hub is reachable, or name a local folder or .gguf file") from None
        return {}


def resolve_spec(spec: str | None) -> dict:
    """Decide what a model spec names, without loading weights."""
    spec = spec or DEFAULT_MODEL
    if spec in BUNDLED:
        return {"kind": "bundled", "name": spec}
    p = Path(spec).expanduser()
    if p.suffix == ".gguf":
        if not p.is_file():
            raise ModelError(f"{p}: no such GGUF file")
        return {"kind": "gguf", "name": p.stem, "path": str(p.resolve())}
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise ModelError(f"{p}: a model folder needs a config.json (Hugging Face layout)")
        return {"kind": "folder", "name": p.name, "path": str(p.resolve())}
    if p.exists():
        raise ModelError(f"{p}: not a model folder or a .gguf file")
    if spec.count("/") == 1 and not spec.startswith((".", "/", "~")):
        return {"kind": "hub", "name": spec.split("/")[1], "hub_id": spec}
    raise ModelError(
        f"unknown model '{spec}': name a bundled model ({', '.join(BUNDLED)}), a local Hugging Face folder, "
        "a .gguf file, or a hub id such as 'org/name'"
    )


def identify(spec: str | None = None, revision: str | None = None) -> str:
    """The identity :func:`load_model` gives the model of ``spec``, computed without loading weights
    (see :mod:`medmap.models.identity`): what a finished run and every cache entry are keyed by."""
    info = resolve_spec(spec)
    kind = info["kind"]
    if kind == "bundled":
        return cached_sha256(BUNDLED[info["name"]].gguf_path())[0]
    if kind == "gguf":
        return cached_sha256(Path(info["path"]))[0]
    if kind == "folder":
        return folder_identity(Path(info["path"]))
    return hub_identity(info["hub_id"], hub_commit(info["hub_id"], revision, online=_hub_reachable()))


def load_model(spec: str | None = None, *, dtype: str = "float32", device_map: Any = None,
               max_memory: dict | str | None = None, offload_folder: str | Path | None = None,
               trust_remote_code: bool = False, revision: str | None = None, note=None) -> LoadedModel:
    """Load a model by spec. ``trust_remote_code`` stays off unless asked.

    Models larger than one device: ``device_map`` ('auto', 'balanced', 'sequential', a device, or a
    dict module name -> device / 'cpu' / 'disk'), ``max_memory`` (per device, e.g. ``{0: "20GiB",
    "cpu": "60GiB"}``) and ``offload_folder`` (where weights placed on 'disk' are written) go to
    accelerate through transformers. Offloaded weights are loaded for each call of their module; every
    medmap technique, saliency included, gives the same numbers as on the model in one piece."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    info = resolve_spec(spec)
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}.get(dtype)
    if torch_dtype is None:
        raise ModelError(f"dtype '{dtype}' is not one of float32, bfloat16, float16")
    kw: dict[str, Any] = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code}
    device_map = parse_device_map(device_map)
    if device_map is not None:
        kw["device_map"] = device_map
    max_memory = parse_max_memory(max_memory)
    if max_memory is not None:
        if device_map is None:
            kw["device_map"] = device_map = "auto"  # max_memory only means something to a device map
        kw["max_memory"] = max_memory
    if offload_folder is not None:
        if device_map is None:
            raise ModelError("offload_folder is only used with a device_map ('auto' or a mapping with 'disk')")
        Path(offload_folder).mkdir(parents=True, exist_ok=True)
        kw["offload_folder"] = str(offload_folder)
    kind = info["kind"]
    if kind in ("bundled", "gguf"):
        gguf = BUNDLED[info["name"]].gguf_path() if kind == "bundled" else Path(info["path"])
        folder, digest = convert_gguf(gguf, note=note)
        info.update(gguf=str(gguf), gguf_sha256=digest)
        where, identity = str(folder), digest
    elif kind == "folder":
        where, identity = info["path"], folder_identity(Path(info["path"]))
        kw["use_safetensors"] = True  # weights only through safetensors: never unpickle a .bin file
    else:
        where = info["hub_id"]
        kw["use_safetensors"] = True
        kw.update(hub_access(where, revision))
        # keyed by the commit the name resolves to (a changed upstream model is a new identity), and
        # loaded at that commit
        commit = hub_commit(where, revision, online=not kw.get("local_files_only"))
        kw["revision"] = commit
        identity = hub_identity(where, commit)
        info["commit"] = commit
    try:
        tok = AutoTokenizer.from_pretrained(where, **{k: v for k, v in kw.items()
                                                      if k in ("revision", "local_files_only", "trust_remote_code")})
        model = AutoModelForCausalLM.from_pretrained(where, **kw)
    except ModelError:
        raise
    except Exception as e:
        hint = ""
        if "offload" in str(e).lower() and offload_folder is None:
            hint = " (part of the model is placed on disk: give an offload folder, --offload-folder DIR)"
        raise ModelError(f"could not load model '{spec}' from {where}: {type(e).__name__}: {e}{hint}") from e
    model.eval()
    _ensure_pad(tok, info["name"])
    cfg_hash = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True, default=str).encode()).hexdigest()
    info["config_sha256"] = cfg_hash
    info["dtype"] = dtype
    if getattr(model, "hf_device_map", None) is not None and device_map is not None:
        info["device_map"] = {k: str(v) for k, v in model.hf_device_map.items()}
    return LoadedModel(model, tok, resolve(model), info["name"], identity, info)


def describe_bundled() -> list[dict]:
    """The bundled models with their shape and whether the converted weights are cached."""
    rows = []
    for b in BUNDLED.values():
        try:
            cached, installed = b.is_cached(), True
        except (ModelError, ImportError):
            cached, installed = False, False
        rows.append({"name": b.name, "default": b.name == DEFAULT_MODEL, "layers": b.n_layers,
                     "hidden_size": b.hidden_size, "installed": installed, "cached": cached,
                     "description": b.description})
    return rows
