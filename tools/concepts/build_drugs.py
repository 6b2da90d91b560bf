#!/usr/bin/env python3
"""Build the drug concept set (src/medmap/concepts/data/drugs.jsonl) from drugs_table.py.

Each drug carries two metric labels, its pharmacological class (`mechanism`) and the medical
specialty of its main use (`specialty`), plus two informational labels: `stem` (true when the
name carries an INN stem of its class, so that its tokens can give the class away) and `atc` (the
WHO ATC code of the main use). The table is built so that the two labelings cross: most classes
span several specialties (beta blockers in cardiology and ophthalmology, sodium channel blockers
in cardiology, neurology and anesthesia, prostaglandin analogues in ophthalmology,
gastroenterology, urology and pulmonology, ...) and most specialties hold several classes.

Templates (answer in brackets; neutral templates ask nothing and carry no answer):
    neutral        "Drug: X."                                                 -
    neutral2       "The patient was started on X."                           -
    neutral_brand  "Drug: <brand name>."  (drugs with a well-known brand)    -
    t0  "The drug X is mainly used in the medical specialty of"  [ specialty]
    t1  "Pharmacologically, the drug X belongs to the class of"  [ class, plural]
    t2  "The main indication for the drug X is"                  [ main indication]
The map's geometry uses the neutral templates; the task templates carry the answers (saliency,
lesioning, lens) and the patching pairs.

Standard library only; output is byte-stable across runs and written atomically.
Run:  python tools/concepts/build_drugs.py [--out-dir DIR] [--table]
"""

import collections
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script or imported
import _common as common  # noqa: E402
from drugs_table import CLASSES, DRUGS, SPECIALTIES  # noqa: E402

DOMAIN = "drugs"
VERSION = 4  # bump with every change of the facts or templates (see the SOURCES note)

NEUTRAL = {
    "neutral": "Drug: {name}.",
    "neutral2": "The patient was started on {name}.",
}
BRAND = {"neutral_brand": "Drug: {name}."}
TASKS = {
    "t0": "The drug {name} is mainly used in the medical specialty of",
    "t1": "Pharmacologically, the drug {name} belongs to the class of",
    "t2": "The main indication for the drug {name} is",
}

Drug = collections.namedtuple("Drug", "name mechanism specialty atc indication brand brand_region")

# Activation-patching pairs: (template, clean drug, corrupted drug); only the drug name changes.
# t0 pairs keep the class and change the specialty; t1 pairs keep the specialty and change the
# class. Both prompts have the same number of tokens under the SmolLM2 and Gemma 3 tokenizers and
# the two answers differ in their first token under both (tools/concepts/check_tokens.py); see
# the SOURCES note for how the pairs were chosen.
PAIRS = [
    # t0: same class, different specialty
    ("t0", "pemetrexed", "trimethoprim"), ("t0", "clobetasol", "beclometasone"),
    ("t0", "fludarabine", "valaciclovir"), ("t0", "gemcitabine", "valaciclovir"),
    ("t0", "adalimumab", "infliximab"), ("t0", "brimonidine", "salmeterol"),
    ("t0", "clobazam", "midazolam"), ("t0", "entecavir", "cytarabine"),
    ("t0", "haloperidol", "droperidol"), ("t0", "bevacizumab", "aflibercept"),
    ("t0", "fidaxomicin", "roxithromycin"), ("t0", "secukinumab", "mirikizumab"),
    ("t0", "amlodipine", "nimodipine"), ("t0", "latanoprost", "misoprostol"),
    ("t0", "loratadine", "olopatadine"), ("t0", "misoprostol", "epoprostenol"),
    ("t0", "risankizumab", "mirikizumab"), ("t0", "loteprednol", "beclometasone"),
    ("t0", "chlordiazepoxide", "remimazolam"), ("t0", "droperidol", "domperidone"),
    ("t0", "abrocitinib", "tofacitinib"), ("t0", "olopatadine", "loratadine"),
    ("t0", "midazolam", "clobazam"), ("t0", "rivastigmine", "neostigmine"),
    ("t0", "infliximab", "golimumab"),
    # t1: same specialty, different class
    ("t1", "amoxicillin", "albendazole"), ("t1", "azithromycin", "albendazole"),
    ("t1", "enoxaparin", "fludarabine"), ("t1", "pravastatin", "irbesartan"),
    ("t1", "furosemide", "prasugrel"), ("t1", "metoprolol", "prasugrel"),
    ("t1", "alprazolam", "quetiapine"), ("t1", "ibuprofen", "morphine"),
    ("t1", "dapoxetine", "vardenafil"), ("t1", "levofloxacin", "zidovudine"),
    ("t1", "fluoxetine", "haloperidol"), ("t1", "besifloxacin", "bimatoprost"),
    ("t1", "rabeprazole", "domperidone"), ("t1", "quetiapine", "duloxetine"),
    ("t1", "tadalafil", "solifenacin"), ("t1", "dalteparin", "cytarabine"),
    ("t1", "salbutamol", "tiotropium"), ("t1", "omeprazole", "entecavir"),
    ("t1", "donepezil", "lacosamide"), ("t1", "levobunolol", "bimatoprost"),
    ("t1", "loteprednol", "levobunolol"), ("t1", "gemcitabine", "pemetrexed"),
    ("t1", "quinagolide", "dulaglutide"), ("t1", "rotigotine", "lacosamide"),
    ("t1", "ciclesonide", "ipratropium"),
]


