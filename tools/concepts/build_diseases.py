"""Builds src/medmap/concepts/data/diseases.jsonl: diseases labelled by the medical specialty that treats them.

Design (details, references and every judgement call in src/medmap/concepts/data/SOURCES_symptoms_diseases.md):
- Categories are medical specialties. A disease is kept only when one specialty clearly owns it: its
  ICD-10 chapter matches that specialty and the internal-medicine textbooks (Harrison's, Oxford
  Handbook of Clinical Medicine; Rook's for the skin, DSM-5 for psychiatry) treat it there. Diseases
  shared between specialties are left out on purpose, and so are umbrella terms whose subtypes are in
  the set (COPD stays, emphysema and chronic bronchitis go; IgA nephropathy and the other
  glomerulopathies stay, glomerulonephritis and nephrotic syndrome go; coronary artery disease goes
  beside angina and myocardial infarction; hypothyroidism goes beside Hashimoto's thyroiditis).
- Names use US spelling (hematology, anemia, esophagus), the spelling most of a small model's training
  text uses. Where a disease's standard name contains a word that names its specialty ("cancer",
  "-oma", "disorder", "kidney", "cardi-"...; CUES below) the item has `labels.cue = true`; no template
  contains such a word.
- Templates. Neutral (`neutral`, `neutral2`): the diagnosis, nothing asked. Task: t0/t1 answer with
  the specialty (" cardiology"), t2 with its doctors in the plural (" cardiologists"), which needs no
  article ("a"/"an" would give the answer away).
- Patching pairs (template t2) swap only the disease for one of another specialty whose prompt has the
  same number of tokens under the SmolLM2 and the Gemma 3 tokenizers (tools/concepts/check_pairs.py);
  the pair answers have distinct first tokens.

Standard library only; output is byte-stable and written atomically.
Run:  python tools/concepts/build_diseases.py [--out-dir DIR]
"""

import os
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script or imported
import _common as common  # noqa: E402

DOMAIN = "diseases"

# category label -> (specialty answer, specialists answer, short source)
CATEGORIES = {
    "cardiology": (" cardiology", " cardiologists",
                   "ICD-10 ch. IX (I20-I51); Harrison's cardiovascular disorders"),
    "pulmonology": (" pulmonology", " pulmonologists",
                    "ICD-10 ch. X (J44-J93); Harrison's respiratory disorders"),
    "gastroenterology": (" gastroenterology", " gastroenterologists",
                         "ICD-10 ch. XI (K20-K90); Harrison's gastrointestinal disorders"),
    "neurology": (" neurology", " neurologists",
                  "ICD-10 ch. VI (G12-G70); Harrison's neurologic disorders"),
    "endocrinology": (" endocrinology", " endocrinologists",
                      "ICD-10 ch. IV (E05-E27); Harrison's endocrinology"),
    "nephrology": (" nephrology", " nephrologists",
                   "ICD-10 ch. XIV (N02-N25), Q61, Q87.8; Harrison's kidney disorders"),
    "infectious disease": (" infectious disease", " infectious disease specialists",
                           "ICD-10 ch. I (A00-B99); Harrison's infectious diseases"),
    "rheumatology": (" rheumatology", " rheumatologists",
                     "ICD-10 ch. XIII (M02-M45), L40.5; Harrison's rheumatology"),
    "dermatology": (" dermatology", " dermatologists",
                    "ICD-10 ch. XII (L10-L80); Rook's Textbook of Dermatology"),
    "hematology": (" hematology", " hematologists",
                   "ICD-10 ch. III (D55-D69), M31.1; Harrison's hematology"),
    "oncology": (" oncology", " oncologists",
                 "ICD-10 ch. II (C16-C71); Harrison's oncology"),
    "psychiatry": (" psychiatry", " psychiatrists",
                   "ICD-10 ch. V (F20-F60); DSM-5"),
}

