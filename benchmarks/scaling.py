"""Cost of each stage (capture, saliency, lesion, patching) against the number of layers, the hidden
size, the number of items and the sequence length, on random-weight Llama models on the CPU (one
factor varied at a time around a base shape; a few minutes in all). Writes a table, a log-log figure
(benchmarks/scaling.png) and appends both with the fitted exponents and an extrapolation to Llama-3-8B
and -70B shapes on one GPU (an estimate, see ``extrapolate``) to benchmarks/RESULTS.md.

    python benchmarks/scaling.py [--quick]      # --quick: two points per factor
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import answered, pairs_of, plain_forward, random_llama  # noqa: E402

HERE = Path(__file__).parent
BASE = {"layers": 8, "hidden": 256, "items": 8, "seq": 1}
"""``seq`` multiplies the prompt length: k - 1 copies of a clinical preamble go before each prompt."""
SWEEP = {"layers": [4, 8, 16], "hidden": [128, 256, 512], "items": [4, 8, 16], "seq": [1, 2, 4]}
STAGES = ("forward", "capture", "saliency", "lesion", "patching")
PREAMBLE = "Clinical note from the outpatient department, reviewed by the attending physician. "
TARGETS = {
    "Llama-3-8B": dict(layers=32, hidden=4096, inter=14336, vocab=128256, heads=32, kv=8),
    "Llama-3-70B": dict(layers=80, hidden=8192, inter=28672, vocab=128256, heads=64, kv=8),
}
GPU = {"name": "H100/H200-class GPU, bf16", "flops": 989e12 * 0.35, "bandwidth": 4.8e12 * 0.6, "memory_gb": 141}
"""Assumed sustained rates: 35% of the dense bf16 peak, 60% of the memory bandwidth (an estimate)."""


def shape_of(layers: int, hidden: int) -> dict:
    heads = max(2, hidden // 64)
    return dict(hidden_size=hidden, intermediate_size=int(hidden * 2.75), num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=max(1, heads // 4), rope_theta=500000.0,
                max_position_embeddings=4096, rms_norm_eps=1e-5)


def measure(tok, point: dict) -> dict:
    """Wall time (s) of each stage at one point (one warm-up run, then the best of two)."""
    from medmap.capture import capture
    from medmap.capture.lesion import lesion_batch
    from medmap.capture.patching import Pair, patch_last
    from medmap.capture.saliency import layer_gradient_sums

    lm = random_llama(shape_of(point["layers"], point["hidden"]), tok, "cpu", torch.float32)
    pre = PREAMBLE * (point["seq"] - 1)
    n = point["items"]
    prompts, answers = answered("age", n)
    prompts = [pre + p for p in prompts]
    pairs = [Pair(pre + p.clean, pre + p.corrupted, p.clean_answer, p.corrupted_answer)
             for p in pairs_of("age", n)]
    runs = {
        "forward": lambda: plain_forward(lm, prompts),
        "capture": lambda: capture(lm, prompts, batch_size=32),
        "saliency": lambda: layer_gradient_sums(lm, prompts, answers),
        "lesion": lambda: lesion_batch(lm, prompts, answers),
        "patching": lambda: patch_last(lm, pairs),
    }
    out = {"tokens": float(np.mean([len(tok(p)["input_ids"]) for p in prompts]))}
    for stage, fn in runs.items():
        fn()
        best = math.inf
        for _ in range(2):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        out[stage] = best
    return out


def forward_flops(layers: int, hidden: int, inter: int, vocab: int, heads: int, kv: int, tokens: float) -> float:
    """Multiply-adds x 2 of one plain forward over ``tokens`` tokens (weights only; attention scores are
    small at these lengths)."""
    hd = hidden // heads
    per_layer = hidden * hidden * 2 + 2 * hidden * kv * hd + 3 * hidden * inter
    return 2 * tokens * (layers * per_layer + hidden * vocab)


def weight_bytes(layers: int, hidden: int, inter: int, vocab: int, heads: int, kv: int, bytes_per: int = 2) -> float:
    hd = hidden // heads
    return bytes_per * (layers * (hidden * hidden * 2 + 2 * hidden * kv * hd + 3 * hidden * inter) + 2 * hidden * vocab)


def slopes(rows: list[dict]) -> dict:
    """Log-log slope of each stage's time against each factor (least squares over that factor's points)."""
    out = {}
    for f, values in SWEEP.items():
        pts = [r for r in rows if r["factor"] in (f, "base")]
        x = np.log([r[f] if f != "seq" else r["tokens"] for r in pts])
        out[f] = {s: float(np.polyfit(x, np.log([r[s] for r in pts]), 1)[0]) for s in STAGES}
    return out


def stage_flops(stage: str, layers: int, hidden: int, inter: int, vocab: int, heads: int, kv: int,
                items: int, tokens: float, answer: int = 2) -> float:
    """FLOPs of one stage over ``items`` items (or pairs) of ``tokens`` prompt tokens and answers of
    ``answer`` tokens, counted from what medmap's code runs (weights' multiply-adds x 2):
    capture = one pass over the decoder layers; saliency = forward + backward (3 passes) of the layers
    over prompt + answer - 1 tokens, unembedding only the answer positions; lesion = the intact pass +
    one pass from each lesioned layer on (L / 2 passes on average), unembedding the answer positions
    each time; patching = the two prompts once, then for each patched layer l the last prompt token and
    one continuation token per answer token after the first through layers l + 1 .. L, unembedding
    the continuation positions in full (the first answer token needs two logits only)."""
    shape = dict(layers=layers, hidden=hidden, inter=inter, vocab=vocab, heads=heads, kv=kv)
    lay = forward_flops(**shape, tokens=1) - 2 * hidden * vocab  # one token through every layer
    unemb = 2 * hidden * vocab
    seq = tokens + answer - 1
    if stage == "forward":
        return items * tokens * (lay + unemb)
    if stage == "capture":
        return items * tokens * lay
    if stage == "saliency":
        return items * (3 * seq * lay + 2 * answer * unemb)
    if stage == "lesion":
        return items * (seq * lay * (1 + layers / 2) + (layers + 1) * answer * unemb)
    if stage == "patching":
        steps = (1 + 2 * (answer - 1)) * (layers - 1) / (2 * layers) * lay  # per patched layer: half the depth
        return items * (2 * tokens * lay + layers * (steps + 2 * (answer - 1) * unemb))
    raise ValueError(stage)


def achieved(row: dict, stage: str) -> float:
    """GFLOP/s the CPU reached on a stage at a measured point (by ``stage_flops``): roughly constant
    across points when the FLOP model describes the code."""
    d = row["hidden"]
    f = stage_flops(stage, row["layers"], d, int(d * 2.75), 49152, max(2, d // 64), max(1, max(2, d // 64) // 4),
                    row["items"], row["tokens"])
    return f / row[stage] / 1e9


def extrapolate(rows: list[dict], items: int = 48, tokens: float = 20.0) -> list[str]:
    """Per target shape and stage, an *estimate* of one domain's GPU time (``items`` items or pairs of
    ``tokens`` tokens, answers of two tokens): max(``stage_flops`` / the sustained GPU rate, model calls
    x weight bytes / the sustained bandwidth (small batches are bound by reading the weights)). The
    CPU rows check the FLOP model (``achieved``), not the GPU rate, which is assumed (``GPU``)."""
    calls = {"capture": math.ceil(items / 32), "saliency": 3 * math.ceil(items / 8)}
    lines = []
    for name, t in TARGETS.items():
        wb = weight_bytes(**t)
        fits = wb / 2**30 < 0.8 * GPU["memory_gb"]
        parts = []
        for s in STAGES:
            n_calls = calls.get(s, 1)
            if s == "lesion":
                n_calls = (t["layers"] / 2 + 1) * math.ceil(items / 16)
            elif s == "patching":  # prefix, unpatched steps, two steps per patched layer (half depth)
                n_calls = (3 + t["layers"]) * math.ceil(items / 16)
            est = max(stage_flops(s, **t, items=items, tokens=tokens) / GPU["flops"], n_calls * wb / GPU["bandwidth"])
            parts.append(f"{s} ~{est:.2f} s")
        note = "" if fits else (f"; bf16 weights {wb / 2**30:.0f} GiB do not fit one {GPU['memory_gb']} GB GPU "
                                "with activations: needs 2 GPUs, offload (device_map) or 8-bit weights")
        lines.append(f"- {name} (bf16 weights {wb / 2**30:.0f} GiB): " + ", ".join(parts) + note)
    return lines


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    for ax, f in zip(axes, SWEEP):
        pts = sorted([r for r in rows if r["factor"] in (f, "base")], key=lambda r: r[f])
        x = [r[f] if f != "seq" else r["tokens"] for r in pts]
        for s in STAGES:
            ax.loglog(x, [r[s] for r in pts], "o-", label=s)
        ax.set_xlabel({"seq": "prompt tokens"}.get(f, f))
        ax.set_ylabel("seconds (CPU)")
        ax.set_title(f"cost vs {f}")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    from medmap.models import load_model

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    quick = "--quick" in sys.argv
    tok = load_model("smollm2-135m").tokenizer
    points = [("base", dict(BASE))]
    for f, values in SWEEP.items():
        for v in values[::2] if quick else values:
            if v != BASE[f]:
                points.append((f, {**BASE, f: v}))
    rows = []
    t0 = time.perf_counter()
    for factor, p in points:
        r = {"factor": factor, **p, **measure(tok, p)}
        rows.append(r)
        print(" ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()), flush=True)
    k = slopes(rows)
    head = "| factor | layers | hidden | items | tokens | " + " | ".join(STAGES) + " |"
    table = [head, "|" + "---|" * (5 + len(STAGES))]
    for r in rows:
        table.append(f"| {r['factor']} | {r['layers']} | {r['hidden']} | {r['items']} | {r['tokens']:.0f} | "
                     + " | ".join(f"{r[s]:.3f}" for s in STAGES) + " |")
    exps = ["| stage | " + " | ".join(SWEEP) + " |", "|---|" + "---|" * len(SWEEP)]
    exps += [f"| {s} | " + " | ".join(f"{k[f][s]:.2f}" for f in SWEEP) + " |" for s in STAGES]
    est = extrapolate(rows)
    rates = ["| factor | layers | hidden | items | tokens | " + " | ".join(STAGES) + " |", "|" + "---|" * (5 + len(STAGES))]
    rates += [f"| {r['factor']} | {r['layers']} | {r['hidden']} | {r['items']} | {r['tokens']:.0f} | "
              + " | ".join(f"{achieved(r, s):.1f}" for s in STAGES) + " |" for r in rows]
    png = HERE / "scaling.png"
    figure(rows, png)
    cpu = platform.processor() or platform.machine()
    text = "\n".join([
        f"\n## Scaling ({datetime.date.today()}, CPU {cpu}, {torch.get_num_threads()} thread(s), "
        f"torch {torch.__version__}; {time.perf_counter() - t0:.0f} s)",
        "", "Command: `PYTHONPATH=src python benchmarks/scaling.py" + (" --quick" if quick else "") + "`. "
        "Random-weight Llama shapes (vocabulary 49152), float32, seconds per stage call (best of two); "
        "`forward` is one plain forward over the same items. Timings on a shared machine are noisy.",
        "", *table, "", "Log-log slopes (time ~ factor^slope):", "", *exps, "",
        "CPU GFLOP/s by the FLOP model of `stage_flops` (roughly constant where it describes the code; "
        "tiny shapes run below the machine's rate):", "", *rates, "",
        f"Extrapolation, one domain of 48 items / pairs of ~20 tokens on one {GPU['name']} "
        f"(an estimate: assumed {GPU['flops'] / 1e12:.0f} TFLOP/s and {GPU['bandwidth'] / 1e12:.1f} TB/s "
        "sustained, FLOPs from `stage_flops`; not a measurement):", "", *est,
        "", f"Figure: `benchmarks/{png.name}`.", ""])
    print(text)
    with open(HERE / "RESULTS.md", "a") as f:
        if f.tell() == 0:
            f.write("# Benchmark results\n\nAppended by the scripts in benchmarks/ (date, device, numbers).\n")
        f.write(text)


if __name__ == "__main__":
    main()
