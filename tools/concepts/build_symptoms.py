"""Builds src/medmap/concepts/data/symptoms.jsonl: symptoms labelled by the organ system they concern.

Design (details and references in src/medmap/concepts/data/SOURCES_symptoms_diseases.md):
- Categories are organ systems of the body (anatomy/physiology textbooks), cross-checked against the
  symptom blocks of ICD-10 chapter XVIII and the systems review of Macleod's Clinical Examination /
  the Oxford Handbook of Clinical Medicine. A symptom is kept only when its organ system is
  unambiguous; symptoms that belong to two systems (breathlessness, ankle swelling, syncope,
  jaundice, muscle cramps, sore throat, polyuria...) are left out on purpose.
- No psychiatric or endocrine category: psychiatric symptoms have no organ system to name, and
  endocrine symptoms show in other organs (thirst, sweating, weight change), so both would be
  ambiguous.
- Names use US spelling and lay wording a small language model has seen often. Concept names avoid
  the answer word (e.g. "itching", not "itchy skin"), so the answer cannot be copied from the prompt.
- Three phrasings; t1 embeds the symptom in a patient description. The answer is the organ system
  as its most common English name (" digestive system", " nervous system", " skin", ...).
- Patching pairs (template t2) swap only the symptom for one of another category whose prompt has
  the same number of SmolLM2 tokens; the pair answers are single words with distinct first tokens.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script or imported
import _common as common  # noqa: E402

DOMAIN = "symptoms"
OUT = common.out_path(DOMAIN)

# category label -> (answer continuation, single-word answer for patching pairs, short source)
CATEGORIES = {
    "cardiovascular": (" cardiovascular system", " cardiovascular",
                       "ICD-10 R00-R09, ch. IX; Macleod's cardiovascular system"),
    "respiratory": (" respiratory system", " respiratory",
                    "ICD-10 R00-R09, ch. X; Macleod's respiratory system"),
    "gastrointestinal": (" digestive system", " digestive",
                         "ICD-10 R10-R19, ch. XI; Macleod's gastrointestinal system"),
    "neurological": (" nervous system", " nervous",
                     "ICD-10 R20, R25-R29, R41, R47, R51, R56; Macleod's nervous system"),
    "musculoskeletal": (" musculoskeletal system", " musculoskeletal",
                        "ICD-10 ch. XIII (M25, M54, M79); Macleod's musculoskeletal system"),
    "dermatological": (" skin", " skin",
                       "ICD-10 ch. XII (L), R21-R23; Macleod's skin, hair and nails"),
    "urinary": (" urinary system", " urinary",
                "ICD-10 R30-R39, R80-R82, N23; Macleod's renal system"),
    "reproductive": (" reproductive system", " reproductive",
                     "ICD-10 N40-N51, N80-N98; Macleod's reproductive system"),
    "ophthalmological": (" visual system", " visual",
                         "ICD-10 ch. VII (H00-H59); Macleod's eye"),
}

# category -> symptoms (lower case, as they read in mid-sentence). Each checked to belong to one
# organ system only; see SOURCES_symptoms_diseases.md for the ones left out and why.
SYMPTOMS = {
    "cardiovascular": [
        "exertional chest pain",  # angina; plain "chest pain" is also pleuritic/GI/MSK
        "palpitations",
        "irregular heartbeat",
        "racing heartbeat",
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
        "stridor",
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
        "memory loss",
        "slurred speech",
        "facial drooping",
        "one-sided weakness",
        "loss of coordination",
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
        "painful urination",
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
        "missed periods",
        "irregular periods",
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
        "dry eyes",
        "blurred vision",
        "eye floaters",
        "eye discharge",
        "gritty eyes",
    ],
}

# template -> text; {s} is the symptom (capitalised where it starts the sentence).
TEMPLATES = {
    "t0": "{S} is a symptom that mainly concerns the organ system called the",
    "t1": "A 45-year-old patient reports {s}. This symptom points to the organ system called the",
    "t2": "A patient complains of {s}. The organ system involved is the",
}
PAIR_TEMPLATE = "t2"

# Patching pairs on template t2, chosen so that the clean and the corrupted prompt have the same
# number of SmolLM2 tokens (checked with its tokenizer when the table was written). Swaps go both ways
# for SWAPS, one way (clean -> corrupted) for ONE_WAY, always across categories.
SWAPS = [
    ("wheezing", "heartburn"), ("sneezing", "itching"), ("rash", "headache"), ("hives", "seizures"),
    ("blisters", "tremor"), ("bloating", "numbness"), ("constipation", "tingling"),
    ("palpitations", "nasal congestion"), ("irregular heartbeat", "irregular periods"),
    ("racing heartbeat", "runny nose"), ("slow heartbeat", "memory loss"), ("varicose veins", "brittle nails"),
    ("joint pain", "eye pain"), ("knee pain", "testicular pain"), ("hip pain", "chronic cough"),
    ("joint swelling", "hair loss"), ("muscle pain", "dry eyes"), ("neck pain", "rectal bleeding"),
    ("morning stiffness", "blurred vision"), ("painful periods", "painful urination"),
    ("missed periods", "frequent urination"), ("vaginal discharge", "eye discharge"),
    ("painful intercourse", "changing mole"), ("itchy eyes", "scaly patches"), ("red eye", "difficulty swallowing"),
    ("cloudy urine", "vomiting blood"), ("leaking urine", "watery eyes"), ("stridor", "dandruff"),
    ("coughing up blood", "slurred speech"), ("lower back pain", "gritty eyes"), ("facial drooping", "eye floaters"),
    ("loss of coordination", "heavy menstrual bleeding"), ("erectile dysfunction", "excessive flatulence"),
    ("exertional chest pain", "sputum production"), ("fainting during exercise", "one-sided weakness"),
    ("intermittent claudication", "black tarry stools"), ("limited range of motion", "blood in the urine"),
]
ONE_WAY = [
    ("diarrhea", "rash"), ("vomiting", "headache"), ("nocturia", "memory loss"), ("renal colic", "neck pain"),
    ("urgent urination", "joint pain"), ("inability to urinate", "stridor"), ("foamy urine", "lower back pain"),
    ("scrotal swelling", "sputum production"),
]
PAIRS = common.pair_map(SWAPS, ONE_WAY)


def cap(s: str) -> str:
    return s[0].upper() + s[1:]


def prompt(t: str, s: str) -> tuple[str, str]:
    """The prompt text and the span naming the symptom in it."""
    text = TEMPLATES[t].format(s=s, S=cap(s))
    return text, (cap(s) if t == "t0" else s)


def slug(s: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in s.lower()).strip("_")


def render(c: str, s: str, t: str) -> tuple[str, str, str, str]:
    """Prompt, span, answer and pair answer of symptom s (category c) on template t."""
    p, span = prompt(t, s)
    return p, span, CATEGORIES[c][0], CATEGORIES[c][1]


def build() -> list[dict]:
    return common.build_category_items(DOMAIN, SYMPTOMS, CATEGORIES, TEMPLATES, PAIR_TEMPLATE, PAIRS, slug,
                                       render)


def check(items: list[dict]) -> None:
    common.check_category_set(items, DOMAIN, SYMPTOMS, CATEGORIES, TEMPLATES, SWAPS, ONE_WAY,
                               clean_is_answer=False, noun="symptom")


if __name__ == "__main__":
    items = build()
    check(items)
    common.write_category_set(items, OUT, SYMPTOMS, "symptoms")