# category -> diseases, as they read in mid-sentence. Each checked to belong to one specialty only;
# see SOURCES_symptoms_diseases.md for the ones left out and why.
DISEASES = {
    "cardiology": [
        "myocardial infarction",
        "angina",
        "heart failure",
        "atrial fibrillation",
        "aortic stenosis",
        "hypertrophic cardiomyopathy",
        "pericarditis",
        "myocarditis",
        "mitral regurgitation",
        "long QT syndrome",  # I45.8; replaces coronary artery disease (the umbrella of angina and MI)
    ],
    "pulmonology": [
        "asthma",
        "COPD",  # emphysema and chronic bronchitis left out: COPD is their umbrella
        "idiopathic pulmonary fibrosis",
        "bronchiectasis",
        "pneumothorax",
        "asbestosis",
        "silicosis",
        "hypersensitivity pneumonitis",
        "byssinosis",  # J66.0
        "coal workers' pneumoconiosis",  # J60
    ],
    "gastroenterology": [
        "Crohn's disease",
        "ulcerative colitis",
        "celiac disease",
        "gastroesophageal reflux disease",
        "peptic ulcer disease",
        "irritable bowel syndrome",
        "Barrett's esophagus",
        "achalasia",
        "gastroparesis",
        "microscopic colitis",
    ],
    "neurology": [
        "epilepsy",
        "migraine",
        "multiple sclerosis",
        "Parkinson's disease",
        "myasthenia gravis",
        "amyotrophic lateral sclerosis",
        "Guillain-Barré syndrome",
        "trigeminal neuralgia",
        "essential tremor",
        "cluster headache",
    ],
    "endocrinology": [
        "type 1 diabetes",
        "type 2 diabetes",
        "Graves' disease",
        "Hashimoto's thyroiditis",
        "Cushing's syndrome",
        "Addison's disease",
        "acromegaly",
        "primary hyperparathyroidism",
        "hypopituitarism",
        "primary aldosteronism",  # E26.0; replaces hypothyroidism (Hashimoto's is its commonest cause)
    ],
    "nephrology": [
        "chronic kidney disease",
        "acute kidney injury",
        "IgA nephropathy",  # glomerulonephritis and nephrotic syndrome left out: umbrellas of these
        "polycystic kidney disease",
        "minimal change disease",
        "membranous nephropathy",
        "focal segmental glomerulosclerosis",
        "renal tubular acidosis",
        "Alport syndrome",  # Q87.8 with N07 (hereditary nephropathy)
        "analgesic nephropathy",  # N14.0
    ],
    "infectious disease": [
        "HIV infection",
        "malaria",
        "dengue fever",
        "typhoid fever",
        "cholera",
        "Ebola virus disease",
        "rabies",
        "Lyme disease",
        "brucellosis",
        "schistosomiasis",
    ],
    "rheumatology": [
        "rheumatoid arthritis",
        "systemic lupus erythematosus",
        "gout",
        "ankylosing spondylitis",
        "psoriatic arthritis",
        "Sjögren's syndrome",
        "systemic sclerosis",
        "polymyalgia rheumatica",
        "reactive arthritis",
        "pseudogout",
    ],
    "dermatology": [
        "psoriasis",
        "atopic dermatitis",
        "acne vulgaris",
        "rosacea",
        "vitiligo",
        "seborrheic dermatitis",
        "alopecia areata",
        "pemphigus vulgaris",
        "bullous pemphigoid",
        "lichen planus",
    ],
    "hematology": [
        "sickle cell disease",
        "hemophilia",
        "thalassemia",
        "von Willebrand disease",
        "immune thrombocytopenia",
        "aplastic anemia",
        "hereditary spherocytosis",
        "G6PD deficiency",
        "thrombotic thrombocytopenic purpura",
        "autoimmune hemolytic anemia",
    ],
    "oncology": [
        "lung cancer",
        "breast cancer",
        "colorectal cancer",
        "pancreatic cancer",
        "ovarian cancer",
        "stomach cancer",
        "glioblastoma",
        "osteosarcoma",
        "mesothelioma",
        "Ewing sarcoma",
    ],
    "psychiatry": [
        "schizophrenia",
        "bipolar disorder",
        "clinical depression",  # major depressive disorder, in the wording without "disorder"
        "generalized anxiety disorder",
        "obsessive-compulsive disorder",
        "post-traumatic stress disorder",
        "anorexia nervosa",
        "bulimia nervosa",
        "agoraphobia",  # F40.0; replaces panic disorder (one "disorder" fewer)
        "borderline personality disorder",
    ],
}

# Words that name a specialty (its organ, its own name, its usual suffix): regular expressions on
# lower case. A disease whose name contains one of its own specialty's words has labels.cue = true.
CUES = {
    "cardiology": (r"heart", r"cardi", r"coronar", r"\batri", r"ventric", r"aort", r"mitral", r"valv"),
    "pulmonology": (r"lung", r"pulmon", r"pneum", r"bronch", r"pleur", r"respirat"),
    "gastroenterology": (r"gastr", r"bowel", r"colon", r"colitis", r"esophag", r"intestin", r"stomach",
                         r"enter"),
    "neurology": (r"neur", r"nerv", r"brain", r"cerebr", r"mening"),
    "endocrinology": (r"endocrin", r"hormon", r"gland", r"thyroid", r"diabet", r"pituitar", r"adrenal"),
    "nephrology": (r"kidney", r"renal", r"nephr", r"glomerul"),
    "infectious disease": (r"infect", r"virus", r"viral", r"bacter"),
    "rheumatology": (r"rheum", r"arthr", r"joint"),
    "dermatology": (r"derm", r"skin", r"cutan"),
    "hematology": (r"hem", r"anem", r"emia\b", r"blood", r"thrombocyt"),
    "oncology": (r"cancer", r"carcinom", r"oma\b", r"tumou?r", r"malignan"),
    "psychiatry": (r"disorder", r"psych", r"mental"),
}

