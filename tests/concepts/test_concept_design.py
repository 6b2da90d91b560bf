"""Design properties of the built-in concept sets, read from the shipped files (and the builders' tables):
neutral templates that ask nothing and name no category, correct articles and wording for age, stages
ordinal within a disease, the reference set's size, builders that reproduce the files byte for byte,
and sources notes whose counts match the files."""

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from concept_tools import TOOLS, tool_module

from medmap.concepts import default_domains, available_builtin, is_neutral, load_builtin
from medmap.concepts.schema import ConceptItem

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "medmap" / "concepts" / "data"
MINE = ("age", "symptoms", "diseases", "progression", "reference")  # builders that take --out-dir


def builder(domain: str):
    """The builder module of a set."""
    return tool_module(f"build_{domain}")


@pytest.mark.parametrize("domain", MINE)
def test_builder_reproduces_the_shipped_file_byte_for_byte(tmp_path, domain):
    subprocess.run([sys.executable, str(TOOLS / f"build_{domain}.py"), "--out-dir", str(tmp_path)], check=True,
                   capture_output=True, timeout=120)
    assert (tmp_path / f"{domain}.jsonl").read_bytes() == (DATA / f"{domain}.jsonl").read_bytes()


def test_every_set_has_a_neutral_template_without_answer_or_pair():
    for d in MINE:  # drugs and dosage get theirs on another branch
        cs = load_builtin(d)
        neutral = [it for it in cs.items if is_neutral(it.template)]
        assert neutral, d
        assert all(it.answer is None and it.pair is None for it in neutral), d
        assert all(it.answer is not None for it in cs.items if not is_neutral(it.template)), d
        # every concept that has task items also has a neutral item
        assert {it.concept for it in neutral} == {it.concept for it in cs.items}, d


# ---------------------------------------------------------------------------------------------
# Age
# ---------------------------------------------------------------------------------------------

def test_age_neutral_prompts_never_mention_law_or_status():
    words = re.compile(r"\b(law|legal\w*|consent\w*|minor|adult|status|child|majority)\b", re.I)
    neutral = [it for it in load_builtin("age").items if is_neutral(it.template)]
    assert len({it.template for it in neutral}) >= 2
    assert not [it.id for it in neutral if words.search(it.prompt)]
    assert {it.labels["age"] for it in neutral} == set(range(101))


def test_age_articles_and_wording_at_0_and_1():
    items = load_builtin("age").items
    for it in items:
        # an article right before the age would change at 17 -> 18; none is there, and none is wrong
        assert not re.search(r"\b[Aa]n? \d", it.prompt), it.id
        assert not re.search(r"\b[Aa] (8|11|18|8\d)\b", it.prompt), it.id
        assert not re.search(r"\b0[- ]year|\b1[- ]years", it.prompt), it.id
    assert all("newborn" in it.prompt for it in items if it.labels["age"] == 0)
    assert not any("newborn" in it.prompt for it in items if it.labels["age"] != 0)
    mod = builder("age")
    assert [a for a in range(101) if mod.article(a) == "an"] == [8, 11, 18] + list(range(80, 90))


def test_age_pairs_cross_18_with_informative_answers_and_one_changed_number():
    import re

    cs = load_builtin("age")
    assert len(cs.pairs) >= 32
    for it in cs.pairs:
        p = it.pair
        assert {p.clean_answer, p.corrupted_answer} == {" minor", " adult"}
        for prompt in (it.prompt, p.corrupted_prompt):  # no pair asks an age its solved examples answer
            *examples, last = prompt.split("\n")
            shown = {re.search(r"(\d+)-year", line).group(1) for line in examples}
            assert re.search(r"(\d+)-year", last).group(1) not in shown, it.id
        assert (it.labels["age"] < 18) == (p.clean_answer == " minor")
        diff = [i for i, (a, b) in enumerate(zip(it.prompt, p.corrupted_prompt)) if a != b]
        assert len(it.prompt) == len(p.corrupted_prompt) and diff and diff[-1] - diff[0] <= 1, it.id
    ages = {it.labels["age"] for it in cs.pairs}
    assert {17, 18} <= ages


# ---------------------------------------------------------------------------------------------
# Symptoms and diseases
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("domain", ["symptoms", "diseases"])
def test_neutral_prompts_name_no_category(domain):
    cues = builder(domain).CUES
    cs = load_builtin(domain)
    assert set(cues) == {it.labels["category"] for it in cs.items}
    for it in cs.items:
        rest = it.prompt.replace(it.span, " ").lower()  # the template's own words
        assert not any(c.lower() in rest for c in cues), it.id
        assert not any(re.search(p, rest) for pats in cues.values() for p in pats), it.id
        own = any(re.search(p, it.span.lower()) for p in cues[it.labels["category"]])
        assert it.labels["cue"] is own, it.id


