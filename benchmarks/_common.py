"""Shared helpers of the benchmark scripts (timing medians, the model and prompts)."""

import json
import os
import statistics
import time
from pathlib import Path

import torch


def median_time(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def paired_times(fa, fb, repeats: int = 3) -> tuple[float, float, float]:
    """Medians of ``fa``'s and ``fb``'s times and of their ratio fb / fa, timed in alternation (a, b, a,
    b, ...) after a warm-up of each: a machine whose speed drifts during the measurement moves both
    alike, where timing all of ``fa`` before all of ``fb`` would move the ratio."""
    fa()
    fb()
    ta, tb = [], []
    for _ in range(repeats):
        for f, out in ((fa, ta), (fb, tb)):
            t = time.perf_counter()
            f()
            out.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb), statistics.median(b / a for a, b in zip(ta, tb))


def setup(n_items: int):
    from medmap.concepts import load_builtin
    from medmap.models import load_model

    # BENCH_THREADS=1 on a machine whose cores are shared (two-thread OpenMP barriers stall there)
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    lm = load_model("smollm2-135m")
    cs = load_builtin("age")
    return lm, cs.items[:n_items]


def sync(lm) -> None:
    """Wait for the device (timings on a GPU measure finished work)."""
    if torch.cuda.is_available() and str(lm.device).startswith("cuda"):
        torch.cuda.synchronize()


def timed(lm, fn, repeats: int = 3) -> float:
    """``median_time`` of ``fn`` with the device synchronised after each call."""
    def run():
        fn()
        sync(lm)
    return median_time(run, repeats)


def pairs_of(domain: str, n: int):
    """The first ``n`` patching pairs of a built-in domain."""
    from medmap.capture.patching import Pair
    from medmap.concepts import load_builtin

    return [Pair(it.prompt, it.pair.corrupted_prompt, it.pair.clean_answer, it.pair.corrupted_answer)
            for it in load_builtin(domain).items if it.pair][:n]


def answered(domain: str, n: int) -> tuple[list[str], list[str]]:
    """Prompts and reference answers of the first ``n`` answered items of a built-in domain."""
    from medmap.concepts import load_builtin

    items = [it for it in load_builtin(domain).items if it.answer][:n]
    return [it.prompt for it in items], [it.answer for it in items]


def plain_forward(lm, prompts: list[str]) -> None:
    """One plain forward (full logits) over ``prompts``: the unit the saliency ratio is measured in."""
    from medmap.capture.batching import encode

    with torch.no_grad():
        lm.model(**encode(lm.tokenizer, prompts).to(lm.device).model_inputs(), use_cache=False)


def capture_ratio(lm, prompts: list[str], batch: int = 32, repeats: int = 3) -> float:
    """medmap capture / plain ``output_hidden_states`` forward (target <= 0.80)."""
    from medmap.capture import capture
    from medmap.capture.batching import encode

    def plain():
        with torch.no_grad():
            for s in range(0, len(prompts), batch):
                b = encode(lm.tokenizer, prompts[s:s + batch]).to(lm.device)
                out = lm.model(**b.model_inputs(), output_hidden_states=True, use_cache=False)
                _ = [h[:, -1].float().cpu() for h in out.hidden_states]

    return timed(lm, lambda: capture(lm, prompts, batch_size=batch), repeats) / timed(lm, plain, repeats)


def patching_ratio(lm, pairs, name: str = "", tol: float = 1e-4, repeats: int = 3) -> float:
    """Naive loop (one forward per pair, layer and answer) / medmap's fast path, after checking that
    both agree within ``tol`` (target >= 40). The naive loop runs once (it is slow)."""
    from medmap.capture.patching import patch_last, patch_reference

    fast = patch_last(lm, pairs)["ld_patched"]  # also the warm-up
    sync(lm)
    t = time.perf_counter()
    ref = patch_reference(lm, pairs)
    sync(lm)
    tn = time.perf_counter() - t
    err = (fast - ref).abs().max().item()
    print(f"{name}: pairs {len(pairs)}, layers {lm.n_layers}: max |fast - naive| = {err:.2e}")
    assert err < tol, f"{name}: fast and naive patching disagree"
    tf = timed(lm, lambda: patch_last(lm, pairs), repeats)
    print(f"{name}: naive {tn:.2f} s, medmap {tf:.3f} s ({1000 * tf / len(pairs):.1f} ms per pair)")
    return tn / tf


def lesion_ratio(lm, prompts: list[str], answers: list[str], tol: float = 1e-3, repeats: int = 3) -> float:
    """Naive lesion sweep (a full forward per lesioned layer) / medmap's (target >= 1.8), after checking
    that both agree within ``tol``."""
    from medmap.capture.lesion import lesion_batch, lesion_reference

    f = lesion_batch(lm, prompts, answers)
    r = lesion_reference(lm, prompts, answers)
    err = max((f[k] - r[k]).abs().max().item() for k in ("logprob", "kl"))
    print(f"lesion: items {len(prompts)}, layers {lm.n_layers}: max |fast - naive| = {err:.2e}")
    assert err < tol, "fast and naive lesioning disagree"
    tn = timed(lm, lambda: lesion_reference(lm, prompts, answers), repeats)
    tf = timed(lm, lambda: lesion_batch(lm, prompts, answers), repeats)
    print(f"lesion: naive {tn:.3f} s, medmap {tf:.3f} s")
    return tn / tf


def saliency_ratio(lm, prompts: list[str], answers: list[str], repeats: int = 3) -> float:
    """Saliency (forward and backward) / one plain forward over the same items (target <= 3.0)."""
    from medmap.capture.saliency import layer_gradient_sums

    tp = timed(lm, lambda: plain_forward(lm, prompts), repeats)
    ts = timed(lm, lambda: layer_gradient_sums(lm, prompts, answers), repeats)
    print(f"saliency: items {len(prompts)}: plain forward {tp:.3f} s, saliency {ts:.3f} s")
    return ts / tp


def random_llama(shape: dict, tokenizer, device: str, dtype: torch.dtype, seed: int = 0):
    """A random-weight Llama of ``shape`` built on ``device`` in ``dtype`` (no download)."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    from medmap.models import LoadedModel

    cfg = LlamaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                      tie_word_embeddings=False, **shape)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    n = sum(p.numel() for p in model.parameters())
    name = f"random-llama-{n / 1e9:.2f}B"
    # identity given: fingerprinting billions of weights would only cost time (a fresh random model)
    return LoadedModel.from_model(model, tokenizer, name=name, identity=f"{name}-seed{seed}-{dtype}")


def activations(cs, run: Path | None):
    """[items, layers+1, hidden] of ``cs``: from a run's capture cache when one holds exactly its items,
    else captured now."""
    if run is not None:
        from safetensors.numpy import load_file

        ids = [it.id for it in cs.items]
        for entry in sorted((run / "cache" / "capture").glob("*/items.json")):
            if json.loads(entry.read_text())["ids"] == ids:
                return load_file(str(entry.parent / "activations.safetensors"))["activations"]
    from medmap.capture.activations import capture

    lm, _ = setup(1)
    return capture(lm, [it.prompt for it in cs.items]).numpy()
