"""Check the patching pairs of the concept sets against the bundled models' tokenizers.

Not a builder (the builders use the standard library only): this script imports medmap and
transformers and needs the bundled models' converted folders in the cache (run any medmap command on
each model once, e.g. `medmap concepts --check --model gemma3-270m`, or let this script convert them).

For every set and every bundled tokenizer it reports:
- pairs whose clean and corrupted answers start with the same token (the patched position then carries
  no information about which answer is right);
- pairs whose clean and corrupted prompts have different numbers of tokens (they can only be patched
  at the last position, not position by position).

    python tools/concepts/check_pairs.py                      # all built-in sets (and reference)
    python tools/concepts/check_pairs.py --files a.jsonl      # other files
    python tools/concepts/check_pairs.py --json               # machine-readable
    python tools/concepts/check_pairs.py --candidates symptoms --template t0
        # for each item of the template, the other items whose prompt has the same number of tokens
        # under every bundled tokenizer and whose answer starts with another token: the partners a
        # pair table can use (a design aid; it does not look at any model's answers)

Exit status 0; the report is informational (what is acceptable is decided in the SOURCES notes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from transformers import AutoTokenizer

from medmap.capture.batching import tokenize
from medmap.concepts import load_builtin, load_file
from medmap.concepts import default_domains
from medmap.models.bundled import BUNDLED, is_converted


def tokenizers() -> dict:
    """name -> tokenizer of every bundled model, from its converted folder (converted first if needed)."""
    out = {}
    for name, b in BUNDLED.items():
        folder = b.converted_folder()
        if not is_converted(folder):
            from medmap.models import load_model

            load_model(name)
        out[name] = AutoTokenizer.from_pretrained(str(folder))
    return out


def first_token(tok, answer: str) -> list[int]:
    return tokenize(tok, answer, special=False)[:1]


def check_set(cs, toks: dict) -> dict:
    pairs = cs.pairs
    report = {"domain": cs.domain, "origin": cs.origin, "n_pairs": len(pairs), "tokenizers": {}}
    for name, tok in toks.items():
        shared = [it.id for it in pairs if first_token(tok, it.pair.clean_answer) ==
                  first_token(tok, it.pair.corrupted_answer)]
        unequal = [it.id for it in pairs if len(tokenize(tok, it.prompt)) !=
                   len(tokenize(tok, it.pair.corrupted_prompt))]
        report["tokenizers"][name] = {"pairs_first_token_shared": shared, "pairs_unequal_length": unequal}
    return report


def partners_allowed(cs, a, b) -> bool:
    """Which items may be paired: progression compares stages of one disease, the reference set facts of
    one category; the category sets (symptoms, diseases, ...) pair across their first label."""
    if cs.domain == "progression":
        return a.labels["disease"] == b.labels["disease"]
    if cs.domain == "reference":
        return a.labels["category"] == b.labels["category"]
    key = next(iter(a.labels))
    return a.labels[key] != b.labels.get(key)


def candidates(cs, template: str, toks: dict) -> dict:
    """item id -> ids of the items of the same template that `partners_allowed`, with a prompt of equal
    token length under every tokenizer and an answer that starts with another token under every one."""
    items = [it for it in cs.items if it.template == template and it.answer is not None]
    lengths = {it.id: [len(tokenize(t, it.prompt)) for t in toks.values()] for it in items}
    firsts = {it.id: [first_token(t, it.answer) for t in toks.values()] for it in items}
    return {a.id: [b.id for b in items if b.id != a.id and lengths[a.id] == lengths[b.id]
                   and all(x != y for x, y in zip(firsts[a.id], firsts[b.id])) and partners_allowed(cs, a, b)]
            for a in items}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", nargs="*", help="concept files to check instead of the built-in sets")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument("--candidates", metavar="DOMAIN", help="list equal-length partners for the items of DOMAIN")
    ap.add_argument("--template", default="t0", help="template for --candidates")
    args = ap.parse_args(argv)
    if args.files:
        sets = [s for f in args.files for s in load_file(Path(f))]
    else:
        sets = [load_builtin(d) for d in (*default_domains(), "reference")]
    toks = tokenizers()
    if args.candidates:
        cs = next(s for s in sets if s.domain == args.candidates)
        print(json.dumps(candidates(cs, args.template, toks), indent=1))
        return 0
    reports = [check_set(cs, toks) for cs in sets]
    if args.json:
        print(json.dumps(reports, indent=2))
        return 0
    for r in reports:
        print(f"{r['domain']} ({r['origin']}): {r['n_pairs']} pairs")
        for name, t in r["tokenizers"].items():
            print(f"  {name}: {len(t['pairs_first_token_shared'])} share the first answer token, "
                  f"{len(t['pairs_unequal_length'])} of unequal token length")
            for what in ("pairs_first_token_shared", "pairs_unequal_length"):
                if t[what]:
                    print(f"    {what}: " + ", ".join(t[what]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
