"""Gradients of weights reduced per layer as autograd produces them, including under accelerate offload
(where the parameter object changes at every call), and reading an offloaded module's weights. Torch
hooks here, as in ``hooks``, are attached inside context managers and always removed."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from medmap.capture.hooks import attached
from medmap.errors import CaptureError


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

    with attached([lambda p=p, fn=fn: p.register_post_accumulate_grad_hook(make(fn)) for p, fn in plain]), \
            offloaded_grads(offloaded, routed):
        yield


@contextmanager
def recompute_layers(layers: list[nn.Module], model: nn.Module) -> Iterator[None]:
    """Inside, each of ``layers`` keeps only its input for backward, and backward runs it again from
    that input to get what its gradients need (activation checkpointing, ``torch.utils.checkpoint``).
    The rerun repeats the forward's operations on the same inputs, so the gradients are the same. What
    autograd holds for such a layer drops from its activations to one hidden state, for one more
    forward pass of it. Models whose weights accelerate offloads are left as they are: a rerun would
    load their weights a second time, past ``offloaded_grads``."""
    if _offloading_modules(model):
        yield
        return
    from torch.utils.checkpoint import checkpoint

    wrapped = list(layers)
    own = [layer.__dict__.get("forward") for layer in wrapped]  # an instance forward (accelerate's) or None

    def rerun(forward):
        def run(*args, **kwargs):
            return checkpoint(forward, *args, use_reentrant=False, **kwargs)
        return run

    try:
        for layer in wrapped:
            layer.forward = rerun(layer.forward)
        yield
    finally:
        for layer, forward in zip(wrapped, own):
            if forward is None:
                layer.__dict__.pop("forward", None)
            else:
                layer.forward = forward


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

    medmap_gradient_hook = True  # what hooks.attached_hooks looks for

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
