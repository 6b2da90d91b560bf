"""Saliency over 16 items vs one plain forward over the same items (target RATIO <= 3.0), and peak
memory of saliency vs inference on the same batch (MEMORY_RATIO, target <= 1.4), each the median of three
fresh processes (peak resident set size). The items are the first 16 answered age items (few-shot
prompts of 23-63 tokens; ``--domain D`` for another set). The time ratio is the median of three
alternating timings of the two (``_common.paired_times``).

The default path packs the items several to a row (``pack``) and keeps the activations of as many
layers as fit in ``ACTIVATION_BUDGET`` of the weights; the others run again in backward from their input
(``rerun_layers``; here 23 of 30 layers). The ``_keep`` lines measure ``recompute=False``: autograd
keeps every layer's activations (memory grows with the prompts' length), with no layer run again.

Resident set size also counts what neither computation allocates: library code paged in on first use
(the backward kernels) and freed memory that glibc's heap keeps. Two identical saliency processes here
peaked 160 MB apart. ``ALLOCATED_RATIO`` is therefore printed beside it: the weights plus the peak bytes
the operation itself holds in glibc's heap (``mallinfo2``, sampled every millisecond), the CPU
counterpart of ``torch.cuda.max_memory_allocated`` that ``gpu.py`` reports."""

import ctypes
import json
import statistics
import resource
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import answered, paired_times, setup  # noqa: E402


def _peak(mode: str, domain: str, runs: int = 3) -> dict:
    """Median over ``runs`` fresh processes (the allocator's high-water mark varies a little run to run)."""
    got = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, __file__, "--domain", domain, "--peak", mode],
                             capture_output=True, text=True, check=True)
        got.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(g[k] for g in got) for k in got[0]}


if __name__ == "__main__":
    from medmap.capture.batching import encode
    from medmap.capture.saliency import layer_gradient_sums

    lm, _ = setup(0)
    # --domain D: another built-in set's first 16 answered items (the first items of a set can be neutral
    # ones, without an answer)
    domain = sys.argv[sys.argv.index("--domain") + 1] if "--domain" in sys.argv else "age"
    prompts, answers = answered(domain, 16)
    if "--peak" in sys.argv:
        # loading leaves a high-water mark above the steady state, so the peak *current* RSS is sampled
        # by a thread while the operation runs (ru_maxrss would only show the loading peak)
        import threading

        def rss_mb():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * resource.getpagesize() / 2**20

        class MallInfo2(ctypes.Structure):  # glibc's struct mallinfo2 (glibc >= 2.33): no library reads it
            _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                       "fsmblks", "uordblks", "fordblks", "keepcost")]

        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2

        def heap_mb():  # bytes in use: the heap's allocated chunks and malloc's own mappings
            m = libc.mallinfo2()
            return (m.uordblks + m.hblkhd) / 2**20

        weights_mb = sum(p.numel() * p.element_size() for p in lm.model.parameters()) / 2**20
        base, heap0, peak, heap, stop = rss_mb(), heap_mb(), [0.0], [0.0], threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mb())
                heap[0] = max(heap[0], heap_mb())
                stop.wait(0.001)

        th = threading.Thread(target=sample)
        th.start()
        if sys.argv[-1] == "inference":
            with torch.no_grad():
                lm.model(**encode(lm.tokenizer, prompts).model_inputs(), use_cache=False)
        else:
            layer_gradient_sums(lm, prompts, answers, recompute=False if sys.argv[-1] == "keep" else None)
        stop.set()
        th.join()
        print(json.dumps({"delta_mb": peak[0] - base, "peak_mb": peak[0],
                          "allocated_mb": weights_mb + heap[0] - heap0}))
        sys.exit(0)

    def plain():
        with torch.no_grad():
            lm.model(**encode(lm.tokenizer, prompts).model_inputs(), use_cache=False)

    # the default path against the plain one (every activation kept, one item per padded row)
    got = layer_gradient_sums(lm, prompts, answers)["sums"]
    want = layer_gradient_sums(lm, prompts, answers, recompute=False, pack=False)["sums"]
    err = float(((got - want).abs() / want.abs()).max())
    print(f"max relative difference of the per-layer sums, default vs plain autograd: {err:.1e}")
    assert err < 1e-4, "saliency's default path and plain autograd disagree"
    tp, ts, ratio = paired_times(plain, lambda: layer_gradient_sums(lm, prompts, answers))
    tpk, tk, ratio_keep = paired_times(plain, lambda: layer_gradient_sums(lm, prompts, answers, recompute=False))
    inf, sal, keep = (_peak(m, domain) for m in ("inference", "saliency", "keep"))
    print(f"{domain} items {len(prompts)}: plain forward {tp:.3f} s, saliency {ts:.3f} s; keeping every "
          f"activation: plain forward {tpk:.3f} s, saliency {tk:.3f} s")
    print(f"peak RSS: inference {inf['peak_mb']:.0f} MB, saliency {sal['peak_mb']:.0f} MB, keeping every activation "
          f"{keep['peak_mb']:.0f} MB (above the loaded model: {inf['delta_mb']:.0f}, {sal['delta_mb']:.0f}, "
          f"{keep['delta_mb']:.0f} MB)")
    print(f"allocated (weights plus the peak the operation holds): inference {inf['allocated_mb']:.0f} MB, "
          f"saliency {sal['allocated_mb']:.0f} MB, keeping every activation {keep['allocated_mb']:.0f} MB")
    print(f"MEMORY_RATIO {sal['peak_mb'] / inf['peak_mb']:.2f}")
    print(f"ALLOCATED_RATIO {sal['allocated_mb'] / inf['allocated_mb']:.2f}")
    print(f"RATIO {ratio:.2f}")
    print(f"MEMORY_RATIO_keep {keep['peak_mb'] / inf['peak_mb']:.2f}")
    print(f"ALLOCATED_RATIO_keep {keep['allocated_mb'] / inf['allocated_mb']:.2f}")
    print(f"RATIO_keep {ratio_keep:.2f}")