def drugs():
    return [Drug(*row) for row in DRUGS]


def slug(name):
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def carries_stem(name, mechanism):
    """Whether `name` contains one of the INN stems listed for its class (a leading "~" marks a
    substem shared by the class's names rather than a WHO stem, and counts the same; a trailing
    "-" marks a prefix stem, which must start the name)."""
    low = name.lower()
    for stem in CLASSES[mechanism][1]:
        stem = stem.lstrip("~")
        if low.startswith(stem[:-1]) if stem.endswith("-") else stem in low:
            return True
    return False


def task_answer(template, d):
    if template == "t0":
        return " " + d.specialty
    if template == "t1":
        return CLASSES[d.mechanism][0]
    return " " + d.indication


def build_items():
    items, by_key = [], {}
    for d in drugs():
        key = slug(d.name)
        base = "WHO ATC %s; main indication: %s" % (d.atc, d.indication)

        def labels(name):
            return {"mechanism": d.mechanism, "specialty": d.specialty,
                    "stem": carries_stem(name, d.mechanism), "atc": d.atc}

        for template, frame in NEUTRAL.items():
            item = common.make_item(DOMAIN, key, template, frame.format(name=d.name), None,
                                    labels(d.name), d.name, d.name, base)
            item.pop("answer", None)
            items.append(item)
        if d.brand:
            for template, frame in BRAND.items():
                item = common.make_item(
                    DOMAIN, key, template, frame.format(name=d.brand), None, labels(d.brand),
                    d.name, d.brand,
                    "%s; brand %s (%s, %s)" % (base, d.brand, d.brand_region,
                                               "Drugs@FDA" if d.brand_region == "US" else "BNF/eMC"))
                item.pop("answer", None)
                items.append(item)
        for template, frame in TASKS.items():
            item = common.make_item(DOMAIN, key, template, frame.format(name=d.name),
                                    task_answer(template, d), labels(d.name), d.name, d.name, base)
            items.append(item)
            by_key[(template, d.name)] = item
    common.attach_pairs(by_key, (((t, clean), (t, corrupt)) for t, clean, corrupt in PAIRS))
    return items


# ---------------------------------------------------------------------------------------------
# Tables for the SOURCES note
# ---------------------------------------------------------------------------------------------

SHORT = {"cardiology": "cardio", "hematology": "heme", "psychiatry": "psych", "neurology": "neuro",
         "gastroenterology": "GI", "rheumatology": "rheum", "pulmonology": "pulm",
         "dermatology": "derm", "ophthalmology": "ophth", "infectious disease": "ID",
         "endocrinology": "endo", "oncology": "onc", "anesthesia": "anesth",
         "pain medicine": "pain", "urology": "uro", "allergy": "allergy"}


def contingency(rows=None):
    """mechanism -> specialty -> number of drugs."""
    table = collections.OrderedDict((c, collections.Counter()) for c in CLASSES)
    for d in rows if rows is not None else drugs():
        table[d.mechanism][d.specialty] += 1
    return table