@pytest.mark.parametrize("domain", ["symptoms", "diseases"])
def test_categories_balanced_and_new_symptom_categories(domain):
    cs = load_builtin(domain)
    per = defaultdict(set)
    for it in cs.items:
        per[it.labels["category"]].add(it.concept)
    assert min(len(v) for v in per.values()) >= 5
    if domain == "symptoms":
        assert {"psychiatric", "endocrine"} <= set(per)
    for it in cs.pairs:  # pairs go across categories, answers with different first words
        assert it.pair.clean_answer.split()[0] != it.pair.corrupted_answer.split()[0], it.id


def test_symptom_prompts_have_no_plural_is_agreement_error():
    for it in load_builtin("symptoms").items:
        assert not re.search(re.escape(it.span) + r" is\b", it.prompt), it.id


def test_disease_overlaps_removed():
    names = {it.concept for it in load_builtin("diseases").items}
    assert "COPD" in names and not names & {"emphysema", "chronic bronchitis"}
    assert "IgA nephropathy" in names and not names & {"glomerulonephritis", "nephrotic syndrome"}
    symptoms = {it.concept for it in load_builtin("symptoms").items}
    assert "palpitations" in symptoms and not symptoms & {"racing heartbeat", "irregular heartbeat", "stridor"}


# ---------------------------------------------------------------------------------------------
# Progression
# ---------------------------------------------------------------------------------------------

def test_progression_stage_is_ordinal_within_each_disease():
    cs = load_builtin("progression")
    stages = defaultdict(set)
    for it in cs.items:
        assert isinstance(it.labels["stage"], int) and not isinstance(it.labels["stage"], bool), it.id
        stages[it.labels["disease"]].add(it.labels["stage"])
    assert len(stages) >= 5
    for disease, s in stages.items():
        assert len(s) >= 4 and s == set(range(len(s))), disease
    assert len(stages["Alzheimer's disease (GDS)"]) == 7
    assert "heart failure" in stages
    prompts = {(it.prompt): it for it in cs.items}
    for it in cs.pairs:  # a pair compares two stages of one disease in one frame
        other = prompts[it.pair.corrupted_prompt]
        assert other.labels["disease"] == it.labels["disease"] and other.template == it.template, it.id
        assert other.labels["stage"] != it.labels["stage"], it.id


def test_progression_neutral_prompts_do_not_ask_severity():
    for it in load_builtin("progression").items:
        if is_neutral(it.template):
            assert not re.search(r"severity|described as|stage", it.prompt, re.I), it.id


# ---------------------------------------------------------------------------------------------
# Reference set
# ---------------------------------------------------------------------------------------------

def test_reference_set_is_builtin_but_not_a_default_domain():
    cs = load_builtin("reference")
    assert "reference" not in default_domains() and "reference" not in available_builtin()
    assert len({it.concept for it in cs.items}) >= 80 and len(cs.pairs) >= 40
    assert {it.labels["category"] for it in cs.items} >= {"capital", "unit", "object", "arithmetic", "animal"}
    ConceptItem.model_validate({"id": "r", "domain": "reference", "prompt": "p", "labels": {"category": "x"}})
    for it in cs.pairs:
        assert it.pair.clean_answer.split()[0] != it.pair.corrupted_answer.split()[0], it.id
        assert not it.pair.clean_answer.strip().isdigit()


def test_reference_arithmetic_is_right():
    words = builder("reference").NUMBER_WORDS
    for it in load_builtin("reference").items:
        if it.labels["category"] == "arithmetic" and it.answer:
            a, b = it.concept.split(" plus ")
            assert words.index(it.answer.strip()) == words.index(a) + words.index(b), it.id


# ---------------------------------------------------------------------------------------------
# Sources notes: the counts they state are the files' counts
# ---------------------------------------------------------------------------------------------

NOTES = {"age": "SOURCES_age.md", "symptoms": "SOURCES_symptoms_diseases.md",
         "diseases": "SOURCES_symptoms_diseases.md", "progression": "SOURCES_progression.md",
         "reference": "SOURCES_reference.md"}


@pytest.mark.parametrize("domain", sorted(NOTES))
def test_sources_note_counts_match_the_file(domain):
    text = (DATA / NOTES[domain]).read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith(f"| `{domain}.jsonl` |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    cs = load_builtin(domain)
    assert cells[-2:] == [str(len(cs)), str(len(cs.pairs))], row
    concepts = int(re.match(r"\d+", cells[1]).group())
    assert concepts == len({it.concept for it in cs.items}), row
