"""`medmap concepts --check`: which items and pairs of each set are usable for a given model, and why
the others are not."""

from __future__ import annotations

from collections import Counter

from medmap.analyses.causal import CausalOptions, pair_scores, usable_pairs
from medmap.capture.batching import tokenize
from medmap.capture.patching import Pair
from medmap.concepts import is_neutral


def check_sets(lm, sets, options: CausalOptions = CausalOptions()) -> list[dict]:
    """Per set: items with a usable reference answer, and the patching pairs: how many the model can
    use (it prefers the clean answer on the clean prompt, by more than ``min_gap`` over the corrupted
    run), how many have clean and corrupted prompts of equal token length, how many have answers that
    start with the same token; with the reason for every excluded pair."""
    tok = lm.tokenizer
    ctx = getattr(lm.model.config, "max_position_embeddings", None) or 10**9
    out = []
    for cs in sets:
        excluded: Counter = Counter()
        usable_items = n_neutral = 0
        for it in cs.items:
            n = len(tokenize(tok, it.prompt))
            if n >= ctx:
                excluded[f"prompt longer than the model's context ({ctx} tokens)"] += 1
            elif it.answer is None:
                if is_neutral(it.template):
                    n_neutral += 1
                else:
                    excluded["no reference answer"] += 1
            elif not tokenize(tok, it.answer, special=False):
                excluded["answer tokenises to nothing"] += 1
            else:
                usable_items += 1
        items = cs.pairs
        pairs = [Pair(it.prompt, it.pair.corrupted_prompt, it.pair.clean_answer, it.pair.corrupted_answer)
                 for it in items]
        unequal = [it.id for it, p in zip(items, pairs)
                   if len(tokenize(tok, p.clean)) != len(tokenize(tok, p.corrupted))]
        shared = [it.id for it, p in zip(items, pairs)
                  if tokenize(tok, p.clean_answer, special=False)[:1] ==
                  tokenize(tok, p.corrupted_answer, special=False)[:1]]
        n_ok = n_right = 0
        excluded_pairs = []
        if pairs:
            r = pair_scores(lm, pairs, options, layers=[])
            ok, why = usable_pairs(r["ld_clean"], r["ld_corrupted"], options.min_gap)
            n_ok = int(ok.sum())
            n_right = int((r["ld_clean"] > 0).sum())
            for it, w in zip(items, why):
                if w:
                    excluded[f"pair: {w}"] += 1
                    excluded_pairs.append({"id": it.id, "reason": w})
        out.append({
            "domain": cs.domain, "n_items": len(cs), "n_neutral": n_neutral, "usable_items": usable_items,
            "n_pairs": len(pairs), "pairs_usable": n_ok, "pairs_equal_length": len(pairs) - len(unequal),
            "pairs_first_token_shared": len(shared),
            "pairs_model_right": n_right,
            "pairs_model_right_pct": 100.0 * n_right / len(pairs) if pairs else 0.0,
            "excluded": dict(excluded), "excluded_pairs": excluded_pairs,
            "pairs_unequal_length_ids": unequal, "pairs_first_token_shared_ids": shared,
            "notes": ("pairs of unequal token length are patched at the last position only"
                      if unequal else ""),
        })
    return out