def contingency_markdown(rows=None):
    """The mechanism x specialty table as Markdown (pasted into the SOURCES note)."""
    rows = rows if rows is not None else drugs()
    table = contingency(rows)
    head = "| class \\ specialty | " + " | ".join(SHORT[s] for s in SPECIALTIES) + " | total |"
    lines = [head, "|" + " --- |" * (len(SPECIALTIES) + 2)]
    for c in table:
        cells = [str(table[c][s]) if table[c][s] else "." for s in SPECIALTIES]
        lines.append("| %s | %s | %d |" % (c, " | ".join(cells), sum(table[c].values())))
    totals = [str(sum(table[c][s] for c in table)) for s in SPECIALTIES]
    lines.append("| total | %s | %d |" % (" | ".join(totals), len(rows)))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Self-check (runs every time the script runs, before anything is written)
# ---------------------------------------------------------------------------------------------

def label_words():
    """Every word of every mechanism and specialty label value and of every t1 answer (lower
    case, at least three letters): none may occur in a neutral prompt outside the drug's name."""
    words = set()
    texts = list(CLASSES) + [a for a, _ in CLASSES.values()] + list(SPECIALTIES)
    for text in texts:
        words.update(w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) >= 3)
    return words


def self_check(items):
    ds = drugs()
    names = [d.name for d in ds]
    assert len(names) == len(set(names)), "duplicate drug"
    assert len(ds) >= 150, "need at least 150 drugs"
    brands = [d.brand for d in ds if d.brand]
    assert len(brands) == len(set(brands)), "duplicate brand"
    for d in ds:
        assert d.mechanism in CLASSES and d.specialty in SPECIALTIES, d.name
        assert re.fullmatch(r"[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}", d.atc), d.atc
        assert d.name == d.name.lower(), d.name
        assert (d.brand is None) == (d.brand_region is None), d.name
        assert d.brand_region in (None, "US", "UK"), d.name
        assert d.brand is None or d.brand[0].isupper(), d.name
    # every value of both labels has at least 5 drugs, and the two labelings cross
    per_class = collections.Counter(d.mechanism for d in ds)
    per_specialty = collections.Counter(d.specialty for d in ds)
    assert set(per_class) == set(CLASSES) and min(per_class.values()) >= 5, per_class
    assert set(per_specialty) == set(SPECIALTIES) and min(per_specialty.values()) >= 5
    table = contingency(ds)
    multi_specialty = [c for c in table if len(+table[c]) >= 2]
    assert len(multi_specialty) >= len(CLASSES) // 2, multi_specialty
    classes_per_specialty = collections.defaultdict(set)
    for d in ds:
        classes_per_specialty[d.specialty].add(d.mechanism)
    assert sum(len(v) >= 3 for v in classes_per_specialty.values()) >= len(SPECIALTIES) - 2
    # items
    task_items = [it for it in items if not it["template"].startswith("neutral")]
    common.check_items(task_items, DOMAIN, distinct_first_word=True)
    common.check_unique_ids(items)
    words = label_words()
    for it in items:
        assert isinstance(it["labels"]["stem"], bool), it["id"]
        assert it["prompt"].count(it["span"]) == 1, it["id"]
        if it["template"].startswith("neutral"):
            assert "answer" not in it and "pair" not in it, it["id"]
            frame = it["prompt"].replace(it["span"], " ")
            found = words & set(re.findall(r"[a-z0-9]+", frame.lower()))
            assert not found, (it["id"], found)
        if "pair" in it:
            assert common.corrupted_span(it) in names, it["id"]
    common.check_templates_per_concept(items, 5, "drug")
    n_pairs = common.count_pairs(items, 40)
    assert len({(t, c) for t, c, _ in PAIRS}) == len(PAIRS), "one pair per item"
    by_name = {d.name: d for d in ds}
    for t, clean, corrupt in PAIRS:
        a, b = by_name[clean], by_name[corrupt]
        if t == "t0":
            assert a.mechanism == b.mechanism and a.specialty != b.specialty, (clean, corrupt)
        else:
            assert t == "t1" and a.specialty == b.specialty and a.mechanism != b.mechanism
    return n_pairs


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    items = build_items()
    n_pairs = self_check(items)
    path = os.path.join(common.out_dir_arg(argv), DOMAIN + ".jsonl")
    common.write_jsonl(path, items)
    if "--table" in argv:
        print(contingency_markdown())
    print("wrote %d items (%d drugs, %d with a brand; %d classes, %d specialties; %d pairs) to %s"
          % (len(items), len(DRUGS), sum(1 for d in DRUGS if d[5]), len(CLASSES),
             len(SPECIALTIES), n_pairs, path), file=sys.stderr)


if __name__ == "__main__":
    main()