# template -> (text, which answer: 0 = specialty, 1 = specialists, None = neutral); {d} is the disease.
TEMPLATES = {
    "neutral": ("The patient has {d}.", None),
    "neutral2": ("Diagnosis: {d}.", None),
    "t0": ("The medical specialty that treats {d} is", 0),
    "t1": ("A 52-year-old patient has just been diagnosed with {d}. The medical specialty that manages "
           "this condition is", 0),
    "t2": ("Doctors who specialize in treating {d} are called", 1),
}

# Patching pairs on t2: (clean disease, corrupted disease), across specialties. Every disease that has
# a partner is the clean side of one pair. Partners were chosen among the diseases of other specialties
# whose t2 prompt has the same number of tokens under both bundled tokenizers
# (`tools/concepts/check_pairs.py --candidates diseases --template t2`), preferring a partner for which
# both bundled models prefer the clean answer (SOURCES_symptoms_diseases.md, "Patching pairs").
T2_PAIRS = [
    ("myocardial infarction", "rheumatoid arthritis"), ("angina", "rabies"), ("heart failure", "rosacea"),
    ("atrial fibrillation", "systemic sclerosis"), ("aortic stenosis", "bipolar disorder"),
    ("hypertrophic cardiomyopathy", "minimal change disease"), ("pericarditis", "clinical depression"),
    ("myocarditis", "lung cancer"), ("mitral regurgitation", "alopecia areata"),
    ("long QT syndrome", "autoimmune hemolytic anemia"), ("asthma", "mesothelioma"), ("COPD", "epilepsy"),
    ("idiopathic pulmonary fibrosis", "renal tubular acidosis"), ("bronchiectasis", "Ewing sarcoma"),
    ("pneumothorax", "mitral regurgitation"), ("asbestosis", "sickle cell disease"),
    ("silicosis", "hemophilia"), ("hypersensitivity pneumonitis", "gastroesophageal reflux disease"),
    ("byssinosis", "agoraphobia"), ("coal workers' pneumoconiosis", "Guillain-Barré syndrome"),
    ("Crohn's disease", "Parkinson's disease"), ("ulcerative colitis", "acne vulgaris"),
    ("celiac disease", "anorexia nervosa"),
    ("gastroesophageal reflux disease", "hypersensitivity pneumonitis"),
    ("peptic ulcer disease", "G6PD deficiency"), ("irritable bowel syndrome", "chronic kidney disease"),
    ("Barrett's esophagus", "Cushing's syndrome"), ("achalasia", "Ebola virus disease"),
    ("gastroparesis", "polycystic kidney disease"), ("microscopic colitis", "atrial fibrillation"),
    ("epilepsy", "COPD"), ("migraine", "malaria"), ("multiple sclerosis", "colorectal cancer"),
    ("Parkinson's disease", "Crohn's disease"), ("myasthenia gravis", "IgA nephropathy"),
    ("amyotrophic lateral sclerosis", "IgA nephropathy"),
    ("Guillain-Barré syndrome", "coal workers' pneumoconiosis"), ("trigeminal neuralgia", "IgA nephropathy"),
    ("essential tremor", "pancreatic cancer"), ("cluster headache", "ovarian cancer"),
    ("type 1 diabetes", "psoriatic arthritis"), ("type 2 diabetes", "von Willebrand disease"),
    ("Graves' disease", "asbestosis"), ("Hashimoto's thyroiditis", "obsessive-compulsive disorder"),
    ("Cushing's syndrome", "Barrett's esophagus"), ("Addison's disease", "Crohn's disease"),
    ("acromegaly", "schistosomiasis"), ("primary hyperparathyroidism", "post-traumatic stress disorder"),
    ("hypopituitarism", "seborrheic dermatitis"), ("primary aldosteronism", "seborrheic dermatitis"),
    ("chronic kidney disease", "generalized anxiety disorder"),
    ("acute kidney injury", "borderline personality disorder"),
    ("IgA nephropathy", "amyotrophic lateral sclerosis"), ("polycystic kidney disease", "gastroparesis"),
    ("minimal change disease", "hypertrophic cardiomyopathy"),
    ("renal tubular acidosis", "idiopathic pulmonary fibrosis"),
    ("Alport syndrome", "generalized anxiety disorder"),
    ("analgesic nephropathy", "systemic lupus erythematosus"), ("HIV infection", "stomach cancer"),
    ("malaria", "schizophrenia"), ("dengue fever", "breast cancer"),
    ("typhoid fever", "myocardial infarction"), ("cholera", "gout"), ("Ebola virus disease", "achalasia"),
    ("rabies", "angina"), ("Lyme disease", "heart failure"), ("brucellosis", "pseudogout"),
    ("schistosomiasis", "byssinosis"), ("rheumatoid arthritis", "myocardial infarction"),
    ("systemic lupus erythematosus", "analgesic nephropathy"), ("gout", "cholera"),
    ("psoriatic arthritis", "type 1 diabetes"), ("systemic sclerosis", "dengue fever"),
    ("polymyalgia rheumatica", "obsessive-compulsive disorder"), ("reactive arthritis", "breast cancer"),
    ("pseudogout", "brucellosis"), ("psoriasis", "asthma"), ("atopic dermatitis", "glioblastoma"),
    ("acne vulgaris", "ulcerative colitis"), ("rosacea", "heart failure"),
    ("vitiligo", "irritable bowel syndrome"), ("seborrheic dermatitis", "hypopituitarism"),
    ("alopecia areata", "mitral regurgitation"), ("bullous pemphigoid", "Guillain-Barré syndrome"),
    ("lichen planus", "acute kidney injury"), ("sickle cell disease", "vitiligo"), ("hemophilia", "silicosis"),
    ("von Willebrand disease", "type 2 diabetes"), ("immune thrombocytopenia", "analgesic nephropathy"),
    ("aplastic anemia", "lichen planus"), ("G6PD deficiency", "peptic ulcer disease"),
    ("autoimmune hemolytic anemia", "long QT syndrome"), ("lung cancer", "myocarditis"),
    ("breast cancer", "reactive arthritis"), ("colorectal cancer", "multiple sclerosis"),
    ("pancreatic cancer", "essential tremor"), ("ovarian cancer", "cluster headache"),
    ("stomach cancer", "HIV infection"), ("glioblastoma", "atopic dermatitis"),
    ("osteosarcoma", "pneumothorax"), ("mesothelioma", "asthma"), ("Ewing sarcoma", "bronchiectasis"),
    ("schizophrenia", "malaria"), ("bipolar disorder", "aortic stenosis"),
    ("clinical depression", "pericarditis"), ("generalized anxiety disorder", "Alport syndrome"),
    ("obsessive-compulsive disorder", "Hashimoto's thyroiditis"),
    ("post-traumatic stress disorder", "primary hyperparathyroidism"), ("anorexia nervosa", "celiac disease"),
    ("agoraphobia", "byssinosis"), ("borderline personality disorder", "acute kidney injury"),
]
PAIRS = {"t2": dict(T2_PAIRS)}


