"""Patching sweep over all layers, last position: medmap's fast path vs one full forward per
(pair, layer, answer) with a hook. Results must agree (1e-4). Target: RATIO (naive / medmap) >= 40.

Two domains: ``age`` (answers of one or two tokens; the RATIO line) and ``drugs`` (answers of several
tokens, e.g. " platelet aggregation inhibitors"; the RATIO_drugs line), each with the time per pair.
``--pairs N`` sets the number of pairs per domain (16)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import pairs_of, patching_ratio, setup  # noqa: E402


if __name__ == "__main__":
    n = int(sys.argv[sys.argv.index("--pairs") + 1]) if "--pairs" in sys.argv else 16
    lm, _ = setup(0)
    r_age = patching_ratio(lm, pairs_of("age", n), "age")
    r_drugs = patching_ratio(lm, pairs_of("drugs", n), "drugs")
    print(f"RATIO_drugs {r_drugs:.2f}")
    print(f"RATIO {r_age:.2f}")
