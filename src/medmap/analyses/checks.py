"""`medmap concepts --check`: which items and pairs of each set are usable for a given model, and why
the others are not."""

from __future__ import annotations

from collections import Counter

from medmap.analyses.causal import CausalOptions, pair_scores, usable_pairs
from medmap.capture.batching import tokenize
from medmap.capture.patching import Pair


def check_sets(lm, sets, options: CausalOptions = CausalOptions()) -> list[dict]:
    tok = lm.tokenizer
    ctx = getattr(lm.model.config, "max_position_embeddings", None) or 10**9
    out = []
    for cs in sets:
        excluded: Counter = Counter()
        usable_items = 0
        for it in cs.items:
            n = len(tokenize(tok, it.prompt))
            if n >= ctx:
                excluded[f"prompt longer than the model's context ({ctx} tokens)"] += 1
            elif it.answer is None:
                excluded["no reference answer"] += 1
            elif not tokenize(tok, it.answer, special=False):
                excluded["answer tokenises to nothing"] += 1
            else:
                usable_items += 1
        pairs = [Pair(it.prompt, it.pair.corrupted_prompt, it.pair.clean_answer, it.pair.corrupted_answer)
                 for it in cs.pairs]
        n_right = n_ok = 0
        unequal = sum(len(tokenize(tok, p.clean)) != len(tokenize(tok, p.corrupted)) for p in pairs)
        first_same = sum(tokenize(tok, p.clean_answer, special=False)[:1] ==
                         tokenize(tok, p.corrupted_answer, special=False)[:1] for p in pairs)
        if pairs:
            r = pair_scores(lm, pairs, options, layers=[])
            ok, why = usable_pairs(r["ld_clean"], r["ld_corrupted"], options.min_gap)
            n_ok = int(ok.sum())
            n_right = int((r["ld_clean"] > 0).sum())
            for w in why:
                if w:
                    excluded[f"pair: {w}"] += 1
        out.append({
            "domain": cs.domain, "n_items": len(cs), "usable_items": usable_items, "n_pairs": len(pairs),
            "usable_pairs": n_ok, "pairs_model_right": n_right,
            "pairs_model_right_pct": 100.0 * n_right / len(pairs) if pairs else 0.0,
            "pairs_unequal_length": unequal, "pairs_answers_share_first_token": first_same,
            "excluded": dict(excluded),
            "notes": ("pairs of unequal token length are patched at the last position only"
                      if unequal else ""),
        })
    return out
