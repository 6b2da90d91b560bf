#!/usr/bin/env python3
"""Check the patching pairs of concept sets against the tokenizers of the bundled models.

For every set and every bundled tokenizer (SmolLM2-135M, Gemma 3 270M) it reports:
- pairs whose clean and corrupted answers share their first token (a logit difference on the
  first answer token cannot tell them apart);
- pairs whose answers start with an uninformative token: shorter than three characters without
  being the whole first word (" u" of " urology", " D" of " DPP-4"), or a function word or generic
  prefix (" a", " an", " as", " non", " anti", " end", ...);
- pairs whose clean and corrupted prompts differ in token length (such pairs can only be patched
  at the last position).

Not one of the builders (those need the standard library only): this script needs transformers
and the tokenizers of the bundled models, which it reads from the converted-model cache
(`medmap.models.bundled.BUNDLED[name].converted_folder()`); a model not converted yet is loaded
once with `medmap.models.load_model`, which converts and caches it.

Run:  PYTHONPATH=src python tools/concepts/check_tokens.py [SET_OR_FILE ...] [--json] [--list]
      (default: drugs and dosage; a path to a JSONL file checks that file; --list prints every
      failing pair; exit status 1 when any pair fails a check)
"""

import argparse
import json
import sys

UNINFORMATIVE = {"a", "an", "as", "the", "at", "up", "on", "in", "of", "to", "non", "anti",
                 "ant", "end", "inter", "ins", "un", "u"}


def load_tokenizers():
    from transformers import AutoTokenizer

    from medmap.models.bundled import BUNDLED

    toks = {}
    for name, bundled in BUNDLED.items():
        if not bundled.is_cached():
            from medmap.models import load_model

            load_model(name)  # converts the GGUF once and caches it, tokenizer included
        toks[name] = AutoTokenizer.from_pretrained(str(bundled.converted_folder()))
    return toks


def first_token(tok, answer):
    ids = tok(answer, add_special_tokens=False)["input_ids"]
    return tok.decode(ids[:1]) if ids else ""


def uninformative(tok, answer):
    """Whether the first token of `answer` says little about the answer (see the module doc)."""
    first = first_token(tok, answer).strip()
    word = answer.split()[0] if answer.split() else ""
    return first.lower() in UNINFORMATIVE or (len(first) < 3 and first != word)


def check_set(cs, toks):
    """Per tokenizer: ids of the pairs that fail each check, and the number of pairs."""
    out = {"domain": cs.domain, "origin": cs.origin, "n_pairs": len(cs.pairs), "tokenizers": {}}
    for name, tok in toks.items():
        shared, weak, unequal = [], [], []
        for it in cs.pairs:
            p = it.pair
            if first_token(tok, p.clean_answer) == first_token(tok, p.corrupted_answer):
                shared.append(it.id)
            if uninformative(tok, p.clean_answer) or uninformative(tok, p.corrupted_answer):
                weak.append(it.id)
            if len(tok(it.prompt)["input_ids"]) != len(tok(p.corrupted_prompt)["input_ids"]):
                unequal.append(it.id)
        out["tokenizers"][name] = {"answers_share_first_token": shared,
                                   "uninformative_first_token": weak,
                                   "unequal_prompt_length": unequal}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="*", default=["drugs", "dosage"],
                    help="built-in set names or JSONL files (default: drugs dosage)")
    ap.add_argument("--json", action="store_true", help="print the full report as JSON")
    ap.add_argument("--list", action="store_true", help="list the ids of the failing pairs")
    args = ap.parse_args(argv)

    from medmap.concepts import load_builtin, load_file

    sets = []
    for s in args.sets:
        sets.extend(load_file(s) if s.endswith(".jsonl") else [load_builtin(s)])
    toks = load_tokenizers()
    reports = [check_set(cs, toks) for cs in sets]
    failed = any(v for r in reports for t in r["tokenizers"].values() for v in t.values())
    if args.json:
        print(json.dumps(reports, indent=1))
    else:
        for r in reports:
            for name, t in r["tokenizers"].items():
                print("%-12s %-13s %3d pairs: %3d share a first token, %3d uninformative first "
                      "token, %3d unequal prompt length"
                      % (r["domain"], name, r["n_pairs"], len(t["answers_share_first_token"]),
                         len(t["uninformative_first_token"]), len(t["unequal_prompt_length"])))
                if args.list:
                    for check, ids in t.items():
                        for i in ids:
                            print("    %s: %s" % (check, i))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
