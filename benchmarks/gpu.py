"""GPU benchmark: maps both bundled models (smollm2-135m, gemma3-270m; every technique, through
``medmap.map``) and a Llama-3-8B-shaped random-weight model in bfloat16 built from a config (nothing
downloaded), and reports per model: per-stage wall time, peak GPU memory
(``torch.cuda.max_memory_allocated``) and the capture / patching / lesion / saliency ratios of the CPU
benchmarks (``_common``). Then checks that the GPU map of smollm2-135m equals a CPU float32 map within
tolerance (saliency, lesion and patching curves; geometry's UMAP-based curves are reported, not checked:
UMAP amplifies float differences).

    python benchmarks/gpu.py                    # on cuda: the three models, 16 items per domain
    python benchmarks/gpu.py --device cpu       # a small Llama shape and 4 items: checks the script runs

``tests/test_gpu_benchmark.py`` runs it on the CPU (``--models llama --domains symptoms --items 2``) and
checks its map comparison on planted score tables.

Options: ``--items N`` (items and pairs per domain), ``--domains a,b``, ``--models a,b`` (bundled names
and/or ``llama``), ``--no-check``. Prints ``RATIO_<stage>_<model> x`` lines and a summary table."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import (answered, capture_ratio, lesion_ratio, pairs_of, patching_ratio, random_llama,  # noqa: E402
                     saliency_ratio)

LLAMA_8B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                num_key_value_heads=8, rope_theta=500000.0, max_position_embeddings=8192, rms_norm_eps=1e-5)
"""Llama-3-8B's shape (the vocabulary is the bundled tokenizer's: token ids must fit)."""
LLAMA_CPU = dict(hidden_size=256, intermediate_size=704, num_hidden_layers=6, num_attention_heads=8,
                 num_key_value_heads=2, rope_theta=500000.0, max_position_embeddings=2048, rms_norm_eps=1e-5)
"""The same architecture, small enough for a CPU check of this script."""


def bundled(name: str, device: str, dtype: str = "float32"):
    from medmap.models import load_model

    lm = load_model(name, dtype=dtype)
    lm.model.to(device)
    return lm


def peak_reset(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_gb(device: str) -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")


def map_model(lm, domains: list[str], items: int, device: str, quick: bool = False) -> tuple[dict, object]:
    """``medmap.map`` of ``lm`` (every technique), with per-stage wall times from the run folder."""
    import medmap

    cfg = {"analyze": {"causal": {"max_items": items, "max_pairs": items, "n_boot": 20}}}
    if quick:  # a CPU check of the script: UMAP's bootstrap and epochs cut (they run on the CPU anyway)
        cfg["analyze"]["geometry"] = {"n_boot": 2, "n_epochs": 30}
    with tempfile.TemporaryDirectory(prefix="medmap-gpu-") as tmp:
        peak_reset(device)
        t = time.perf_counter()
        km = medmap.map(lm, domains=domains, config=cfg, out=Path(tmp) / "run", progress=False)
        total = time.perf_counter() - t
        stages = json.loads((Path(tmp) / "run" / "stage_times.json").read_text())
    per_tech: dict[str, float] = {}
    for key, sec in stages.items():
        per_tech[key.split("/")[1]] = per_tech.get(key.split("/")[1], 0.0) + sec
    return {"map_total_s": total, **{f"{k}_s": v for k, v in per_tech.items()},
            "map_peak_gb": peak_gb(device)}, km


def ratios(lm, items: int, device: str) -> dict:
    """The CPU benchmarks' ratios on this model and device (fewer items; the naive loops are slow)."""
    out = {}
    prompts, answers = answered("age", items)
    out["capture"] = capture_ratio(lm, answered("age", 8 * items)[0])
    out["patching"] = patching_ratio(lm, pairs_of("age", max(2, items // 2)), "patching age", tol=tol_of(lm))
    out["patching_drugs"] = patching_ratio(lm, pairs_of("drugs", max(2, items // 2)), "patching drugs",
                                           tol=tol_of(lm))
    out["lesion"] = lesion_ratio(lm, prompts, answers, tol=100 * tol_of(lm))
    peak_reset(device)
    out["saliency"] = saliency_ratio(lm, prompts, answers)
    out["saliency_peak_gb"] = peak_gb(device)
    return out


def tol_of(lm) -> float:
    """Fast and naive paths agree to float32 rounding; in bfloat16 only to its ~3 significant digits."""
    return 1e-4 if next(lm.model.parameters()).dtype == torch.float32 else 0.25


def check_same_map(km_dev, km_cpu, atol: float = 2e-3, rtol: float = 1e-2) -> dict:
    """Largest difference between two maps' score rows, per technique; saliency, lesion and patching
    must agree within ``atol + rtol * |cpu value|``."""
    a, b = km_dev.scores, km_cpu.scores
    key = ["domain", "technique", "metric", "layer"]
    m = a.merge(b, on=key, suffixes=("_dev", "_cpu"))
    assert len(m) == len(a) == len(b), "the two maps have different score rows"
    m["diff"] = (m["value_dev"] - m["value_cpu"]).abs()
    # '@random_init' controls re-initialise the weights from the device's own random stream: not compared
    m["bad"] = (m["diff"] > atol + rtol * m["value_cpu"].abs()) & ~m["metric"].str.contains("@random_init")
    out = {}
    for tech, g in m.groupby("technique"):
        out[tech] = float(g["diff"].max())
        if tech != "geometry":
            bad = g[g["bad"]]
            assert bad.empty, f"{tech}: device and CPU maps differ, e.g. {bad.head(3).to_dict('records')}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--items", type=int, default=None)
    ap.add_argument("--domains", default="age,drugs")
    ap.add_argument("--models", default="smollm2-135m,gemma3-270m,llama")
    ap.add_argument("--no-check", action="store_true")
    a = ap.parse_args()
    dev = a.device
    cpu = dev == "cpu"
    if not cpu and not torch.cuda.is_available():
        sys.exit("no GPU here: run with --device cpu")
    if not cpu:
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32: the CPU check compares
        torch.backends.cudnn.allow_tf32 = False
    if cpu:
        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    items = a.items or (4 if cpu else 16)
    domains = a.domains.split(",")
    results: dict[str, dict] = {}
    km_smol = None
    for name in a.models.split(","):
        t = time.perf_counter()
        if name == "llama":
            tok = bundled("smollm2-135m", "cpu").tokenizer
            lm = random_llama(LLAMA_CPU if cpu else LLAMA_8B, tok, dev, torch.bfloat16)
        else:
            lm = bundled(name, dev)
        load = time.perf_counter() - t
        print(f"== {lm.name} ({lm.n_layers} layers, hidden {lm.hidden_size}) on {dev}: loaded in {load:.1f} s",
              flush=True)
        r, km = map_model(lm, domains, items, dev, quick=cpu)
        r["load_s"] = load
        if name == "smollm2-135m":
            km_smol = km
        r.update({f"ratio_{k}": v for k, v in ratios(lm, items, dev).items()})
        results[lm.name] = r
        for k, v in r.items():
            if k.startswith("ratio_") and not k.endswith("_gb"):
                print(f"RATIO_{k[6:]}_{lm.name} {v:.2f}")
        print(json.dumps({k: round(v, 3) for k, v in r.items()}), flush=True)
        del lm
        if not cpu:
            torch.cuda.empty_cache()
    if km_smol is not None and not a.no_check:
        lm = bundled("smollm2-135m", "cpu")
        _, km_cpu = map_model(lm, domains, items, "cpu", quick=cpu)
        diffs = check_same_map(km_smol, km_cpu)
        print(f"smollm2-135m {dev} vs cpu float32, max |diff| per technique: "
              + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()) + " (geometry: reported only)")
    cols = sorted({k for r in results.values() for k in r})
    print("\nmodel".ljust(26) + " ".join(c[:14].rjust(14) for c in cols))
    for m, r in results.items():
        print(m[:25].ljust(25) + " " + " ".join(f"{r.get(c, float('nan')):14.3f}" for c in cols))


if __name__ == "__main__":
    main()
