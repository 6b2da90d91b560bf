"""Builds src/medmap/concepts/data/symptoms.jsonl: symptoms labelled by the organ system they concern.

Design (details, references and every judgement call in src/medmap/concepts/data/SOURCES_symptoms_diseases.md):
- Categories are the organ systems of the clinical history (Macleod's Clinical Examination, Oxford
  Handbook of Clinical Medicine), cross-checked against the symptom blocks of ICD-10 chapter XVIII,
  plus two that the history asks about apart: psychiatric (mental state; ICD-10 R40-R46, chapter V)
  and endocrine (ICD-10 chapter IV). A symptom is kept only when one category clearly owns it;
  symptoms shared between systems are left out on purpose.
- Templates. Neutral ones (`neutral`, `neutral2`) name the symptom and ask nothing; task ones
  (`t0`, `t1`) ask where the problem lies and carry the answers and the pairs. No template text names
  a category (no "eye", "urine", "skin", "heart", "mind"...). Where the symptom's own name contains
  such a word (e.g. "eye pain", "frequent urination") the item has `labels.cue = true`, so analyses
  can leave those items out or split on them; the words per category are CUES below.
- The symptom is never the grammatical subject (no "Itchy eyes is ..."): every template reads
  "reports {s}" / "complains of {s}" / "complaint: {s}".
- Answers: the lay name of the organs (" heart and blood vessels", " lungs and airways", " mind"...);
  the pair answers are their first word, one token in both bundled tokenizers and different for every
  two categories.
- Patching pairs swap only the symptom for one of another category whose prompt has the same number
  of tokens under the SmolLM2 and the Gemma 3 tokenizers (checked with tools/concepts/check_pairs.py).

Standard library only; output is byte-stable and written atomically.
Run:  python tools/concepts/build_symptoms.py [--out-dir DIR]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script or imported
import _common as common  # noqa: E402

DOMAIN = "symptoms"

# category label -> (answer continuation, pair answer (its first word), short source)
CATEGORIES = {
    "cardiovascular": (" heart and blood vessels", " heart",
                       "ICD-10 R00-R09, ch. IX; Macleod's cardiovascular system"),
    "respiratory": (" lungs and airways", " lungs",
                    "ICD-10 R00-R09, ch. X; Macleod's respiratory system"),
    "gastrointestinal": (" digestive system", " digestive",
                         "ICD-10 R10-R19, ch. XI; Macleod's gastrointestinal system"),
    "neurological": (" nervous system", " nervous",
                     "ICD-10 R20, R25-R29, R47, R51, R56; Macleod's nervous system"),
    "musculoskeletal": (" muscles, bones and joints", " muscles",
                        "ICD-10 ch. XIII (M25, M54, M79); Macleod's musculoskeletal system"),
    "dermatological": (" skin, hair and nails", " skin",
                       "ICD-10 ch. XII (L), R21-R23; Macleod's skin, hair and nails"),
    "urinary": (" urinary tract", " urinary",
                "ICD-10 R30-R39, R80-R82, N23; Macleod's renal system"),
    "reproductive": (" reproductive organs", " reproductive",
                     "ICD-10 N40-N51, N80-N98; Macleod's reproductive system"),
    "ophthalmological": (" eyes", " eyes",
                         "ICD-10 ch. VII (H00-H59); Macleod's eye"),
    "endocrine": (" endocrine system", " endocrine",
                  "ICD-10 ch. IV (E00-E35), R63.1; Macleod's endocrine system"),
    "psychiatric": (" mind", " mind",
                    "ICD-10 R44-R46, ch. V (F20-F43); Macleod's mental state examination"),
}

# Words that name a category (its organs, its own name): regular expressions on lower case. A symptom
# whose name contains one of its own category's words has labels.cue = true. No template contains any.
CUES = {
    "cardiovascular": (r"heart", r"cardi", r"vascular", r"vein", r"arter", r"circulat"),
    "respiratory": (r"lung", r"breath", r"airway", r"respirat", r"pulmon", r"\bnose", r"nasal"),
    "gastrointestinal": (r"stomach", r"bowel", r"\bgut\b", r"digest", r"gastr", r"intestin", r"\brect",
                         r"\banal\b", r"esophag"),
    "neurological": (r"nerv", r"neur", r"brain"),
    "musculoskeletal": (r"muscl", r"\bbone", r"joint", r"skelet"),
    "dermatological": (r"skin", r"derm", r"\bhair", r"\bnail"),
    "urinary": (r"urin", r"bladder", r"kidney", r"renal", r"\bpee"),
    "reproductive": (r"reproduct", r"genital", r"vagin", r"menstru", r"period", r"testic", r"scrot",
                     r"\buter", r"ovar", r"penis", r"sexual"),
    "ophthalmological": (r"\beye", r"vision", r"visual", r"sight", r"ocul", r"blind"),
    "endocrine": (r"hormon", r"gland", r"thyroid", r"endocrin", r"diabet", r"insulin"),
    "psychiatric": (r"mental", r"\bmind", r"psych"),
}

# category -> symptoms (lower case, as they read in mid-sentence). Each checked to belong to one
# category only; see SOURCES_symptoms_diseases.md for the ones left out and why.
SYMPTOMS = {
    "cardiovascular": [
        "exertional chest pain",  # angina; plain "chest pain" is also pleuritic/GI/MSK
        "palpitations",  # awareness of the heartbeat; "racing"/"irregular heartbeat" dropped as overlaps
        "slow heartbeat",
        "paroxysmal nocturnal dyspnea",  # specific to left heart failure (orthopnea is not: COPD)
        "intermittent claudication",  # peripheral arterial disease
        "varicose veins",
        "fainting during exercise",  # exertional syncope: aortic stenosis, HCM, arrhythmia
    ],
    "respiratory": [
        "chronic cough",
        "wheezing",
        "coughing up blood",
        "sputum production",
        "pleuritic chest pain",
        "nasal congestion",  # upper respiratory tract
        "runny nose",
        "sneezing",
    ],
    "gastrointestinal": [
        "heartburn",
        "diarrhea",
        "constipation",
        "vomiting",
        "vomiting blood",
        "bloating",
        "difficulty swallowing",
        "rectal bleeding",
        "black tarry stools",
        "excessive flatulence",
    ],
    "neurological": [
        "headache",
        "seizures",
        "numbness",
        "tingling",
        "tremor",
        "slurred speech",
        "facial drooping",
        "one-sided weakness",
        "loss of coordination",
        "difficulty finding words",  # aphasia (R47.0); memory loss dropped (dementia: neurology or psychiatry)
    ],
    "musculoskeletal": [
        "joint pain",
        "joint swelling",
        "morning stiffness",
        "lower back pain",
        "neck pain",
        "muscle pain",
        "knee pain",
        "hip pain",
        "limited range of motion",
    ],
    "dermatological": [
        "itching",
        "rash",
        "hives",
        "blisters",
        "hair loss",
        "scaly patches",
        "changing mole",
        "brittle nails",
        "dandruff",
    ],
    "urinary": [
        "burning when passing water",  # dysuria, lay wording without "urin-"
        "frequent urination",
        "urgent urination",
        "blood in the urine",
        "leaking urine",
        "nocturia",
        "cloudy urine",
        "foamy urine",
        "renal colic",
        "inability to urinate",
    ],
    "reproductive": [
        "vaginal discharge",
        "heavy menstrual bleeding",
        "painful periods",
        "bleeding between periods",
        "painful intercourse",
        "erectile dysfunction",
        "testicular pain",
        "scrotal swelling",
    ],
    "ophthalmological": [
        "red eye",
        "eye pain",
        "itchy eyes",
        "watery eyes",
        "gritty eyes",
        "blurred vision",
        "floaters",
        "halos around lights",
        "eye discharge",
    ],
    "endocrine": [
        "excessive thirst",  # polydipsia (R63.1): diabetes mellitus or insipidus, hypercalcemia
        "heat intolerance",  # hyperthyroidism
        "cold intolerance",  # hypothyroidism
        "goiter",  # E01-E04
        "increasing ring and shoe size",  # acromegaly
        "moon face",  # Cushing's syndrome
        "salt craving",  # Addison's disease
    ],
    "psychiatric": [
        "hearing voices",  # auditory hallucinations (R44.0)
        "low mood",
        "suicidal thoughts",
        "panic attacks",
        "excessive worrying",
        "compulsive hand washing",
        "flashbacks",
        "paranoid thoughts",
    ],
}

# template id -> text; {s} is the symptom. Neutral templates name it and ask nothing.
TEMPLATES = {
    "neutral": "The patient reports {s}.",
    "neutral2": "Presenting complaint: {s}.",
    "t0": "A patient complains of {s}. The problem most likely lies in the patient's",
    "t1": "A 45-year-old patient reports {s}. The doctor suspects a problem with the patient's",
}

# Patching pairs on t0: (clean symptom, corrupted symptom), across categories. Every symptom that has a
# partner is the clean side of one pair. Partners were chosen among the symptoms of other categories
# whose t0 prompt has the same number of tokens under both bundled tokenizers
# (`tools/concepts/check_pairs.py --candidates symptoms`), preferring a partner for which both bundled
# models prefer the clean answer (SOURCES_symptoms_diseases.md, "Patching pairs").
T0_PAIRS = [
    ("exertional chest pain", "blood in the urine"), ("palpitations", "flashbacks"),
    ("slow heartbeat", "eye discharge"), ("intermittent claudication", "burning when passing water"),
    ("varicose veins", "moon face"), ("fainting during exercise", "halos around lights"),
    ("chronic cough", "joint pain"), ("coughing up blood", "difficulty finding words"),
    ("pleuritic chest pain", "increasing ring and shoe size"), ("nasal congestion", "itchy eyes"),
    ("runny nose", "salt craving"), ("sneezing", "itching"), ("heartburn", "sneezing"),
    ("diarrhea", "itching"), ("constipation", "rash"), ("vomiting", "hives"),
    ("vomiting blood", "hearing voices"), ("bloating", "headache"), ("difficulty swallowing", "watery eyes"),
    ("rectal bleeding", "eye discharge"), ("black tarry stools", "limited range of motion"),
    ("excessive flatulence", "lower back pain"), ("headache", "bloating"), ("seizures", "blisters"),
    ("numbness", "heartburn"), ("tingling", "diarrhea"), ("tremor", "constipation"),
    ("slurred speech", "heavy menstrual bleeding"), ("facial drooping", "erectile dysfunction"),
    ("one-sided weakness", "black tarry stools"), ("loss of coordination", "bleeding between periods"),
    ("difficulty finding words", "coughing up blood"), ("joint pain", "chronic cough"),
    ("joint swelling", "frequent urination"), ("morning stiffness", "vaginal discharge"),
    ("lower back pain", "foamy urine"), ("neck pain", "urgent urination"), ("muscle pain", "painful periods"),
    ("knee pain", "painful intercourse"), ("hip pain", "red eye"),
    ("limited range of motion", "black tarry stools"), ("itching", "diarrhea"), ("rash", "constipation"),
    ("hives", "vomiting"), ("blisters", "seizures"), ("hair loss", "varicose veins"),
    ("changing mole", "goiter"), ("brittle nails", "vomiting blood"),
    ("burning when passing water", "intermittent claudication"), ("frequent urination", "joint swelling"),
    ("urgent urination", "neck pain"), ("blood in the urine", "exertional chest pain"),
    ("leaking urine", "eye pain"), ("nocturia", "blurred vision"), ("cloudy urine", "morning stiffness"),
    ("foamy urine", "lower back pain"), ("renal colic", "muscle pain"),
    ("vaginal discharge", "morning stiffness"), ("heavy menstrual bleeding", "slurred speech"),
    ("painful periods", "muscle pain"), ("bleeding between periods", "loss of coordination"),
    ("painful intercourse", "knee pain"), ("erectile dysfunction", "gritty eyes"),
    ("testicular pain", "cold intolerance"), ("scrotal swelling", "fainting during exercise"),
    ("red eye", "hip pain"), ("eye pain", "leaking urine"), ("itchy eyes", "nasal congestion"),
    ("watery eyes", "joint pain"), ("gritty eyes", "erectile dysfunction"), ("blurred vision", "nocturia"),
    ("floaters", "heat intolerance"), ("halos around lights", "fainting during exercise"),
    ("eye discharge", "slow heartbeat"), ("excessive thirst", "knee pain"), ("heat intolerance", "floaters"),
    ("cold intolerance", "testicular pain"), ("goiter", "cloudy urine"),
    ("increasing ring and shoe size", "pleuritic chest pain"), ("moon face", "renal colic"),
    ("salt craving", "runny nose"), ("hearing voices", "hair loss"), ("low mood", "changing mole"),
    ("suicidal thoughts", "excessive thirst"), ("panic attacks", "itchy eyes"),
    ("excessive worrying", "brittle nails"), ("compulsive hand washing", "excessive flatulence"),
    ("flashbacks", "palpitations"), ("paranoid thoughts", "facial drooping"),
]
PAIRS = {"t0": dict(T0_PAIRS)}


def prompt(t: str, s: str) -> tuple[str, str]:
    """The prompt text and the span naming the symptom in it."""
    return TEMPLATES[t].format(s=s), s


def slug(s: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in s.lower()).strip("_")


def render(c: str, s: str, t: str) -> tuple[str, str, str | None, str | None]:
    """Prompt, span, answer and pair answer of symptom s (category c) on template t."""
    p, span = prompt(t, s)
    if common.is_neutral(t):
        return p, span, None, None
    return p, span, CATEGORIES[c][0], CATEGORIES[c][1]


def build() -> list[dict]:
    return common.build_category_items(DOMAIN, SYMPTOMS, CATEGORIES, TEMPLATES, PAIRS, slug, render, CUES)


def check(items: list[dict]) -> None:
    common.check_category_set(items, DOMAIN, SYMPTOMS, CATEGORIES, TEMPLATES, PAIRS, clean_is_answer=False,
                              noun="symptom", min_per_category=7, min_pairs=80)
    assert len(PAIRS["t0"]) == len(T0_PAIRS), "a symptom is the clean side of two pairs"
    firsts = [a[1] for a in CATEGORIES.values()]
    assert len(set(firsts)) == len(firsts) and all(len(f.split()) == 1 for f in firsts), firsts
    for t, text in TEMPLATES.items():  # no template names a category
        assert not any(common.has_cue(text, CUES[c]) for c in CUES), t


if __name__ == "__main__":
    items = build()
    check(items)
    common.write_category_set(items, common.output_path(DOMAIN), SYMPTOMS, "symptoms")
