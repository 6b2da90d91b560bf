"""Builds src/medmap/concepts/data/diseases.jsonl: diseases labelled by the medical specialty that treats them.

Design (details and references in src/medmap/concepts/data/SOURCES_symptoms_diseases.md):
- Categories are medical specialties. A disease is kept only when one specialty clearly owns it: its
  ICD-10 chapter matches that specialty and the internal-medicine textbooks (Harrison's, Oxford
  Handbook of Clinical Medicine; Rook's for the skin, DSM-5 for psychiatry) treat it there. Diseases
  shared between specialties are left out on purpose: pneumonia and tuberculosis (pulmonology vs
  infectious disease), leukemia, lymphoma and myeloma (hematology vs oncology), melanoma (dermatology vs
  oncology), lupus nephritis, endocarditis, osteoporosis, dementia, stroke, kidney stones, sleep apnea...
- Names use US spelling (hematology, anemia, esophagus), the spelling most of a small model's training
  text uses.
- Three phrasings; t1 embeds the disease in a patient description. t0/t1 answer with the specialty
  (" cardiology"), t2 with its doctors in the plural (" cardiologists"), which needs no article
  ("a"/"an" would give the answer away).
- Patching pairs (template t2) swap only the disease for one of another specialty whose prompt has the
  same number of SmolLM2 tokens; the pair answers have distinct first tokens.
"""

import os
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script or imported
import _common as common  # noqa: E402

DOMAIN = "diseases"
OUT = common.out_path(DOMAIN)

# category label -> (specialty answer, specialists answer, short source)
CATEGORIES = {
    "cardiology": (" cardiology", " cardiologists",
                   "ICD-10 ch. IX (I20-I50); Harrison's cardiovascular disorders"),
    "pulmonology": (" pulmonology", " pulmonologists",
                    "ICD-10 ch. X (J40-J93); Harrison's respiratory disorders"),
    "gastroenterology": (" gastroenterology", " gastroenterologists",
                         "ICD-10 ch. XI (K20-K90); Harrison's gastrointestinal disorders"),
    "neurology": (" neurology", " neurologists",
                  "ICD-10 ch. VI (G12-G70); Harrison's neurologic disorders"),
    "endocrinology": (" endocrinology", " endocrinologists",
                      "ICD-10 ch. IV (E03-E27); Harrison's endocrinology"),
    "nephrology": (" nephrology", " nephrologists",
                   "ICD-10 ch. XIV (N00-N25), Q61; Harrison's kidney disorders"),
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
        "coronary artery disease",
    ],
    "pulmonology": [
        "asthma",
        "COPD",
        "emphysema",
        "chronic bronchitis",
        "idiopathic pulmonary fibrosis",
        "bronchiectasis",
        "pneumothorax",
        "asbestosis",
        "silicosis",
        "hypersensitivity pneumonitis",
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
        "hypothyroidism",
        "Graves' disease",
        "Hashimoto's thyroiditis",
        "Cushing's syndrome",
        "Addison's disease",
        "acromegaly",
        "primary hyperparathyroidism",
        "hypopituitarism",
    ],
    "nephrology": [
        "chronic kidney disease",
        "acute kidney injury",
        "nephrotic syndrome",
        "glomerulonephritis",
        "IgA nephropathy",
        "polycystic kidney disease",
        "minimal change disease",
        "membranous nephropathy",
        "focal segmental glomerulosclerosis",
        "renal tubular acidosis",
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
        "major depressive disorder",
        "generalized anxiety disorder",
        "obsessive-compulsive disorder",
        "post-traumatic stress disorder",
        "anorexia nervosa",
        "bulimia nervosa",
        "panic disorder",
        "borderline personality disorder",
    ],
}

# template -> (text, which answer: 0 = specialty, 1 = specialists); {d} is the disease.
TEMPLATES = {
    "t0": ("The medical specialty that treats {d} is", 0),
    "t1": ("A 52-year-old patient has just been diagnosed with {d}. The medical specialty that manages "
           "this condition is", 0),
    "t2": ("Doctors who specialize in treating {d} are called", 1),
}
PAIR_TEMPLATE = "t2"

