"""The only place in medmap that touches torch hooks or swaps modules.

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
def _attached(registrations: list[Callable[[], object]]) -> Iterator[None]:
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
    with _attached([lambda m=m, f=f: m.register_forward_hook(f, with_kwargs=True) for m, f in targets]):
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

    with _attached([lambda i=i, m=m: m.register_forward_pre_hook(make(i), with_kwargs=True)
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


@contextmanager
def weights_loaded(module: nn.Module) -> Iterator[None]:
    """``module``'s own weights on its execution device inside, for reading them directly (not through
    a call): accelerate loads offloaded weights and frees them on exit; otherwise nothing to do."""
    if not any(getattr(h, "offload", False) for h in _hooks_of(module)):
        yield
        return
    from accelerate.utils import align_module_device  # accelerate >= 1.1

    with align_module_device(module):
        yield


def _hooks_of(module: nn.Module) -> tuple:
    hook = getattr(module, "_hf_hook", None)
    if hook is None:
        return ()
    return tuple(getattr(hook, "hooks", None) or (hook,))


GradTarget = tuple[nn.Module, str, Callable[[torch.Tensor, Callable[[], torch.Tensor]], None]]
"""(module owning the parameter, its attribute name, ``reduce(grad, weight)``); ``weight()`` returns the
parameter's value (reloaded on demand when accelerate offloads it)."""


@contextmanager
def grad_reducers(targets: list[GradTarget], model: nn.Module | None = None) -> Iterator[None]:
    """As soon as a parameter's gradient is complete, ``reduce(grad, weight)`` turns it into numbers and
    the gradient is freed: no full copy of the gradients is ever held.

    Parameters are named by (owning module, attribute) because under accelerate offload the parameter
    object changes at every call: between calls it is a meta tensor and accelerate loads the weight for
    the call only. For such modules (``model`` given) the gradient is taken from the weight that was
    actually used (``offloaded_grads``); elsewhere by a post-accumulate-grad hook on the parameter."""
    offloaded = _offloading_modules(model) if model is not None else {}
    plain, routed = [], {}
    for mod, name, fn in targets:
        owner = _offloader_of(mod, offloaded)
        if owner is None:
            p = mod._parameters.get(name)
            if p is None or p.device.type == "meta":
                where = "on the meta device" if p is not None else "missing"
                raise CaptureError(
                    f"cannot take the gradient of '{name}' of {type(mod).__name__}: the parameter is {where} and "
                    "no accelerate offload hook loads it (load the model with device_map/offload_folder so that "
                    "offloaded weights are loaded for each call, or without a device map)")
            plain.append((p, fn))
        else:
            prefix = _relative_name(owner, mod)
            routed.setdefault(owner, {})[f"{prefix}{name}"] = fn

    def make(fn):
        def hook(p):
            fn(p.grad, lambda: p)
            p.grad = None
        return hook

    with _attached([lambda p=p, fn=fn: p.register_post_accumulate_grad_hook(make(fn)) for p, fn in plain]), \
            offloaded_grads(offloaded, routed):
        yield


def _offloading_modules(model: nn.Module) -> dict[nn.Module, object]:
    """Modules whose weights accelerate offloads (loads at each call): module -> its AlignDevicesHook."""
    out = {}
    for m in model.modules():
        for h in _hooks_of(m):
            if getattr(h, "offload", False) and hasattr(h, "weights_map"):
                out[m] = h
    return out


def _offloader_of(mod: nn.Module, offloaded: dict) -> nn.Module | None:
    """The module whose offload hook loads ``mod``'s own parameters: ``mod`` itself, or an ancestor
    whose hook places its sub-modules."""
    if mod in offloaded:
        return mod
    for m, h in offloaded.items():
        if getattr(h, "place_submodules", False) and any(c is mod for c in m.modules()):
            return m
    return None


def _relative_name(root: nn.Module, mod: nn.Module) -> str:
    if mod is root:
        return ""
    for n, m in root.named_modules():
        if m is mod:
            return f"{n}."
    raise CaptureError(f"{type(mod).__name__} is not inside {type(root).__name__}")


class _GradTap(torch.autograd.Function):
    """Identity on a weight loaded for one call; its backward hands the weight's complete gradient to
    ``reduce``. The weight itself is not part of the graph, so nothing keeps it once the call is over."""

    @staticmethod
    def forward(ctx, anchor, weight, reduce):
        ctx.reduce = reduce
        return weight.detach()

    @staticmethod
    def backward(ctx, grad):
        ctx.reduce(grad)
        return None, None, None


class _Reload:
    """Stands for a saved weight of an offloaded module: reloaded from accelerate's weights map when
    backward needs it, instead of being kept on the execution device from forward to backward."""

    __slots__ = ("hook", "name", "dtype", "size", "stride", "offset")

    def __init__(self, hook, name, dtype, size, stride, offset):
        self.hook, self.name, self.dtype = hook, name, dtype
        self.size, self.stride, self.offset = size, stride, offset

    def load(self) -> torch.Tensor:
        w = self.hook.weights_map[self.name].to(self.dtype).to(_device(self.hook.execution_device))
        return w.as_strided(self.size, self.stride, self.offset)


def _device(d):
    return torch.device("cuda", d) if isinstance(d, int) else torch.device(d)


