#!/usr/bin/env python3
"""Build the dosage concept set (src/medmap/concepts/data/dosage.jsonl) from dosage_table.py.

Each entry of DOSES is one well-established adult dose: drug, route, amount, unit, dose kind
(usual, starting or loading dose) and frequency, for a stated indication, with its formulary
source (BNF = British National Formulary; FDA = US prescribing information; RCUK = Resuscitation
Council UK; NICE; WHO).

Templates (answer in brackets; no template states the unit, and only t0 states the amount):
    neutral   "Prescription: <drug phrase>."                                  -
    neutral2  "The patient was prescribed <drug phrase>."                     -
    t0  "The usual adult <kind> of <drug phrase> is 500"                      [ mg]      unit
    t1  "For an adult, the standard <kind> of <drug phrase> is"               [ 500]     amount
    t2  "What is the usual adult <kind> of <drug phrase>? Answer:"            [ 500]     amount
    t3  "For an adult, <drug phrase> is usually given"        [ three times daily]   frequency
        (t3 only for doses given on a regular schedule that the formularies agree on)
<kind> is "dose", "starting dose" or "loading dose". The span is the drug phrase (route + drug +
indication), e.g. "oral atorvastatin for secondary prevention of cardiovascular disease".

Labels: `unit` (the metric label), and, informational, `drug`, `route`, `frequency`, `indication`,
`amount`, `dose_kind` and `hint`. `hint` (bool, every item; a cue in domains.yaml, like symptoms'
`cue`) is true when the drug phrase contains a word of HINT_WORDS[its own unit]: a word that gives
the unit away without naming it ("insulin" -> units, "mouthwash" -> mL, "inhaled" -> micrograms).
Whole words, matched case-insensitively with common.has_cue. The list was fixed before looking at
any result and is not tuned to one; g, mg/kg and mg have no hint words, so their items are all false.

Patching pairs change only the drug phrase: t0 pairs two doses of the same amount and different
units (the unit answer flips), t3 pairs two doses given at different frequencies. Amount answers
(t1, t2) have no pairs: every number starts with the same space token under both bundled
tokenizers, so two amounts never differ in their first token.

Standard library only; output is byte-stable across runs and written atomically.
Run:  python tools/concepts/build_dosage.py [--out-dir DIR]
"""

import collections
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script or imported
import _common as common  # noqa: E402
from dosage_table import DOSES, FREQUENCIES, ROUTES, UNITS  # noqa: E402

DOMAIN = "dosage"
VERSION = 3  # bump with every change of the facts or templates (see the SOURCES note)

NEUTRAL = {
    "neutral": "Prescription: {dp}.",
    "neutral2": "The patient was prescribed {dp}.",
}
TASKS = {
    "t0": "The usual adult {kind} of {dp} is {amount}",
    "t1": "For an adult, the standard {kind} of {dp} is",
    "t2": "What is the usual adult {kind} of {dp}? Answer:",
    "t3": "For an adult, {dp} is usually given",
}
KINDS = ("dose", "starting dose", "loading dose")

# Words that name a unit or an amount: none may occur in a neutral prompt.
UNIT_WORDS = {"mg", "g", "mcg", "microgram", "micrograms", "milligram", "milligrams", "gram",
              "grams", "unit", "units", "ml", "millilitre", "milliliter", "millilitres",
              "milliliters", "kg", "kilogram", "iu"}

# Unit hints: words of a drug phrase that give its unit away without naming it (a liquid form for
# mL, a drug dosed in units, an inhaled/sprayed/sublingual/transdermal form for micrograms). An
# item's `hint` label is true when its drug phrase contains a word listed for its OWN unit. Fixed
# in advance (version 3) and not tuned to any result; g, mg/kg and mg have none. "vaccine" was added
# once the version-3 facts were chosen (five of its twelve mL facts are 0.5 mL vaccines), before any
# result of this version.
HINT_WORDS = {
    "mL": ("solution", "suspension", "syrup", "linctus", "mouthwash", "rinse", "liquid", "elixir",
           "enema", "lotion", "vaccine"),
    "units": ("insulin", "heparin", "dalteparin", "tinzaparin", "oxytocin", "nystatin",
              "colecalciferol", "ergocalciferol"),
    "mcg": ("inhaled", "inhaler", "spray", "patch", "sublingual"),
    "g": (),
    "mg/kg": (),
    "mg": (),
}
# whole words (common.has_cue matches regular expressions on the lower-cased text)
HINT_PATTERNS = {u: tuple(r"\b%s\b" % re.escape(w) for w in ws) for u, ws in HINT_WORDS.items()}

