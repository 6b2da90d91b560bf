"""Helpers shared by the concept-set builders in this folder (standard library only).

The builders are run as scripts (`python tools/concepts/build_X.py`); each puts this folder on
sys.path (Python does so too for a script, but not when a builder is imported from elsewhere) and
imports this module as `common`.

What lives here:
- where the data files go (`DATA_DIR`, `out_path`) and how they are written (`write_jsonl`:
  atomic, mode 0644, read back and compared with what was built);
- how an item and its patching pair are put together (`make_item`, `make_pair`, `attach_pairs`),
  so that every set has the same fields in the same order;
- the command line every builder takes (`output_path`: `--out-dir DIR` writes the file there instead
  of the package's data folder, used by the test that rebuilds every set and compares bytes);
- neutral (task-free) templates: ids starting with `neutral` (`is_neutral`); their items name the
  concept and ask nothing, so they carry no answer and no pair;
- the self-checks that every concept set must pass (`check_items`, `check_unique_ids`,
  `check_templates_per_concept`, `count_pairs`, `corrupted_span`), and the checks of the
  category sets built from a category -> names table with swap tables for the pairs
  (`pair_map`, `category_of`, `has_cue`, `build_category_items`, `check_category_set`,
  `write_category_set`: symptoms, diseases).
"""

import argparse
import json
import os
import re
import tempfile
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "src" / "medmap" / "concepts" / "data"

ITEM_KEYS = ("id", "domain", "prompt", "labels", "concept", "span", "template", "answer", "source")
PAIR_KEYS = {"corrupted_prompt", "clean_answer", "corrupted_answer"}


def out_path(domain: str, out_dir=None) -> Path:
    """The data file of a concept set: src/medmap/concepts/data/<domain>.jsonl, or <out_dir>/<domain>.jsonl."""
    return (Path(out_dir) if out_dir else DATA_DIR) / (domain + ".jsonl")


def output_path(domain: str, argv=None) -> Path:
    """Where a builder run from the command line writes: `--out-dir DIR` (default: the data folder)."""
    ap = argparse.ArgumentParser(description="Build the %s concept set." % domain)
    ap.add_argument("--out-dir", default=None, help="write <domain>.jsonl here instead of the package data folder")
    args, _ = ap.parse_known_args(argv)
    return out_path(domain, args.out_dir)


def out_dir_arg(argv) -> str:
    """The folder given by `--out-dir DIR` among other arguments (default: the package's data folder); for
    builders with options of their own (build_drugs --table)."""
    if "--out-dir" in argv:
        return argv[argv.index("--out-dir") + 1]
    return str(DATA_DIR)


def is_neutral(template: str) -> bool:
    """Neutral (task-free) templates name the concept and ask nothing: ids `neutral`, `neutral2`, ..."""
    return template.startswith("neutral")


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

def read_jsonl(path) -> list:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_text(path, text: str) -> None:
    """Write `text` to `path` atomically (temp file in the same folder, then replace), as it is (no
    newline translation), readable by all."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; data files are meant to be readable
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_jsonl(path, items, sort_keys=False):
    """Write one JSON object per line, atomically (`write_text`), then read the file back and check
    that it equals `items`.

    `sort_keys` orders the keys of every object; without it they keep the order they were built in.
    """
    path = os.path.abspath(path)
    write_text(path, "".join(json.dumps(it, ensure_ascii=False, sort_keys=sort_keys) + "\n" for it in items))
    assert read_jsonl(path) == items, "read-back differs from what was built: " + path


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------

def make_item(domain, key, template, prompt, answer, labels, concept, span, source) -> dict:
    """One concept item, id "<domain>-<key>-<template>", fields in the order the sets use. An answer of
    None (neutral templates) leaves the field out."""
    item = {
        "id": "%s-%s-%s" % (domain, key, template),
        "domain": domain,
        "prompt": prompt,
        "answer": answer,
        "labels": labels,
        "concept": concept,
        "span": span,
        "template": template,
        "source": source,
    }
    if answer is None:
        del item["answer"]
    return item


def make_pair(corrupted_prompt, clean_answer, corrupted_answer) -> dict:
    return {"corrupted_prompt": corrupted_prompt, "clean_answer": clean_answer,
            "corrupted_answer": corrupted_answer}


def attach_pairs(by_key, pairs):
    """For each (clean key, corrupted key) in `pairs`, give the clean item of `by_key` a pair whose
    corrupted side is the other item's prompt and answer."""
    for clean, corrupt in pairs:
        a = by_key[clean]
        b = by_key[corrupt]
        a["pair"] = make_pair(b["prompt"], a["answer"], b["answer"])


