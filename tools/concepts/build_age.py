"""Builds src/medmap/concepts/data/age.jsonl: every integer age 0-100 x {male, female} x 3 phrasings.

Design: the gender word does not depend on age ("male patient", never "boy"/"man"), so a jump
between 17 and 18 cannot come from the wording. The reference answer is the legal status
(minor below 18, adult from 18), which gives the causal techniques something age-dependent to score.
Patching pairs change only the age number, across the 18-year boundary, with the same number of
digits on both sides.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script or imported
import _common as common  # noqa: E402

DOMAIN = "age"
OUT = common.out_path(DOMAIN)
GENDERS = ("male", "female")
TEMPLATES = {
    "t0": ("A {age}-year-old {g} patient comes to the clinic. Legally, the patient is", "{age}-year-old"),
    "t1": ("Patient record: {g}, age {age} years. For consent purposes this patient counts as", "age {age} years"),
    "t2": ("The doctor examines a {g} patient who is {age} years old. In the eyes of the law, this patient is",
           "{age} years old"),
}


def status(age: int) -> str:
    return " a minor" if age < 18 else " an adult"


def prompt(t: str, age: int, g: str) -> tuple[str, str]:
    text, span = TEMPLATES[t]
    return text.format(age=age, g=g), span.format(age=age)


def pairs() -> dict[tuple[int, str], int]:
    """clean age -> corrupted age, on template t0: minors 10-17 with adults 50-57, and the reverse;
    plus the boundary pairs 17<->18 and 16<->19."""
    out = {}
    for m in range(10, 18):
        out[m] = m + 40
        out[m + 40] = m
    out.update({17: 18, 18: 17, 16: 19, 19: 16})
    return out


def build() -> list[dict]:
    items = []
    pair_map = pairs()
    for age in range(0, 101):
        for g in GENDERS:
            for t in TEMPLATES:
                p, span = prompt(t, age, g)
                item = common.make_item(DOMAIN, f"{age:03d}-{g}", t, p, status(age),
                                        {"age": age, "gender": g}, f"{age}-year-old {g}", span,
                                        "legal age of majority 18 (most jurisdictions)")
                if t == "t0" and age in pair_map:
                    other = pair_map[age]
                    item["pair"] = common.make_pair(prompt(t, other, g)[0], status(age), status(other))
                items.append(item)
    return items


def check(items: list[dict]) -> None:
    assert len(items) == 101 * 2 * 3
    common.check_items(items, DOMAIN)
    common.count_pairs(items, 20)


if __name__ == "__main__":
    items = build()
    check(items)
    common.write_jsonl(OUT, items, sort_keys=True)
    print(f"wrote {len(items)} items, {sum('pair' in i for i in items)} pairs to {OUT}")