# Patching pairs on template t2, chosen so that the clean and the corrupted prompt have the same
# number of SmolLM2 tokens (checked with its tokenizer when the table was written). Swaps go both ways
# for SWAPS, one way (clean -> corrupted) for ONE_WAY, always across categories.
SWAPS = [
    ("asthma", "epilepsy"), ("angina", "migraine"), ("psoriasis", "gout"), ("malaria", "schizophrenia"),
    ("COPD", "hypothyroidism"), ("cholera", "mesothelioma"),
    ("myocardial infarction", "panic disorder"), ("heart failure", "breast cancer"),
    ("atrial fibrillation", "bipolar disorder"), ("aortic stenosis", "stomach cancer"), ("myocarditis", "rosacea"),
    ("pericarditis", "hemophilia"), ("atopic dermatitis", "typhoid fever"), ("celiac disease", "Lyme disease"),
    ("microscopic colitis", "multiple sclerosis"), ("HIV infection", "chronic bronchitis"),
    ("dengue fever", "glioblastoma"), ("cluster headache", "colorectal cancer"),
    ("essential tremor", "reactive arthritis"), ("lung cancer", "silicosis"), ("ovarian cancer", "anorexia nervosa"),
    ("pancreatic cancer", "rheumatoid arthritis"), ("bulimia nervosa", "systemic sclerosis"),
    ("Crohn's disease", "Parkinson's disease"), ("Cushing's syndrome", "irritable bowel syndrome"),
    ("Addison's disease", "chronic kidney disease"), ("Graves' disease", "Ebola virus disease"),
    ("coronary artery disease", "minimal change disease"),
    ("hypertrophic cardiomyopathy", "generalized anxiety disorder"), ("acne vulgaris", "achalasia"),
    ("lichen planus", "brucellosis"), ("vitiligo", "emphysema"), ("Barrett's esophagus", "major depressive disorder"),
    ("ulcerative colitis", "acute kidney injury"), ("aplastic anemia", "asbestosis"),
    ("sickle cell disease", "borderline personality disorder"), ("nephrotic syndrome", "pseudogout"),
    ("mitral regurgitation", "alopecia areata"), ("acromegaly", "osteosarcoma"),
    ("gastroesophageal reflux disease", "polycystic kidney disease"), ("gastroparesis", "bronchiectasis"),
    ("G6PD deficiency", "renal tubular acidosis"), ("autoimmune hemolytic anemia", "idiopathic pulmonary fibrosis"),
    ("von Willebrand disease", "hypersensitivity pneumonitis"), ("schistosomiasis", "pneumothorax"),
    ("Ewing sarcoma", "psoriatic arthritis"), ("type 2 diabetes", "peptic ulcer disease"),
    ("type 1 diabetes", "thalassemia"), ("Hashimoto's thyroiditis", "trigeminal neuralgia"),
    ("primary hyperparathyroidism", "post-traumatic stress disorder"),
    ("immune thrombocytopenia", "ankylosing spondylitis"), ("IgA nephropathy", "myasthenia gravis"),
    ("glomerulonephritis", "obsessive-compulsive disorder"),
    ("amyotrophic lateral sclerosis", "systemic lupus erythematosus"),
    ("seborrheic dermatitis", "hypopituitarism"), ("hereditary spherocytosis", "membranous nephropathy"),
    ("bullous pemphigoid", "focal segmental glomerulosclerosis"), ("pemphigus vulgaris", "Guillain-Barré syndrome"),
]
ONE_WAY = [
    ("rabies", "psoriasis"), ("polymyalgia rheumatica", "myasthenia gravis"),
    ("Sjögren's syndrome", "seborrheic dermatitis"),
]
PAIRS = common.pair_map(SWAPS, ONE_WAY)


def prompt(t: str, d: str) -> str:
    return TEMPLATES[t][0].format(d=d)


def slug(d: str) -> str:
    """ASCII id part: "Sjögren's syndrome" -> "sjogrens_syndrome"."""
    plain = unicodedata.normalize("NFKD", d.lower().replace("'", "")).encode("ascii", "ignore").decode()
    return "_".join(filter(None, "".join(ch if ch.isalnum() else "_" for ch in plain).split("_")))


def render(c: str, d: str, t: str) -> tuple[str, str, str, str]:
    """Prompt, span, answer and pair answer of disease d (category c) on template t."""
    answer = CATEGORIES[c][TEMPLATES[t][1]]
    return prompt(t, d), d, answer, answer


def build() -> list[dict]:
    return common.build_category_items(DOMAIN, DISEASES, CATEGORIES, TEMPLATES, PAIR_TEMPLATE, PAIRS, slug,
                                       render)


def check(items: list[dict]) -> None:
    common.check_category_set(items, DOMAIN, DISEASES, CATEGORIES, TEMPLATES, SWAPS, ONE_WAY,
                               clean_is_answer=True, noun="disease")


if __name__ == "__main__":
    items = build()
    check(items)
    common.write_category_set(items, OUT, DISEASES, "diseases")