# ---------------------------------------------------------------------------------------------
# Self-checks (run by every builder before anything is written)
# ---------------------------------------------------------------------------------------------

def check_unique_ids(items):
    ids = [it["id"] for it in items]
    assert len(ids) == len(set(ids)), "duplicate ids"


def check_items(items, domain, clean_is_answer=True, distinct_first_word=False):
    """The contract every concept item keeps: unique id, all fields present and non-empty, the
    span inside the prompt, no trailing space, answers starting with a space (items of a neutral
    template have neither answer nor pair, the others have an answer); for a patching pair
    exactly the three pair fields, answers starting with a space and differing from each other,
    and a corrupted prompt without trailing space that differs from the clean one.

    clean_is_answer: the pair's clean answer is the item's answer (symptoms answer the pair with a
    shorter word). distinct_first_word: the two pair answers differ already in their first word.
    """
    check_unique_ids(items)
    for it in items:
        neutral = is_neutral(it["template"])
        for key in ITEM_KEYS:
            if neutral and key == "answer":
                assert key not in it and "pair" not in it, "a neutral item asks nothing: " + it["id"]
                continue
            assert key in it and it[key] != "", (it["id"], key)
        assert it["domain"] == domain, it["id"]
        assert it["span"] in it["prompt"], it["id"]
        assert it["prompt"] == it["prompt"].rstrip(), "trailing space: " + it["id"]
        if neutral:
            continue
        assert it["answer"].startswith(" ") and it["answer"].strip(), it["id"]
        if "pair" in it:
            p = it["pair"]
            assert set(p) == PAIR_KEYS, it["id"]
            if clean_is_answer:
                assert p["clean_answer"] == it["answer"], it["id"]
            assert p["clean_answer"].startswith(" ") and p["corrupted_answer"].startswith(" "), it["id"]
            assert p["clean_answer"] != p["corrupted_answer"], it["id"]
            if distinct_first_word:
                assert p["clean_answer"].split()[0] != p["corrupted_answer"].split()[0], it["id"]
            assert p["corrupted_prompt"] != it["prompt"], it["id"]
            assert p["corrupted_prompt"] == p["corrupted_prompt"].rstrip(), "trailing space: " + it["id"]


def corrupted_span(it):
    """What stands in place of the span in the item's corrupted prompt, or None when the corrupted
    prompt differs from the clean one outside the span. The span must occur once in the prompt."""
    prefix, suffix = it["prompt"].split(it["span"])
    corrupted = it["pair"]["corrupted_prompt"]
    if (len(corrupted) < len(prefix) + len(suffix) or not corrupted.startswith(prefix)
            or not corrupted.endswith(suffix)):
        return None
    return corrupted[len(prefix):len(corrupted) - len(suffix)]


def check_templates_per_concept(items, minimum=3, what="concept"):
    templates = {}
    for it in items:
        templates.setdefault(it["concept"], set()).add(it["template"])
    assert all(len(t) >= minimum for t in templates.values()), \
        "need >= %d templates per %s" % (minimum, what)
    return templates


def count_pairs(items, minimum=25) -> int:
    n_pairs = sum(1 for it in items if "pair" in it)
    assert n_pairs >= minimum, "need at least %d patching pairs, have %d" % (minimum, n_pairs)
    return n_pairs


