"""With ``gradients`` beside it, the only place in medmap that touches torch hooks or swaps modules.

Vocabulary (after baukit): *retain* (read a module's output), *edit* (replace part of it), *stop*
(abandon the forward pass once what is needed has been read), *replay* (a decoder layer returns a
given tensor instead of computing). Every one is a context manager: all targets are validated before
anything is attached, and everything is removed in ``finally`` so an idle model carries no hook."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from medmap.errors import CaptureError


_LIVE: set[int] = set()
"""Ids of the hook handles medmap has attached and not yet removed (transformers keeps hooks of its own)."""


class StopForward(Exception):
    """Raised inside a hook to end a forward pass early (caught by ``stop_after``)."""


def hidden_of(output):
    """The hidden-state tensor of a decoder layer's output (a tensor, or a tuple starting with one)."""
    return output[0] if isinstance(output, tuple) else output


def with_hidden(output, hidden):
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


@contextmanager
def attached(registrations: list[Callable[[], object]]) -> Iterator[None]:
    """Call each ``register()`` (returning a torch hook handle); remove every handle on exit."""
    handles = []
    try:
        for register in registrations:
            handles.append(register())
            _LIVE.add(handles[-1].id)
        yield
    finally:
        for h in handles:
            h.remove()
            _LIVE.discard(h.id)


@contextmanager
def forward_hooks(targets: list[tuple[nn.Module, Callable]]) -> Iterator[None]:
    """Attach ``fn(module, args, kwargs, output) -> new output or None`` to each module."""
    for mod, fn in targets:
        if not isinstance(mod, nn.Module) or not callable(fn):
            raise CaptureError(f"cannot hook {mod!r}: not a torch module with a callable")
    with attached([lambda m=m, f=f: m.register_forward_hook(f, with_kwargs=True) for m, f in targets]):
        yield


@contextmanager
def retain(layers: list[nn.Module], reduce: Callable[[int, torch.Tensor], None],
           stop_at_end: bool = False) -> Iterator[None]:
    """Call ``reduce(i, hidden)`` with the output hidden state of ``layers[i]`` as it is produced.
    With ``stop_at_end`` the forward pass is abandoned after the last of them (no final norm, no
    unembedding); run the model inside ``stop_after``."""

    def make(i: int):
        def fn(module, args, kwargs, output):
            reduce(i, hidden_of(output))
            if stop_at_end and i == len(layers) - 1:
                raise StopForward
        return fn

    with forward_hooks([(m, make(i)) for i, m in enumerate(layers)]):
        yield


@contextmanager
def stop_after() -> Iterator[None]:
    try:
        yield
    except StopForward:
        pass


@contextmanager
def edit(layers: list[nn.Module], setter: Callable[[int, torch.Tensor], torch.Tensor | None]) -> Iterator[None]:
    """``setter(i, hidden)`` may return a replacement for the hidden state output by ``layers[i]``."""

    def make(i: int):
        def fn(module, args, kwargs, output):
            new = setter(i, hidden_of(output))
            return None if new is None else with_hidden(output, new)
        return fn

    with forward_hooks([(m, make(i)) for i, m in enumerate(layers)]):
        yield


def input_of(args: tuple, kwargs: dict) -> torch.Tensor:
    """The hidden-state input of a decoder layer call."""
    return args[0] if args else kwargs["hidden_states"]


@contextmanager
def retain_inputs(layers: list[nn.Module], reduce: Callable[[int, torch.Tensor], None]) -> Iterator[None]:
    """Call ``reduce(i, hidden)`` with the hidden state entering ``layers[i]`` (for the first layer: the
    embeddings with any position embedding added, whatever the architecture)."""

    def make(i: int):
        def fn(module, args, kwargs):
            reduce(i, input_of(args, kwargs))
        return fn

    with attached([lambda i=i, m=m: m.register_forward_pre_hook(make(i), with_kwargs=True)
                    for i, m in enumerate(layers)]):
        yield


def layer_input(layer: nn.Module, reduce: Callable[[torch.Tensor], None]):
    return retain_inputs([layer], lambda i, h: reduce(h))


@contextmanager
def identity_layer(layer: nn.Module) -> Iterator[None]:
    """The plain way to lesion: ``layer`` still computes but outputs its input (reference path)."""

    def fn(module, args, kwargs, output):
        return with_hidden(output, input_of(args, kwargs))

    with forward_hooks([(layer, fn)]):
        yield


class _Replay(nn.Module):
    """Stands in for a decoder layer and returns a fixed hidden state without computing anything.
    Attribute reads it does not know (e.g. Gemma's ``attention_type``) go to the layer it replaces."""

    def __init__(self, original: nn.Module, value: torch.Tensor, as_tuple: bool):
        super().__init__()
        self.__dict__["_original"] = original  # not registered: parameters stay with the original
        self.__dict__["_value"] = value
        self.__dict__["_as_tuple"] = as_tuple

    def forward(self, *args, **kwargs):
        return (self._value,) if self._as_tuple else self._value

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.__dict__["_original"], name)


@contextmanager
def replay(layer_list: nn.ModuleList, upto: int, value: torch.Tensor, as_tuple: bool = False) -> Iterator[None]:
    """Layers ``0 .. upto-1`` return ``value`` without computing: a forward pass then really starts at
    layer ``upto`` with ``value`` as its input. Used to run only the layers an intervention can change."""
    if not 0 <= upto <= len(layer_list):
        raise CaptureError(f"replay up to layer {upto} is outside 0..{len(layer_list)}")
    originals = [layer_list[i] for i in range(upto)]
    try:
        for i in range(upto):
            layer_list[i] = _Replay(originals[i], value, as_tuple)
        yield
    finally:
        for i, orig in enumerate(originals):
            layer_list[i] = orig


def attached_hooks(model: nn.Module) -> list[str]:
    """Names of modules that carry a hook medmap attached, a replayed layer, or a gradient hook (for tests:
    empty whenever medmap is idle)."""
    out = []
    for name, m in model.named_modules():
        if _LIVE.intersection(m._forward_hooks) or _LIVE.intersection(m._forward_pre_hooks):
            out.append(name or "<root>")
        if isinstance(m, _Replay):
            out.append(f"{name} (replay)")
        if getattr(getattr(m, "_hf_hook", None), "medmap_gradient_hook", False):
            out.append(f"{name} (offload gradient hook)")
    for name, p in model.named_parameters():
        if getattr(p, "_post_accumulate_grad_hooks", None) or p.grad is not None:
            out.append(f"{name} (grad hook)")
    return out


def layers_return_tuple(lm) -> bool:
    """Whether ``lm``'s decoder layers return a tuple (older transformers) or a tensor; probed once and
    remembered on ``lm`` (what ``replay`` must return)."""
    if not hasattr(lm, "_layers_return_tuple"):
        lm._layers_return_tuple = _probe_layer_output(lm)
    return lm._layers_return_tuple


@torch.no_grad()
def _probe_layer_output(lm) -> bool:
    """Run one token through the first decoder layer and report whether it returns a tuple."""
    seen = []

    def fn(module, args, kwargs, output):
        seen.append(isinstance(output, tuple))
        raise StopForward

    ids = torch.tensor([[lm.tokenizer.bos_token_id or lm.tokenizer.pad_token_id or 0]], device=lm.device)
    with forward_hooks([(lm.arch.layers[0], fn)]), stop_after():
        lm.model(input_ids=ids, use_cache=False)
    return bool(seen and seen[0])
