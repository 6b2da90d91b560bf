"""Patching sweep over all layers, last position: medmap's fast path vs one full forward per
(pair, layer, answer) with a hook. Results must agree (1e-4). Target: RATIO (naive / medmap) >= 40.

Two domains: ``age`` (answers of one or two tokens; the RATIO line) and ``drugs`` (answers of several
tokens, e.g. " platelet aggregation inhibitors"; the RATIO_drugs line), each with the time per pair.
``--pairs N`` sets the number of pairs per domain (16).

Ceiling for prompts that share nothing. The naive loop runs 2 x n_layers + 1 forwards per pair (the
clean prompt once, then for each layer the corrupted prompt followed by each answer). An exact method
must run the clean prompt (its last-token output at every layer is the patched value) and the corrupted
prompt (the prefix every patched run continues from), but only what is not shared: a prompt that is also
another pair's prompt (the age pairs go both ways) runs once, and prompts that begin alike (a few-shot
template's solved examples, a clean prompt and its partner up to the changed word) run that beginning
once (``steps.Prefix``). So RATIO <= n_layers + 1/2 (printed as CEILING) holds only for pairs whose
prompts share nothing; the age pairs share much and pass it, the drugs pairs little."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import pairs_of, patching_ratio, setup  # noqa: E402


if __name__ == "__main__":
    n = int(sys.argv[sys.argv.index("--pairs") + 1]) if "--pairs" in sys.argv else 16
    lm, _ = setup(0)
    r_age = patching_ratio(lm, pairs_of("age", n), "age")
    r_drugs = patching_ratio(lm, pairs_of("drugs", n), "drugs")
    print(f"CEILING {lm.n_layers + 0.5} (for pairs whose prompts share no tokens: the naive loop's forwards per "
          "pair / the two full forwards an exact method then runs)")
    print(f"RATIO_drugs {r_drugs:.2f}")
    print(f"RATIO {r_age:.2f}")