# ---------------------------------------------------------------------------------------------
# Category sets: category -> names, with patching pairs from swap tables (symptoms, diseases)
# ---------------------------------------------------------------------------------------------

def pair_map(swaps, one_way=()) -> dict:
    """clean name -> corrupted name: SWAPS both ways, ONE_WAY clean -> corrupted only."""
    return {**{a: b for a, b in swaps}, **{b: a for a, b in swaps}, **dict(one_way)}


def category_of(groups) -> dict:
    """name -> category, from category -> names."""
    return {name: c for c, names in groups.items() for name in names}


def has_cue(text, patterns) -> bool:
    """Whether `text` contains one of the regular expressions `patterns` (matched on lower case):
    a word that names a category (its organ, its specialty, its usual suffix)."""
    low = text.lower()
    return any(re.search(p, low) for p in patterns)


def build_category_items(domain, groups, categories, templates, pairs, slug, render, cues=None):
    """Items of a category set: one per name (of `groups`, category -> names) and template, labelled
    with the category (and `cue`: whether the name contains a word of `cues[category]`); the name's
    item on template t gets the patching pair of `pairs[t]` (clean name -> corrupted name).
    `categories` maps a category to a tuple whose last field is the source; render(category, name,
    template) gives (prompt, span, answer, pair answer), answer None on a neutral template."""
    cat = category_of(groups)
    items = []
    for c, names in groups.items():
        for name in names:
            labels = {"category": c}
            if cues is not None:
                labels["cue"] = has_cue(name, cues[c])
            for t in templates:
                prompt, span, answer, pair_answer = render(c, name, t)
                item = make_item(domain, slug(name), t, prompt, answer, dict(labels), name, span,
                                 categories[c][-1])
                if name in pairs.get(t, {}):
                    other = pairs[t][name]
                    other_prompt, _, _, other_answer = render(cat[other], other, t)
                    item["pair"] = make_pair(other_prompt, pair_answer, other_answer)
                items.append(item)
    return items


def check_category_set(items, domain, groups, categories, templates, pairs, clean_is_answer=True,
                       noun="name", min_names=80, min_per_category=5, min_pairs=25):
    """Self-check of a category set: every name in one category only, at least `min_names` names in
    at least 8 categories of at least `min_per_category` names, one item per name and template,
    items that keep the contract of `check_items` with a known category label, at least one neutral
    template, pairs (per template: clean name -> corrupted name) only on task templates and across
    categories, at least `min_pairs` pairs."""
    cat = category_of(groups)
    assert len(cat) == sum(len(v) for v in groups.values()), "a %s is listed twice" % noun
    assert len(cat) >= min_names and len(groups) >= 8, (len(cat), len(groups))
    assert all(len(v) >= min_per_category for v in groups.values()), {c: len(v) for c, v in groups.items()}
    assert len(items) == len(cat) * len(templates)
    assert any(is_neutral(t) for t in templates), "need a neutral template"
    check_items(items, domain, clean_is_answer=clean_is_answer)
    for i in items:
        assert i["labels"]["category"] in categories, i["id"]
    for t, table in pairs.items():
        assert t in templates and not is_neutral(t), t
        for a, b in table.items():
            assert a in cat and b in cat and cat[a] != cat[b], (t, a, b)
    count_pairs(items, min_pairs)


def write_category_set(items, path, groups, what):
    """Write a checked category set (keys sorted) and say what was written: `what` names the
    entries ("symptoms"), `groups` is the category -> names table."""
    write_jsonl(path, items, sort_keys=True)
    counts = {c: len(v) for c, v in groups.items()}
    print(f"wrote {len(items)} items ({sum(counts.values())} {what}, {len(counts)} categories), "
          f"{sum('pair' in i for i in items)} pairs to {path}")
    print("per category:", counts)
