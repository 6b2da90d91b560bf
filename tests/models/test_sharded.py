"""A model dispatched by accelerate with part of its weights offloaded gives the same numbers as the
model in one piece, for every technique, saliency included.

On a machine without a GPU the execution device is the CPU and the offloaded part goes to disk: its
weights are meta tensors between calls and accelerate loads them for each call of their module, which
is the same mechanism as CPU offload behind a GPU (only the weights map differs)."""

import gc
import weakref

import pytest
import torch
from torch import nn

from medmap.capture import capture
from medmap.capture import gradients as G
from medmap.capture import hooks as H
from medmap.capture.lesion import lesion_batch, lesion_reference
from medmap.capture.patching import Pair, patch_last, patch_positions
from medmap.capture.saliency import finish, layer_gradient_sums
from medmap.errors import CaptureError, ModelError
from medmap.models import load_model
from medmap.models.loader import parse_device_map, parse_max_memory
from tiny import saved_tiny, tiny_model

PROMPTS = ["The first-line drug for type 2 diabetes is", "Chest pain points to the", "A 17 year old patient"]
ANSWERS = [" metformin", " heart", " is"]
PAIRS = [Pair("A 30 year old man has", "A 80 year old man has", " x", " y"),
         Pair("Chest pain is", "Chest ache is", " a", " b")]
MIXED = {"model.embed_tokens": "disk", "model.layers.0": "cpu", "model.layers.1": "disk", "model.layers.2": "cpu",
         "model.layers.3": "disk", "model.norm": "cpu", "model.rotary_emb": "cpu", "lm_head": "disk"}
"""Embedding, unembedding and every other decoder layer offloaded to disk."""


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("sharded")
    saved_tiny(d / "model")
    plain = load_model(str(d / "model"))
    sharded = load_model(str(d / "model"), device_map=MIXED, offload_folder=d / "offload")
    yield plain, sharded, d
    for m in (plain, sharded):
        assert H.attached_hooks(m.model) == []


def _close(a, b):
    torch.testing.assert_close(b.float(), a.float(), rtol=0, atol=1e-5)


def test_the_model_is_really_offloaded(models):
    _, sh, _ = models
    assert sh.offloaded
    assert sh.source["device_map"]["model.layers.1"] == "disk"
    meta = {n for n, p in sh.model.named_parameters() if p.device.type == "meta"}
    assert "model.layers.1.self_attn.q_proj.weight" in meta and "lm_head.weight" in meta
    assert "model.layers.0.self_attn.q_proj.weight" not in meta
    assert sh.device == torch.device("cpu")  # the embedding's execution device, not 'meta'


def test_capture_is_the_same(models):
    plain, sh, _ = models
    _close(capture(plain, PROMPTS, batch_size=2), capture(sh, PROMPTS, batch_size=2))


def test_lesion_fast_path_is_the_same(models):
    plain, sh, _ = models
    a, b = lesion_batch(plain, PROMPTS, ANSWERS), lesion_batch(sh, PROMPTS, ANSWERS)
    for k in ("logprob", "kl", "base_logprob"):
        _close(a[k], b[k])
    assert torch.equal(a["correct"], b["correct"])
    _close(lesion_reference(sh, PROMPTS, ANSWERS)["logprob"], b["logprob"])


@pytest.mark.parametrize("positions", ["last", "all"])
def test_patching_is_the_same(models, positions):
    plain, sh, _ = models
    f = (lambda lm: patch_last(lm, PAIRS)) if positions == "last" else \
        (lambda lm: patch_positions(lm, PAIRS, positions="all"))
    a, b = f(plain), f(sh)
    for k in a:
        _close(a[k], b[k])


@pytest.mark.parametrize("stat", ["mean_abs", "l2", "grad_x_weight"])
def test_saliency_is_the_same_with_offloaded_layers(models, stat):
    plain, sh, _ = models
    a = finish(**layer_gradient_sums(plain, PROMPTS, ANSWERS, stat), stat=stat)
    b = finish(**layer_gradient_sums(sh, PROMPTS, ANSWERS, stat), stat=stat)
    assert (b[[1, 3]] > 0).all()  # the offloaded layers get their gradients, not zeros
    _close(a, b)
    assert all(p.grad is None for p in sh.model.parameters())
    assert all(p.requires_grad for p in sh.model.parameters())


def test_offloaded_weights_are_not_kept_from_forward_to_backward(models, monkeypatch):
    """Memory stays bounded by one module's weights: autograd keeps a reference to each offloaded
    weight, not the weight, and backward reloads it."""
    _, sh, _ = models
    loaded, reloads = [], [0]
    pre = G._OffloadGradHook.pre_forward

    def spy(self, module, *args, **kwargs):
        out = pre(self, module, *args, **kwargs)
        loaded.extend(weakref.ref(t) for _, t in module.named_parameters(recurse=False))
        return out

    load = G._Reload.load

    def counting(self):
        reloads[0] += 1
        return load(self)

    monkeypatch.setattr(G._OffloadGradHook, "pre_forward", spy)
    monkeypatch.setattr(G._Reload, "load", counting)
    layer = sh.arch.layers[1]
    seen = []
    targets = [(layer.mlp.down_proj, "weight", lambda g, w: seen.append(float(g.abs().sum())))]
    ids = torch.tensor([[1, 40, 41, 42]])
    try:  # every weight requires a gradient here; only the target's is read
        with G.grad_reducers(targets, sh.model):
            loss = sh.model(input_ids=ids, use_cache=False).logits.float().logsumexp(-1).sum()
            gc.collect()
            assert loaded and all(r() is None for r in loaded), "an offloaded weight outlived its call"
            assert reloads[0] == 0
            loss.backward()
    finally:
        sh.model.zero_grad(set_to_none=True)
    assert reloads[0] > 0 and len(seen) == 1 and seen[0] > 0


