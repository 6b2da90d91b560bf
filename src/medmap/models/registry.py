"""Architecture registry: where a causal LM keeps its decoder layers, final norm and unembedding, and
which of a layer's parameters are attention and which MLP. Facts are data (architectures.yaml);
`register()` adds an entry at run time; unknown types fall back to a structural search."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import yaml
from torch import nn

from medmap.errors import ModelError

_ATTN_HINTS = ("self_attn", "attn", "attention")
_MLP_HINTS = ("mlp", "feed_forward", "ffn")
_NORM_HINTS = ("norm", "ln_f", "final_layer_norm")


@dataclass(frozen=True)
class ArchSpec:
    """Attribute paths (from the *ForCausalLM module) of an architecture's parts."""

    model_type: str
    layers: str
    embed: str
    final_norm: str
    unembed: str
    attention: tuple[str, ...]
    mlp: tuple[str, ...]
    fallback: bool = False
    """True when the spec was found by structure rather than read from the registry."""
    lora_targets: tuple[str, ...] = ()
    """Names of a decoder layer's linear sub-modules a LoRA adapter targets (PEFT ``target_modules``)."""

    @property
    def layers_pattern(self) -> str:
        """The name of the decoder-layer list inside ``layers`` (PEFT ``layers_pattern``: the module-name
        part before the layer index, e.g. ``layers`` for ``model.layers.3.mlp``)."""
        return self.layers.rsplit(".", 1)[-1]


_REGISTRY: dict[str, ArchSpec] = {}
_BUILTIN_LOADED = [False]


def _spec(model_type: str, *, layers: str, embed: str, final_norm: str, unembed: str,
          attention: list[str], mlp: list[str], lora_targets: list[str] | None = None) -> ArchSpec:
    return ArchSpec(model_type, layers, embed, final_norm, unembed, tuple(attention), tuple(mlp),
                    lora_targets=tuple(lora_targets or ()))


def _ensure_builtin() -> None:
    """Read architectures.yaml into the registry once, before any entry is added or looked up (so an
    entry added by :func:`register` is added to the built-ins, and replaces a built-in of its name)."""
    if _BUILTIN_LOADED[0]:
        return
    text = resources.files("medmap.models").joinpath("architectures.yaml").read_text()
    for name, e in yaml.safe_load(text).items():
        _REGISTRY.setdefault(name, _spec(name, **e))
    _BUILTIN_LOADED[0] = True


def register(model_type: str, *, layers: str, embed: str, final_norm: str, unembed: str,
             attention: list[str], mlp: list[str], lora_targets: list[str] | None = None) -> ArchSpec:
    """Add or replace the registry entry for ``model_type`` (the built-in entries stay)."""
    _ensure_builtin()
    spec = _spec(model_type, layers=layers, embed=embed, final_norm=final_norm, unembed=unembed,
                 attention=attention, mlp=mlp, lora_targets=lora_targets)
    _REGISTRY[model_type] = spec
    return spec


def registered() -> dict[str, ArchSpec]:
    """Every entry: the built-ins and those added by :func:`register`."""
    _ensure_builtin()
    return dict(_REGISTRY)


def get_path(root: nn.Module, path: str) -> nn.Module:
    obj = root
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _find_by_structure(model: nn.Module, model_type: str) -> ArchSpec:
    """Fallback: the decoder layers are the longest ModuleList of identical blocks whose length equals
    config.num_hidden_layers; the final norm is a sibling of it named like a norm; the unembedding is the
    model's output embeddings; attention / MLP are child modules named like them."""
    n = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    best = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.ModuleList) and len(mod) > 0 and len({type(m) for m in mod}) == 1:
            if (n is None or len(mod) == n) and (best is None or len(mod) > len(best[1])):
                best = (name, mod)
    if best is None:
        raise ModelError(
            f"model type '{model_type}' is not in medmap's architecture registry and no list of decoder "
            "layers could be found by structure; register it with medmap.models.registry.register()"
        )
    layers_path, layers = best
    parent = layers_path.rsplit(".", 1)[0] if "." in layers_path else ""
    parent_mod = get_path(model, parent) if parent else model
    norm = next((f"{parent}.{c}".lstrip(".") for c, _ in parent_mod.named_children()
                 if any(h in c for h in _NORM_HINTS)), None)
    embed = next((f"{parent}.{c}".lstrip(".") for c, m in parent_mod.named_children()
                  if isinstance(m, nn.Embedding)), None)
    unembed = next((c for c, m in model.named_children() if m is model.get_output_embeddings()), None)
    children = [c for c, _ in layers[0].named_children()]
    attn = [c for c in children if any(h in c for h in _ATTN_HINTS)]
    mlp = [c for c in children if any(h in c for h in _MLP_HINTS)]
    missing = [k for k, v in {"final norm": norm, "embedding": embed, "unembedding": unembed,
                              "attention": attn, "mlp": mlp}.items() if not v]
    if missing:
        raise ModelError(
            f"model type '{model_type}' is not in medmap's architecture registry and its "
            f"{', '.join(missing)} could not be found by structure; register it with "
            "medmap.models.registry.register()"
        )
    lora = tuple(dict.fromkeys(n.rsplit(".", 1)[-1] for n, m in layers[0].named_modules()
                               if isinstance(m, nn.Linear)))
    return ArchSpec(model_type, layers_path, embed, norm, unembed, tuple(attn), tuple(mlp), fallback=True,
                    lora_targets=lora)


def lora_targets(model_type: str) -> tuple[str, tuple[str, ...]]:
    """(``layers_pattern``, ``target_modules``) for a LoRA adapter on decoder layers of ``model_type``,
    read from the registry (no model needed). Raises :class:`ModelError` for a type without an entry or
    without ``lora_targets``."""
    spec = registered().get(model_type)
    if spec is None:
        raise ModelError(f"model type '{model_type}' is not in medmap's architecture registry; name the LoRA "
                         "target modules yourself (--target-modules) or register the architecture")
    if not spec.lora_targets:
        raise ModelError(f"the architecture entry '{model_type}' has no lora_targets; add them to "
                         "architectures.yaml or register() it with lora_targets=[...]")
    return spec.layers_pattern, spec.lora_targets


@dataclass
class Architecture:
    """An ArchSpec resolved on one model instance: the modules themselves."""

    spec: ArchSpec
    layers: nn.ModuleList
    embed: nn.Module
    final_norm: nn.Module
    unembed: nn.Module

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def layer_params(self, i: int, kind: str) -> list[tuple[str, nn.Parameter]]:
        """Named parameters of layer ``i`` of ``kind`` 'attention' or 'mlp'."""
        names = self.spec.attention if kind == "attention" else self.spec.mlp
        out = []
        for child in names:
            mod = getattr(self.layers[i], child, None)
            if mod is None:
                raise ModelError(f"layer {i} has no sub-module '{child}' ({kind}) for {self.spec.model_type}")
            out.extend((f"{child}.{n}", p) for n, p in mod.named_parameters())
        return out


def resolve(model: nn.Module) -> Architecture:
    """The Architecture of a loaded HF causal LM, from the registry or by structure."""
    model_type = getattr(getattr(model, "config", None), "model_type", type(model).__name__)
    spec = registered().get(model_type)
    if spec is not None:
        try:
            parts = [get_path(model, p) for p in (spec.layers, spec.embed, spec.final_norm, spec.unembed)]
        except AttributeError:
            spec = None
    if spec is None:
        spec = _find_by_structure(model, model_type)
        parts = [get_path(model, p) for p in (spec.layers, spec.embed, spec.final_norm, spec.unembed)]
    return Architecture(spec, *parts)
