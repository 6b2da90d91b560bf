"""Builds src/medmap/concepts/data/age.jsonl: every integer age 0-100 x {female, male} x templates.

Design (details, references and judgement calls in src/medmap/concepts/data/SOURCES_age.md):
- Neutral templates (`neutral`, `neutral2`, `neutral3`) describe a patient by age and sex and ask
  nothing: no legal, consent or status word, so a step at 17 -> 18 in their geometry cannot come from
  the question. They carry no answer and no pair.
- No article stands directly before the age number in any template: the English article changes
  exactly at the boundary under study ("a 17-year-old", "an 18-year-old"), so an article there would put
  a lexical step at 17 -> 18 (and at 8, 11, 80-89). Where an article is used ("A female patient aged
  17 ..."), it stands before the sex word and is the same at every age. `article()` gives the right
  one for any age, and the self-check tests it.
- The sex word does not depend on age ("female"/"male" at every age, never "girl"/"woman"), so the
  wording does not change at 18 either.
- Ages 0 and 1: age 0 reads "newborn" (a patient under one year is written in months or as a newborn,
  never "0-year-old"); age 1 reads "1-year-old" / "1 year" (singular).
- Task templates (`t0`, `t1`) ask the legal status and carry the answers " minor" (below 18) and
  " adult" (18 and over): one token each in both bundled tokenizers, with distinct first tokens. `t0`
  gives three solved examples first (a 34-year-old adult, a 9- and a 14-year-old minor, of the same sex
  as the patient) so that the answer is one of the two words rather than a continuation of free text;
  without them neither bundled model's choice depends on the age (SOURCES_age.md).
- Patching pairs (on `t0`) change only the age number, across the 18-year boundary, between two-digit
  ages, so clean and corrupted prompts have the same number of tokens under both bundled tokenizers
  (both split numbers into single digits).

Standard library only; output is byte-stable and written atomically.
Run:  python tools/concepts/build_age.py [--out-dir DIR]
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script or imported
import _common as common  # noqa: E402

DOMAIN = "age"
SEXES = ("female", "male")
AGES = range(0, 101)
AGE_OF_MAJORITY = 18
SOURCE = "age of majority 18 (UN Convention on the Rights of the Child art. 1; most national laws)"

# Solved examples that open t0 (ages outside every pair).
EXAMPLES = ((34, " adult"), (9, " minor"), (14, " minor"))

# template id -> (text, form of the age phrase); {age} is the age phrase, {sex} the sex word. Forms
# (phrase()): "yo" = "17-year-old", "aged" = "aged 17", "years" = "17 years", "old" = "17 years old";
# age 0 is "newborn" in every form ("A newborn female patient", see AGE0), age 1 is singular.
TEMPLATES = {
    "neutral": ("Patient: {age} {sex}.", "yo"),
    "neutral2": ("A {sex} patient {age} is seen in the clinic.", "aged"),
    "neutral3": ("Age: {age}. Sex: {sex}.", "years"),
    "t0": ("{examples}Patient: {age} {sex}. Legal status:", "yo"),
    "t1": ("Patient record: {sex}, {age}. Under the law the patient counts as a minor or an adult. "
           "Legal status:", "old"),
}
# Where age 0 reads better with the word in another place.
AGE0 = {"neutral2": "A {age} {sex} patient is seen in the clinic."}
PAIR_TEMPLATE = "t0"


def article(age: int) -> str:
    """'an' where the spoken number starts with a vowel sound (eight, eleven, eighteen, eighty-...)."""
    return "an" if age in (8, 11, 18) or 80 <= age <= 89 else "a"


def phrase(age: int, form: str) -> str:
    """The age as it reads in a template of the given form."""
    if form == "yo":
        return "newborn" if age == 0 else "%d-year-old" % age
    if age == 0:
        return "newborn"
    if form == "aged":
        return "aged %d" % age
    if form == "years":
        return "1 year" if age == 1 else "%d years" % age
    if form == "old":
        return "1 year old" if age == 1 else "%d years old" % age
    raise ValueError(form)


def status(age: int) -> str:
    return " minor" if age < AGE_OF_MAJORITY else " adult"


def prompt(t: str, age: int, sex: str) -> tuple[str, str]:
    """The prompt and the span naming the age in it."""
    text, form = TEMPLATES[t]
    if age == 0:
        text = AGE0.get(t, text)
    span = phrase(age, form)
    fields = {"age": span, "sex": sex}
    if t == "t0":
        fields["examples"] = "".join("Patient: %s %s. Legal status:%s.\n" % (phrase(a, form), sex, s)
                                     for a, s in EXAMPLES)
    return text.format(**fields), span


def pairs() -> list[tuple[int, int]]:
    """(clean age, corrupted age) on t0, for each sex: the minors 10-15 with the adult 40 years older,
    the adults 50-57 with the minor 40 years younger, and the boundary pairs 17<->18 and 16<->19; none
    with an age of the solved examples on either side (that prompt holds its own answer: 14 <-> 54 is
    left out)."""
    out = [(m, m + 40) for m in range(10, 16)] + [(a, a - 40) for a in range(50, 58)]
    out += [(17, 18), (18, 17), (16, 19), (19, 16)]
    shown = {age for age, _ in EXAMPLES}
    return [(c, k) for c, k in out if c not in shown and k not in shown]


def build() -> list[dict]:
    items = []
    pair_of = dict(pairs())
    assert len(pair_of) == len(pairs()), "an age is the clean side of two pairs"
    for age in AGES:
        for sex in SEXES:
            for t in TEMPLATES:
                p, span = prompt(t, age, sex)
                answer = None if common.is_neutral(t) else status(age)
                concept = "newborn %s" % sex if age == 0 else "%d-year-old %s" % (age, sex)
                item = common.make_item(DOMAIN, "%03d-%s" % (age, sex), t, p, answer, {"age": age, "gender": sex},
                                        concept, span, SOURCE)
                if t == PAIR_TEMPLATE and age in pair_of:
                    other = pair_of[age]
                    item["pair"] = common.make_pair(prompt(t, other, sex)[0], status(age), status(other))
                items.append(item)
    return items


LEGAL_WORDS = ("law", "legal", "consent", "minor", "adult", "status", "child", "majority")


def check(items: list[dict]) -> None:
    assert len(items) == len(AGES) * len(SEXES) * len(TEMPLATES)
    common.check_items(items, DOMAIN)
    common.check_templates_per_concept(items, 3, "age and sex")
    assert [a for a in range(101) if article(a) == "an"] == [8, 11, 18] + list(range(80, 90))
    for it in items:
        if common.is_neutral(it["template"]):
            assert not any(w in it["prompt"].lower() for w in LEGAL_WORDS), it["id"]
        # no article right before the age; age 0 is "newborn", age 1 singular
        assert not any(" %s %s" % (a, it["span"]) in it["prompt"] for a in ("a", "an", "A", "An")), it["id"]
        assert not re.search(r"\b0-year|\b0 year|\b1 years|\b1-years", it["prompt"]), it["id"]
        assert (it["labels"]["age"] == 0) == ("newborn" in it["span"]), it["id"]
        if "pair" in it:
            assert it["labels"]["age"] not in dict(EXAMPLES), it["id"]
            other = it["pair"]["corrupted_prompt"]
            # the same number of characters, differing only in the age's digits
            diff = [i for i, (x, y) in enumerate(zip(other, it["prompt"])) if x != y]
            assert len(other) == len(it["prompt"]) and diff and max(diff) - min(diff) <= 1, it["id"]
            minor = it["labels"]["age"] < AGE_OF_MAJORITY
            assert it["pair"]["clean_answer"] == (" minor" if minor else " adult"), it["id"]
            assert it["pair"]["corrupted_answer"] == (" adult" if minor else " minor"), it["id"]
    assert not any(k in dict(EXAMPLES) for _, k in pairs())
    common.count_pairs(items, 32)


if __name__ == "__main__":
    items = build()
    check(items)
    path = common.output_path(DOMAIN)
    common.write_jsonl(path, items, sort_keys=True)
    print(f"wrote {len(items)} items, {sum('pair' in i for i in items)} pairs to {path}")
