"""Builds src/medmap/concepts/data/reference.jsonl: the general-knowledge reference set.

Non-medical facts with reference answers and patching pairs, run through saliency, lesioning, patching
and the lens like a medical domain, so that each medical domain's curve has a control: a layer that
matters as much for "the capital of France" as for "the specialty that treats gout" is not a
medical-knowledge layer. It is not a domain of the map. Label: `category` (capital, unit, object,
arithmetic, animal). Sources and checks: src/medmap/concepts/data/SOURCES_reference.md.

Design, kept parallel to the medical sets:
- Two neutral templates per category (`neutral`, `neutral2`: the concept named, nothing asked) and two
  task templates (`t0`, `t1`: a context sentence and a question ending where the answer starts, of the
  length of the medical task prompts, about 10-25 tokens).
- Answers are single words whose first token is informative (" Paris", " sixty", " cutting",
  " mammals"); never an article, a digit or a space on its own.
- Patching pairs (t0) swap the concept for another of the same category with a different answer, so
  that the two prompts have the same number of tokens under the SmolLM2 and the Gemma 3 tokenizers
  (tools/concepts/check_pairs.py) and the two answers start with different tokens.

Standard library only; output is byte-stable and written atomically.
Run:  python tools/concepts/build_reference.py [--out-dir DIR]
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script or imported
import _common as common  # noqa: E402

DOMAIN = "reference"

# category -> templates ({x} is the concept's wording in the prompt; unit prompts use {small}, {big}).
TEMPLATES = {
    "capital": {
        "neutral": "The traveler arrives in {x}.",
        "neutral2": "Country: {x}.",
        "t0": "A traveler arrives in {x}. The capital city of this country is",
        "t1": "On a school map of {x}, the capital is marked with a star. Its name is",
    },
    "unit": {
        "neutral": "A pupil counts the {small} in one {big}.",
        "neutral2": "Worksheet topic: {small} in one {big}.",
        "t0": "A pupil converts units. The number of {small} in one {big} is",
        "t1": "On a worksheet about units, the number of {small} in one {big} is written as",
    },
    "object": {
        "neutral": "At home, a person looks at the {x}.",
        "neutral2": "Object: the {x}.",
        "t0": "At home, a person looks at the {x}. This object is mainly used for",
        "t1": "A child asks about the {x}. This household object is used for",
    },
    "arithmetic": {
        "neutral": "A child adds {x}.",
        "neutral2": "Sum: {x}.",
        "t0": "A child adds {x}. The total is",
        "t1": "At school, the teacher asks the class to add {x}. The correct result is",
    },
    "animal": {
        "neutral": "In biology class, students learn about {x}.",
        "neutral2": "Animal: {x}.",
        "t0": "In biology class, students learn about {x}. These animals are classified as",
        "t1": "At the zoo, a sign next to the {x} says that they belong to the group of",
    },
}

SOURCES = {
    "capital": "CIA World Factbook, field 'Capital'",
    "unit": "BIPM SI Brochure 9th ed. (2019) prefixes; NIST Handbook 44 appendix C (US customary units); "
            "calendar",
    "object": "Merriam-Webster dictionary, definition of the object",
    "arithmetic": "arithmetic (checked by the builder)",
    "animal": "Encyclopaedia Britannica, class of the animal",
}

# category -> [(concept, wording fields, answer)]. Concepts are as they read in the prompt.
FACTS = {
    "capital": [(c, {"x": c}, " " + a) for c, a in (
        ("France", "Paris"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Germany", "Berlin"),
        ("Japan", "Tokyo"), ("Russia", "Moscow"), ("Egypt", "Cairo"), ("Greece", "Athens"),
        ("Ireland", "Dublin"), ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Austria", "Vienna"),
        ("Portugal", "Lisbon"), ("Poland", "Warsaw"), ("Kenya", "Nairobi"), ("Peru", "Lima"),
        ("Cuba", "Havana"), ("China", "Beijing"), ("Canada", "Ottawa"), ("Hungary", "Budapest"),
        ("Finland", "Helsinki"), ("Denmark", "Copenhagen"), ("Belgium", "Brussels"),
    )],
    "unit": [("%s in %s %s" % (small, "an" if big[0] in "aeiou" or big == "hour" else "a", big),
              {"small": small, "big": big}, " " + a) for small, big, a in (
        ("seconds", "minute", "sixty"), ("minutes", "hour", "sixty"), ("hours", "day", "twenty-four"),
        ("days", "week", "seven"), ("months", "year", "twelve"), ("weeks", "year", "fifty-two"),
        ("centimeters", "meter", "one hundred"), ("millimeters", "centimeter", "ten"),
        ("meters", "kilometer", "one thousand"), ("grams", "kilogram", "one thousand"),
        ("inches", "foot", "twelve"), ("feet", "yard", "three"), ("ounces", "pound", "sixteen"),
        ("years", "decade", "ten"), ("years", "century", "one hundred"), ("days", "fortnight", "fourteen"),
        ("quarts", "gallon", "four"), ("pints", "quart", "two"),
    )],
    "object": [(o, {"x": o}, " " + a) for o, a in (
        ("scissors", "cutting"), ("pen", "writing"), ("broom", "sweeping"), ("needle", "sewing"),
        ("shovel", "digging"), ("kettle", "boiling"), ("toothbrush", "brushing"), ("ladder", "climbing"),
        ("spoon", "eating"), ("hammer", "hammering"), ("comb", "combing"), ("oven", "baking"),
        ("iron", "ironing"), ("towel", "drying"), ("saw", "sawing"), ("stapler", "stapling"),
        ("camera", "photography"), ("bicycle", "cycling"),
    )],
    "arithmetic": [],  # filled below from ADDITIONS
    "animal": [(a, {"x": a}, " " + c) for a, c in (
        ("dolphins", "mammals"), ("whales", "mammals"), ("bats", "mammals"), ("elephants", "mammals"),
        ("eagles", "birds"), ("penguins", "birds"), ("owls", "birds"), ("ostriches", "birds"),
        ("sharks", "fish"), ("salmon", "fish"), ("tuna", "fish"), ("goldfish", "fish"),
        ("snakes", "reptiles"), ("crocodiles", "reptiles"), ("lizards", "reptiles"), ("turtles", "reptiles"),
        ("frogs", "amphibians"), ("salamanders", "amphibians"), ("toads", "amphibians"), ("newts", "amphibians"),
        ("ants", "insects"), ("bees", "insects"), ("beetles", "insects"), ("butterflies", "insects"),
    )],
}

NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                "fifteen sixteen seventeen eighteen nineteen").split()
ADDITIONS = ((2, 3), (1, 4), (3, 3), (2, 4), (3, 4), (1, 6), (2, 6), (5, 3), (4, 5), (2, 7), (3, 7), (6, 4),
             (5, 6), (8, 3), (4, 8), (7, 5))
FACTS["arithmetic"] = [("%s plus %s" % (NUMBER_WORDS[a], NUMBER_WORDS[b]),
                        {"x": "%s and %s" % (NUMBER_WORDS[a], NUMBER_WORDS[b])}, " " + NUMBER_WORDS[a + b])
                       for a, b in ADDITIONS]

TEMPLATE_IDS = ("neutral", "neutral2", "t0", "t1")

# Patching pairs on t0: category -> [(clean concept, corrupted concept)], within a category, with
# different answers. Every concept that has a partner is the clean side of one pair; partners were
# chosen among the concepts of the same category whose t0 prompt has the same number of tokens under
# both bundled tokenizers (`tools/concepts/check_pairs.py --candidates reference`), preferring a partner
# for which both bundled models prefer the clean answer (SOURCES_reference.md).
PAIRS = {
    "capital": [
        ("France", "Kenya"), ("Italy", "Canada"), ("Spain", "Finland"), ("Germany", "Peru"),
        ("Japan", "Cuba"), ("Russia", "Ireland"), ("Egypt", "Sweden"), ("Greece", "Poland"),
        ("Ireland", "China"), ("Norway", "Egypt"), ("Sweden", "Portugal"), ("Austria", "Greece"),
        ("Portugal", "Hungary"), ("Poland", "Spain"), ("Kenya", "Russia"), ("Peru", "Belgium"),
        ("Cuba", "Norway"), ("China", "Denmark"), ("Canada", "Italy"), ("Hungary", "Japan"),
        ("Finland", "France"), ("Denmark", "Austria"), ("Belgium", "Germany"),
    ],
    "unit": [
        ("days in a fortnight", "quarts in a gallon"), ("quarts in a gallon", "days in a fortnight"),
        ("pints in a quart", "days in a fortnight"), ("centimeters in a meter", "months in a year"),
        ("meters in a kilometer", "days in a week"), ("grams in a kilogram", "millimeters in a centimeter"),
        ("years in a century", "feet in a yard"), ("seconds in a minute", "weeks in a year"),
        ("minutes in an hour", "ounces in a pound"), ("months in a year", "minutes in an hour"),
        ("millimeters in a centimeter", "inches in a foot"), ("inches in a foot", "seconds in a minute"),
        ("years in a decade", "hours in a day"), ("hours in a day", "seconds in a minute"),
        ("days in a week", "hours in a day"), ("weeks in a year", "years in a decade"),
        ("feet in a yard", "ounces in a pound"), ("ounces in a pound", "centimeters in a meter"),
    ],
    "object": [
        ("scissors", "bicycle"), ("pen", "kettle"), ("broom", "camera"), ("needle", "broom"),
        ("shovel", "needle"), ("kettle", "saw"), ("toothbrush", "hammer"), ("ladder", "iron"),
        ("spoon", "ladder"), ("hammer", "toothbrush"), ("comb", "shovel"), ("oven", "pen"), ("iron", "comb"),
        ("towel", "oven"), ("saw", "towel"), ("camera", "scissors"), ("bicycle", "spoon"),
    ],
    "arithmetic": [
        ("two plus three", "eight plus three"), ("one plus four", "one plus six"),
        ("three plus three", "five plus six"), ("two plus four", "three plus seven"),
        ("three plus four", "five plus six"), ("one plus six", "five plus six"),
        ("two plus six", "three plus seven"), ("five plus three", "four plus eight"),
        ("four plus five", "five plus six"), ("two plus seven", "seven plus five"),
        ("three plus seven", "three plus four"), ("six plus four", "four plus five"),
        ("five plus six", "six plus four"), ("eight plus three", "two plus seven"),
        ("four plus eight", "five plus six"), ("seven plus five", "two plus three"),
    ],
    "animal": [
        ("dolphins", "ants"), ("whales", "bees"), ("bats", "tuna"), ("elephants", "salmon"),
        ("sharks", "beetles"), ("salmon", "eagles"), ("tuna", "butterflies"), ("goldfish", "penguins"),
        ("snakes", "sharks"), ("crocodiles", "owls"), ("lizards", "goldfish"), ("turtles", "dolphins"),
        ("ants", "frogs"), ("bees", "snakes"), ("beetles", "crocodiles"), ("butterflies", "lizards"),
        ("eagles", "turtles"), ("penguins", "ants"), ("owls", "sharks"), ("frogs", "whales"),
    ],
}
PAIR_TEMPLATE = "t0"


def slug(s: str) -> str:
    return "_".join(filter(None, "".join(ch if ch.isalnum() else "_" for ch in s.lower()).split("_")))


def render(category: str, fields: dict, template: str) -> tuple[str, str]:
    """The prompt and its span (the concept's wording) of one concept on one template."""
    text = TEMPLATES[category][template].format(**fields)
    span = fields["x"] if "x" in fields else "%s in one %s" % (fields["small"], fields["big"])
    return text, span


def build() -> list[dict]:
    items = []
    for c, facts in FACTS.items():
        by_concept = {concept: (fields, answer) for concept, fields, answer in facts}
        pairs = dict(PAIRS.get(c, ()))
        for concept, fields, answer in facts:
            for t in TEMPLATE_IDS:
                prompt, span = render(c, fields, t)
                item = common.make_item(DOMAIN, "%s-%s" % (c, slug(concept)), t, prompt,
                                        None if common.is_neutral(t) else answer, {"category": c}, concept,
                                        span, SOURCES[c])
                if t == PAIR_TEMPLATE and concept in pairs:
                    other_fields, other_answer = by_concept[pairs[concept]]
                    item["pair"] = common.make_pair(render(c, other_fields, t)[0], answer, other_answer)
                items.append(item)
    return items


def check(items: list[dict]) -> None:
    common.check_items(items, DOMAIN)
    assert len(items) == sum(len(f) for f in FACTS.values()) * len(TEMPLATE_IDS)
    assert sum(len(f) for f in FACTS.values()) >= 80, "need at least 80 facts"
    for a, b in ADDITIONS:
        assert NUMBER_WORDS.index(NUMBER_WORDS[a + b]) == a + b
    for c, pairs in PAIRS.items():
        answers = {concept: answer for concept, _, answer in FACTS[c]}
        assert len({a for a, _ in pairs}) == len(pairs), "a concept is the clean side of two pairs: " + c
        for a, b in pairs:
            assert a in answers and b in answers, (a, b)
            assert answers[a].split()[0] != answers[b].split()[0], (a, b)
    for it in items:  # the answer word is nowhere in the prompt
        if "answer" in it:
            assert not re.search(r"\b%s\b" % re.escape(it["answer"].strip()), it["prompt"]), it["id"]
    common.count_pairs(items, 40)


if __name__ == "__main__":
    items = build()
    check(items)
    path = common.output_path(DOMAIN)
    common.write_jsonl(path, items, sort_keys=True)
    counts = {c: len(f) for c, f in FACTS.items()}
    print(f"wrote {len(items)} items ({sum(counts.values())} facts, {len(counts)} categories), "
          f"{sum('pair' in i for i in items)} pairs to {path}")
    print("per category:", counts)
