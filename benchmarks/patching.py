"""Patching sweep over all layers, last position: medmap's fast path vs one full forward per
(pair, layer, answer) with a hook. Results must agree (1e-4). Target: RATIO (naive / medmap) >= 40.

Two domains: ``age`` (answers of one or two tokens; the RATIO line) and ``drugs`` (answers of several
tokens, e.g. " platelet aggregation inhibitors"; the RATIO_drugs line), each with the time per pair.
``--pairs N`` sets the number of pairs per domain (16)."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import median_time, setup  # noqa: E402

from medmap.capture.patching import Pair, patch_last, patch_reference  # noqa: E402


def pairs_of(domain: str, n: int) -> list[Pair]:
    from medmap.concepts import load_builtin

    return [Pair(it.prompt, it.pair.corrupted_prompt, it.pair.clean_answer, it.pair.corrupted_answer)
            for it in load_builtin(domain).items if it.pair][:n]


def compare(lm, pairs: list[Pair], name: str) -> float:
    fast = patch_last(lm, pairs)["ld_patched"]  # also the warm-up
    t = time.perf_counter()
    ref = patch_reference(lm, pairs)  # one run: it is slow, and its own time varies little
    tn = time.perf_counter() - t
    err = (fast - ref).abs().max().item()
    print(f"{name}: pairs {len(pairs)}, layers {lm.n_layers}: max |fast - naive| = {err:.2e}")
    assert err < 1e-4, f"{name}: fast and naive patching disagree"
    tf = median_time(lambda: patch_last(lm, pairs), repeats=3)
    print(f"{name}: naive {tn:.2f} s, medmap {tf:.3f} s ({1000 * tf / len(pairs):.1f} ms per pair)")
    return tn / tf


if __name__ == "__main__":
    n = int(sys.argv[sys.argv.index("--pairs") + 1]) if "--pairs" in sys.argv else 16
    lm, _ = setup(0)
    r_age = compare(lm, pairs_of("age", n), "age")
    r_drugs = compare(lm, pairs_of("drugs", n), "drugs")
    print(f"RATIO_drugs {r_drugs:.2f}")
    print(f"RATIO {r_age:.2f}")
