"""Patching sweep over all layers, last position: medmap's fast path vs one full forward per
(pair, layer) with a hook. Results must agree. Target: RATIO (naive / medmap) >= 20."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import median_time, setup  # noqa: E402

from medmap.capture.patching import Pair, patch_last, patch_reference  # noqa: E402

if __name__ == "__main__":
    lm, items = setup(606)
    pairs = [Pair(it.prompt, it.pair.corrupted_prompt, it.pair.clean_answer, it.pair.corrupted_answer)
             for it in items if it.pair][:16]
    fast = patch_last(lm, pairs)["ld_patched"]
    ref = patch_reference(lm, pairs)
    err = (fast - ref).abs().max().item()
    print(f"pairs {len(pairs)}, layers {lm.n_layers}: max |fast - naive| = {err:.2e}")
    assert err < 1e-3, "fast and naive patching disagree"
    tn = median_time(lambda: patch_reference(lm, pairs), repeats=1)
    tf = median_time(lambda: patch_last(lm, pairs), repeats=3)
    print(f"naive {tn:.2f} s, medmap {tf:.2f} s")
    print(f"RATIO {tn / tf:.2f}")