# Activation-patching pairs: (template, clean key, corrupted key); only the drug phrase changes.
# Both prompts have the same number of tokens under the SmolLM2 and Gemma 3 tokenizers and the
# two answers differ in their first token under both (tools/concepts/check_tokens.py).
PAIRS = [
    # t0: same amount, different unit
    ("t0", "cetirizine", "chlorhexidine_mouthwash"), ("t0", "ibuprofen", "folic_acid_pregnancy"),
    ("t0", "lisinopril", "insulin_glargine"),
    ("t0", "hydrocortisone_adrenal_crisis", "levothyroxine"),
    ("t0", "finasteride_hair_loss", "meropenem"), ("t0", "flucloxacillin", "ipratropium_nebulized"),
    ("t0", "varenicline", "meropenem"), ("t0", "amoxicillin", "sodium_lactate_bolus"),
    ("t0", "folic_acid_pregnancy", "ibuprofen"), ("t0", "activated_charcoal", "salmeterol"),
    ("t0", "salmeterol", "activated_charcoal"), ("t0", "insulin_glargine", "lisinopril"),
    ("t0", "glucagon", "paracetamol"), ("t0", "ipratropium_nebulized", "sodium_lactate_bolus"),
    ("t0", "paracetamol", "glucagon"), ("t0", "levothyroxine", "hydrocortisone_adrenal_crisis"),
    # version 3 (chosen as in version 2; the first with an mg/kg fact)
    ("t0", "aciclovir_encephalitis", "insulin_hyperkalemia"),
    ("t0", "insulin_hyperkalemia", "aciclovir_encephalitis"),
    ("t0", "donepezil", "hydroxocobalamin_cyanide"), ("t0", "paracetamol_intravenous", "glucagon"),
    # t3: different frequency (never two that can mean the same schedule)
    ("t3", "finasteride_hair_loss", "meropenem"), ("t3", "tamsulosin", "meropenem"),
    ("t3", "alendronic_acid", "meropenem"), ("t3", "amlodipine", "paracetamol"),
    ("t3", "insulin_glargine", "infliximab_crohns"), ("t3", "varenicline", "ipratropium_nebulized"),
    ("t3", "ceftriaxone", "infliximab_crohns"), ("t3", "lisinopril", "infliximab_crohns"),
    ("t3", "infliximab_crohns", "aciclovir_herpes_simplex"),
    ("t3", "amoxicillin", "infliximab_crohns"), ("t3", "meropenem", "alendronic_acid"),
    ("t3", "flucloxacillin", "aciclovir_herpes_simplex"),
    ("t3", "apixaban_arthroplasty", "rivaroxaban_af"), ("t3", "apixaban_af", "rivaroxaban_af"),
    ("t3", "ibuprofen", "aciclovir_herpes_simplex"),
    ("t3", "folic_acid_pregnancy", "ipratropium_nebulized"),
    ("t3", "chlorhexidine_mouthwash", "cetirizine"),
    # version 3
    ("t3", "teriparatide", "infliximab_ra"), ("t3", "clopidogrel", "ganciclovir_induction"),
]

Dose = collections.namedtuple(
    "Dose", "key drug phrase route amount unit kind frequency frequency_answer indication source")


def doses():
    return [Dose(*row) for row in DOSES]


def hint(d):
    """Whether the drug phrase contains a word that gives the dose's own unit away (HINT_WORDS)."""
    return common.has_cue(d.phrase, HINT_PATTERNS[d.unit])


def answers(d):
    out = {"t0": UNITS[d.unit], "t1": " " + d.amount, "t2": " " + d.amount}
    if d.frequency_answer:
        out["t3"] = " " + d.frequency_answer
    return out


def build_items():
    items, by_key = [], {}
    for d in doses():
        labels = {"drug": d.drug, "unit": d.unit, "route": d.route, "frequency": d.frequency,
                  "indication": d.indication, "amount": d.amount, "dose_kind": d.kind,
                  "hint": hint(d)}
        concept = "%s: %s %s %s" % (d.phrase, d.kind, d.amount, d.unit)
        for template, frame in NEUTRAL.items():
            item = common.make_item(DOMAIN, d.key, template, frame.format(dp=d.phrase), None,
                                    dict(labels), concept, d.phrase, d.source)
            item.pop("answer", None)
            items.append(item)
        ans = answers(d)
        for template, frame in TASKS.items():
            if template not in ans:
                continue
            item = common.make_item(DOMAIN, d.key, template,
                                    frame.format(kind=d.kind, dp=d.phrase, amount=d.amount),
                                    ans[template], dict(labels), concept, d.phrase, d.source)
            items.append(item)
            by_key[(template, d.key)] = item
    common.attach_pairs(by_key, (((t, clean), (t, corrupt)) for t, clean, corrupt in PAIRS))
    return items