class _OffloadGradHook:
    """Wraps accelerate's AlignDevicesHook of one offloaded module for the duration of
    ``offloaded_grads``: after accelerate has loaded the weights for a call, each weight to reduce is
    routed through ``_GradTap``, the others are detached (their gradient would land on accelerate's
    temporary copy and be lost anyway), and every loaded weight is registered so that autograd saves a
    ``_Reload`` for it instead of the tensor; before accelerate frees them, the parameters are put back."""

    def __init__(self, inner, align, routed: dict, live: dict, anchor: torch.Tensor):
        self.inner, self.align = inner, align  # the module's hook, and accelerate's AlignDevicesHook in it
        self.routed, self.live, self.anchor = routed, live, anchor
        self.swapped: list[tuple[nn.Module, str, torch.Tensor]] = []
        self.ptrs: list[int] = []

    def __getattr__(self, name):  # execution_device, offload, weights_map, ... of accelerate's hook
        return getattr(self.__dict__["align"], name)

    def pre_forward(self, module, *args, **kwargs):
        from accelerate.utils import named_module_tensors

        args, kwargs = self.inner.pre_forward(module, *args, **kwargs)
        for name, t in named_module_tensors(module, include_buffers=self.align.offload_buffers,
                                            recurse=self.align.place_submodules, remove_non_persistent=True):
            if t.device.type == "meta" or t.numel() == 0 or not t.is_contiguous():
                continue
            ptr = t.untyped_storage().data_ptr()
            self.live[ptr] = (self.align, name, t.dtype, t.storage_offset())
            self.ptrs.append(ptr)
            fn = self.routed.get(name)
            if not torch.is_grad_enabled() or (fn is None and not t.requires_grad):
                continue
            owner_name, _, attr = name.rpartition(".")
            owner = module.get_submodule(owner_name) if owner_name else module
            param = owner._parameters.get(attr)
            if param is None:
                continue
            if fn is None:  # a gradient no one reads: it would only keep the weight alive until backward
                owner._parameters[attr] = param.detach()
            else:
                reload = _Reload(self.align, name, t.dtype, t.size(), t.stride(), 0)
                owner._parameters[attr] = _GradTap.apply(self.anchor, param.detach(),
                                                         lambda g, fn=fn, r=reload: fn(g, r.load))
            self.swapped.append((owner, attr, param))
        return args, kwargs

    def post_forward(self, module, output):
        self._restore()
        return self.inner.post_forward(module, output)

    def _restore(self):
        for owner, attr, param in self.swapped:
            owner._parameters[attr] = param
        self.swapped.clear()
        for ptr in self.ptrs:
            self.live.pop(ptr, None)
        self.ptrs.clear()


@contextmanager
def offloaded_grads(offloaded: dict, routed: dict[nn.Module, dict[str, Callable]]) -> Iterator[None]:
    """Gradients of offloaded weights with memory bounded by one module's weights: each weight loaded for
    a call is tapped for its gradient (``routed``: module -> {parameter name: reduce}), and autograd
    saves a reference to it rather than the tensor; backward reloads it from accelerate's weights map
    (disk or CPU) when it needs it."""
    if not offloaded:
        yield
        return
    live: dict[int, tuple] = {}
    anchor = torch.zeros((), requires_grad=True)
    wrappers = {m: _OffloadGradHook(m._hf_hook, h, routed.get(m, {}), live, anchor) for m, h in offloaded.items()}

    def pack(t: torch.Tensor):
        if not live or t.device.type == "meta" or t.layout != torch.strided:
            return t
        try:
            entry = live.get(t.untyped_storage().data_ptr())
        except (RuntimeError, NotImplementedError):
            return t
        if entry is None:
            return t
        hook, name, dtype, base = entry
        return _Reload(hook, name, dtype, t.size(), t.stride(), t.storage_offset() - base)

    def unpack(x):
        return x.load() if isinstance(x, _Reload) else x

    try:
        for m, w in wrappers.items():
            m._hf_hook = w
        with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            yield
    finally:
        for m, w in wrappers.items():
            w._restore()
            m._hf_hook = w.inner


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
        if isinstance(getattr(m, "_hf_hook", None), _OffloadGradHook):
            out.append(f"{name} (offload gradient hook)")
    for name, p in model.named_parameters():
        if getattr(p, "_post_accumulate_grad_hooks", None) or p.grad is not None:
            out.append(f"{name} (grad hook)")
    return out


def layers_return_tuple(lm) -> bool:
    """Whether ``lm``'s decoder layers return a tuple (older transformers) or a tensor; probed once and
    remembered on ``lm`` (what ``replay`` must return)."""
    if not hasattr(lm, "_layer_returns_tuple"):
        lm._layer_returns_tuple = layer_returns_tuple(lm)
    return lm._layer_returns_tuple


@torch.no_grad()
def layer_returns_tuple(lm) -> bool:
    """Run one token through the first decoder layer and report whether it returns a tuple."""
    seen = []

    def fn(module, args, kwargs, output):
        seen.append(isinstance(output, tuple))
        raise StopForward

    ids = torch.tensor([[lm.tokenizer.bos_token_id or lm.tokenizer.pad_token_id or 0]], device=lm.device)
    with forward_hooks([(lm.arch.layers[0], fn)]), stop_after():
        lm.model(input_ids=ids, use_cache=False)
    return bool(seen and seen[0])
