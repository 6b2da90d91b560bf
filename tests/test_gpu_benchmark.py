"""benchmarks/gpu.py on the CPU, which is how the script is tested (no test needs a GPU): it maps a small
random-weight Llama in bfloat16 with every technique and prints its ratios; its map comparison accepts
equal maps and rejects a causal curve that moved."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _gpu_module():
    """benchmarks/gpu.py as a module. It imports its folder's ``_common``, a name tools/concepts also
    uses: the tools' module (imported by the concept tests) is set aside meanwhile, then put back."""
    import importlib.util

    saved = sys.modules.pop("_common", None)
    try:
        spec = importlib.util.spec_from_file_location("medmap_benchmark_gpu", ROOT / "benchmarks" / "gpu.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop("_common", None)
        if saved is not None:
            sys.modules["_common"] = saved
        while str(ROOT / "benchmarks") in sys.path:
            sys.path.remove(str(ROOT / "benchmarks"))
    return module


def test_gpu_script_runs_on_cpu():
    env = {**os.environ, "BENCH_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--device", "cpu", "--models", "llama",
                          "--domains", "symptoms", "--items", "2"], capture_output=True, text=True, env=env,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    for stage in ("capture", "patching", "patching_drugs", "lesion", "saliency"):
        assert f"RATIO_{stage}_random-llama" in out.stdout, stage
    assert "map_total_s" in out.stdout and "geometry_s" in out.stdout


def _km(rows):
    return SimpleNamespace(scores=pd.DataFrame(rows, columns=["domain", "technique", "metric", "layer", "value"]))


def test_map_comparison_accepts_equal_maps_and_rejects_a_moved_causal_curve():
    gpu = _gpu_module()
    base = [("age", "lesion", "logprob_drop", 0, 1.0), ("age", "geometry", "r2_umap.age", 0, 0.5),
            ("age", "geometry", "r2_umap.age@random_init", 0, 0.1)]
    moved_geometry = [r[:4] + (r[4] + 0.3,) if r[1] == "geometry" else r for r in base]
    diffs = gpu.check_same_map(_km(moved_geometry), _km(base))  # geometry: reported, not checked
    assert diffs["lesion"] == 0.0 and diffs["geometry"] == pytest.approx(0.3)
    moved_lesion = [r[:4] + (r[4] + 0.1,) if r[1] == "lesion" else r for r in base]
    with pytest.raises(AssertionError, match="lesion"):
        gpu.check_same_map(_km(moved_lesion), _km(base))