def prompt(t: str, d: str) -> str:
    return TEMPLATES[t][0].format(d=d)


def slug(d: str) -> str:
    """ASCII id part: "Sjögren's syndrome" -> "sjogrens_syndrome"."""
    plain = unicodedata.normalize("NFKD", d.lower().replace("'", "")).encode("ascii", "ignore").decode()
    return "_".join(filter(None, "".join(ch if ch.isalnum() else "_" for ch in plain).split("_")))


def render(c: str, d: str, t: str) -> tuple[str, str, str | None, str | None]:
    """Prompt, span, answer and pair answer of disease d (category c) on template t."""
    which = TEMPLATES[t][1]
    answer = None if which is None else CATEGORIES[c][which]
    return prompt(t, d), d, answer, answer


def build() -> list[dict]:
    return common.build_category_items(DOMAIN, DISEASES, CATEGORIES, TEMPLATES, PAIRS, slug, render, CUES)


def check(items: list[dict]) -> None:
    common.check_category_set(items, DOMAIN, DISEASES, CATEGORIES, TEMPLATES, PAIRS, clean_is_answer=True,
                              noun="disease", min_per_category=10, min_pairs=100)
    assert len(PAIRS["t2"]) == len(T2_PAIRS), "a disease is the clean side of two pairs"
    for t, (text, _) in TEMPLATES.items():  # no template names a specialty
        assert not any(common.has_cue(text, CUES[c]) for c in CUES), t


if __name__ == "__main__":
    items = build()
    check(items)
    common.write_category_set(items, common.output_path(DOMAIN), DISEASES, "diseases")
