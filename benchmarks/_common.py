"""Shared helpers of the benchmark scripts (timing medians, the model and prompts)."""

import os
import statistics
import time

import torch


def median_time(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def setup(n_items: int):
    from medmap.concepts import load_builtin
    from medmap.models import load_model

    # BENCH_THREADS=1 on a machine whose cores are shared (two-thread OpenMP barriers stall there)
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    lm = load_model("smollm2-135m")
    cs = load_builtin("age")
    return lm, cs.items[:n_items]