# ---------------------------------------------------------------------------------------------
# Self-check (runs every time the script runs, before anything is written)
# ---------------------------------------------------------------------------------------------

def words(text):
    return set(re.findall(r"[a-z]+", text.lower()))


def self_check(items):
    ds = doses()
    keys = [d.key for d in ds]
    assert len(keys) == len(set(keys)), "duplicate key"
    assert len({d.phrase for d in ds}) == len(ds), "two doses share a drug phrase"
    assert len(ds) >= 60, "need at least 60 drug-dose facts"
    for d in ds:
        assert d.unit in UNITS and d.route in ROUTES and d.kind in KINDS, d.key
        assert d.frequency in FREQUENCIES, d.key
        float(d.amount)  # amounts are plain numbers
        assert d.drug.split()[0] in d.phrase, d.key
        assert d.source and d.indication, d.key
        # the phrase names neither the unit nor the amount (a concentration such as 0.9% may stay)
        assert not words(d.phrase) & UNIT_WORDS, d.key
        assert not re.search(r"(?<![\d.])%s(?![\d.%%])" % re.escape(d.amount), d.phrase), d.key
        if d.frequency in ("as needed", "single dose"):
            assert d.frequency_answer is None or d.frequency == "as needed", d.key
    per_unit = collections.Counter(d.unit for d in ds)
    assert set(per_unit) == set(UNITS), per_unit
    # balanced units (version 3): at least 12 facts per unit, mg at most 45 % of the facts
    assert min(per_unit.values()) >= 12 and per_unit["mg"] <= 0.45 * len(ds), per_unit
    assert set(HINT_WORDS) == set(UNITS), "one hint list per unit"
    for frame in list(NEUTRAL.values()) + list(TASKS.values()):  # no template carries a hint
        assert not any(common.has_cue(frame, p) for p in HINT_PATTERNS.values()), frame
    task_items = [it for it in items if not it["template"].startswith("neutral")]
    common.check_items(task_items, DOMAIN)
    common.check_unique_ids(items)
    phrases = {d.phrase for d in ds}
    for it in items:
        for label in ("drug", "unit", "route", "frequency", "dose_kind"):
            assert it["labels"].get(label), (it["id"], label)
        assert type(it["labels"].get("hint")) is bool, (it["id"], "hint")
        assert it["prompt"].count(it["span"]) == 1, it["id"]
        frame = it["prompt"].replace(it["span"], " ")
        if it["template"].startswith("neutral"):
            assert "answer" not in it and "pair" not in it, it["id"]
            assert not words(it["prompt"]) & UNIT_WORDS, it["id"]
            assert not re.search(r"\d", frame), it["id"]
        else:
            assert not words(frame) & UNIT_WORDS, "a task prompt states the unit: " + it["id"]
        if it["template"] == "t0":
            assert it["prompt"].endswith(" " + it["labels"]["amount"]), it["id"]
        if it["template"] == "t3":  # the phrase must not give the frequency away
            assert not words(it["span"]) & words(it["answer"]) - {"to", "of"}, it["id"]
        if "pair" in it:
            assert common.corrupted_span(it) in phrases, \
                "corruption changes more than the drug phrase: " + it["id"]
            p = it["pair"]
            assert p["clean_answer"].split()[0] != p["corrupted_answer"].split()[0], it["id"]
    neutral_hints = {it["labels"]["hint"] for it in items if common.is_neutral(it["template"])}
    assert neutral_hints == {True, False}, "both hint values must occur among the neutral items"
    common.check_templates_per_concept(items, 4, "dose")
    n_pairs = common.count_pairs(items, 30)
    assert len({(t, c) for t, c, _ in PAIRS}) == len(PAIRS), "one pair per item"
    by_key = {d.key: d for d in ds}
    for t, clean, corrupt in PAIRS:
        a, b = by_key[clean], by_key[corrupt]
        if t == "t0":
            assert a.amount == b.amount and a.unit != b.unit, (clean, corrupt)
        else:
            assert t == "t3" and a.frequency_answer and b.frequency_answer, (clean, corrupt)
    return n_pairs


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    items = build_items()
    n_pairs = self_check(items)
    path = os.path.join(common.out_dir_arg(argv), DOMAIN + ".jsonl")
    common.write_jsonl(path, items)
    per_unit = collections.Counter(d.unit for d in doses())
    print("wrote %d items (%d drug-dose facts, %d drugs; units %s; %d pairs) to %s"
          % (len(items), len(DOSES), len({d[1] for d in DOSES}), dict(per_unit), n_pairs, path),
          file=sys.stderr)


if __name__ == "__main__":
    main()