def test_a_meta_parameter_nothing_loads_is_a_clear_error(models):
    plain, _, _ = models
    lonely = nn.Linear(4, 4, device="meta")
    with pytest.raises(CaptureError, match="meta device and no accelerate offload hook"):
        with G.grad_reducers([(lonely, "weight", lambda g, w: None)], plain.model):
            pass


def test_max_memory_forces_offload_with_the_same_numbers(models):
    plain, _, d = models
    size = sum(p.numel() * p.element_size() for p in plain.model.parameters())
    sh = load_model(str(d / "model"), max_memory={"cpu": int(size * 0.5)}, offload_folder=d / "offload2")
    assert "disk" in sh.source["device_map"].values() and sh.offloaded
    _close(capture(plain, PROMPTS), capture(sh, PROMPTS))
    a = finish(**layer_gradient_sums(plain, PROMPTS, ANSWERS), stat="mean_abs")
    _close(a, finish(**layer_gradient_sums(sh, PROMPTS, ANSWERS), stat="mean_abs"))


def test_placement_options_parse_and_fail_clearly(models):
    _, _, d = models
    assert parse_max_memory("0=20GiB, cpu=60GiB") == {0: "20GiB", "cpu": "60GiB"}
    assert parse_max_memory({"cuda:1": 1000}) == {1: 1000}
    assert parse_device_map('{"": "disk"}') == {"": "disk"}
    assert parse_device_map("auto") == "auto"
    with pytest.raises(ModelError, match="DEVICE=SIZE"):
        parse_max_memory("20GiB")
    with pytest.raises(ModelError, match="unknown device 'gpu'"):
        parse_max_memory("gpu=1GiB")
    with pytest.raises(ModelError, match="offload_folder is only used with a device_map"):
        load_model(str(d / "model"), offload_folder=d / "x")


def test_cli_placement_flags_reach_load_model(models, monkeypatch, tmp_path):
    from medmap import pipeline
    from medmap.cli.main import main

    _, _, d = models
    got = {}

    def fake_load(spec, **kw):
        got.update(kw)
        raise ModelError("stop here")

    monkeypatch.setattr("medmap.models.load_model", fake_load)
    with pytest.raises(SystemExit):
        main(["run", "--model", str(d / "model"), "--domains", "age", "--out", str(tmp_path / "r"),
              "--dtype", "bfloat16", "--device-map", "auto", "--max-memory", "0=10GiB,cpu=30GiB",
              "--offload-folder", str(tmp_path / "off")])
    assert got["dtype"] == "bfloat16" and got["device_map"] == "auto"
    assert got["max_memory"] == "0=10GiB,cpu=30GiB" and got["offload_folder"] == str(tmp_path / "off")
    base = pipeline.config_from_dict({})
    placed = pipeline.config_from_dict({"max_memory": {0: "1GiB"}, "offload_folder": "/tmp/o"})
    assert base.digest() == placed.digest()  # where weights live changes no result, nor the run folder


@pytest.mark.parametrize("arch", ["gpt2", "gemma2"])
def test_other_layouts_tied_and_conv1d_weights(arch, tmp_path):
    """GPT-2 (tied embedding/unembedding, Conv1D weights) and Gemma 2 (logit soft-capping), with the
    embedding, the unembedding and every other decoder layer on disk."""
    lm = tiny_model(arch)
    lm.model.save_pretrained(tmp_path / "model", safe_serialization=True)
    lm.tokenizer.save_pretrained(tmp_path / "model")
    plain = load_model(str(tmp_path / "model"))
    sp = plain.arch.spec
    dm = {sp.embed: "disk", sp.final_norm: "cpu", sp.unembed: "disk"}
    dm.update({f"{sp.layers}.{i}": ("disk" if i % 2 else "cpu") for i in range(plain.n_layers)})
    for name, m in plain.model.named_modules():  # everything else (position embeddings, rotary) on the CPU
        placed = any(name == k or name.startswith(k + ".") or k.startswith(name + ".") for k in dm)
        if name and not placed and (list(m.parameters(recurse=False)) or list(m.buffers(recurse=False))):
            dm[name] = "cpu"
    sh = load_model(str(tmp_path / "model"), device_map=dm, offload_folder=tmp_path / "offload")
    assert sh.offloaded
    _close(capture(plain, PROMPTS), capture(sh, PROMPTS))
    for k, v in patch_last(plain, PAIRS).items():
        _close(v, patch_last(sh, PAIRS)[k])
    _close(lesion_batch(plain, PROMPTS, ANSWERS)["logprob"], lesion_batch(sh, PROMPTS, ANSWERS)["logprob"])
    a = finish(**layer_gradient_sums(plain, PROMPTS, ANSWERS), stat="mean_abs")
    b = finish(**layer_gradient_sums(sh, PROMPTS, ANSWERS), stat="mean_abs")
    assert (b[1::2] > 0).all()
    _close(a, b)
    assert H.attached_hooks(sh.model) == []
