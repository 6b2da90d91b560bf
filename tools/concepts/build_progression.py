#!/usr/bin/env python3
"""Build the disease-progression concept set (src/medmap/concepts/data/progression.jsonl).

Four chronic diseases, each described at 10 ordered stages (0 = healthy person of the same
age ... 9 = end stage), following the clinical staging system named in STAGES below:

    Alzheimer's disease      Reisberg FAST 1-7f (with the matching GDS 1-7)
    Parkinson's disease      modified Hoehn & Yahr 0, 1, 1.5, 2, 2.5, 3, 4, 5
    COPD                     GOLD 2024 spirometric grades 1-4 with ABE groups
    chronic kidney disease   KDIGO 2012/2024 GFR categories G1-G5, A1-A3, and G5D (dialysis)

Each stage has a clinician's vignette (used by templates t0 and t1) and a lay account by a
relative (template t2). Vignettes never name the stage, the staging system or a severity word:
the model has to infer the stage from the described state. The reference answer is a severity
word from a fixed vocabulary (none / mild / moderate / severe / end-stage), mapped from the
stage per disease in SEVERITY (documented in SOURCES_progression_drugs_dosage.md).

Standard library only; output is byte-stable across runs and written atomically.
Run:  python tools/concepts/build_progression.py
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script or imported
import _common as common  # noqa: E402

DOMAIN = "progression"
OUT_PATH = str(common.out_path(DOMAIN))

ANSWER_WORDS = ("none", "mild", "moderate", "severe", "end-stage")

# ---------------------------------------------------------------------------------------------
# Medical facts. Per disease: slug, label, the three prompt frames, the severity word of each
# stage, and the 10 stages as (staging reference, clinician's vignette, relative's account).
# Frames t0 and t1 take the clinician's vignette {v}; frame t2 takes the relative's account.
# ---------------------------------------------------------------------------------------------

DISEASES = [
    {
        "slug": "alzheimers",
        "label": "Alzheimer's disease",
        "system": "Reisberg Functional Assessment Staging (FAST) / Global Deterioration Scale (GDS)",
        "frames": {
            "t0": "In a study of Alzheimer's disease, a 76-year-old woman is assessed. {v} "
                  "The severity of her condition is best described as",
            "t1": "Memory clinic note (78-year-old man): {v} Overall severity:",
            "t2": "A son describes how his 80-year-old mother is doing. {v} "
                  "The severity of her condition is best described as",
        },
        # FAST 1 none; FAST 2-4 mild (GDS 2-4: very mild/mild decline, FAST 4 = mild AD);
        # FAST 5-6 moderate (moderate / moderately severe AD); FAST 7a-d severe; 7e-f end-stage.
        "severity": ["none", "mild", "mild", "mild", "moderate", "moderate", "moderate",
                     "severe", "severe", "end-stage"],
        "stages": [
            ("FAST 1 / GDS 1: normal adult, no decline",
             "No memory complaints; work, finances and household are managed independently, "
             "and cognitive testing is normal for age.",
             "She remembers appointments and names, handles her own money and chores, and "
             "nobody has noticed any change in her memory."),
            ("FAST 2 / GDS 2: subjective forgetfulness only",
             "Complains of forgetting names and misplacing objects, but cognitive testing and "
             "daily functioning are normal and others notice nothing.",
             "She says she forgets names and misplaces her keys more than before, but she copes "
             "with everything and nobody else has noticed."),
            ("FAST 3 / GDS 3: decline noticed in demanding settings (incipient / MCI)",
             "Co-workers notice declining performance in demanding tasks, and there was "
             "difficulty traveling to an unfamiliar place; simple daily life is unaffected.",
             "Her colleagues have noticed she struggles with complex work, and she got lost "
             "driving to a new town, though she manages fine at home."),
            ("FAST 4 / GDS 4: help needed with complex tasks (mild AD)",
             "Needs help managing finances, shopping and planning a meal for guests; memory of "
             "recent events is reduced; dresses and bathes without help.",
             "She can no longer manage her bills or plan a meal for visitors without help, and "
             "forgets recent events, but she still washes and dresses herself."),
            ("FAST 5 / GDS 5: help choosing clothing (moderate AD)",
             "Needs help choosing proper clothing for the day or season and cannot recall own "
             "address or telephone number; still eats and uses the toilet independently.",
             "Someone has to pick out suitable clothes for her each day and she cannot remember "
             "her own address, but she still eats and uses the toilet on her own."),
            ("FAST 6a-c / GDS 6: help with dressing, bathing, toileting (moderately severe AD)",
             "Puts clothes on incorrectly without help, needs assistance with bathing and with "
             "the mechanics of toileting; still continent.",
             "She puts her clothes on in the wrong order, has to be helped in the bath, and "
             "forgets to flush or wipe after using the toilet."),
            ("FAST 6d-e / GDS 6: urinary and fecal incontinence (moderately severe AD)",
             "Urinary and fecal incontinence; needs help with all personal care and at times "
             "does not recognize the spouse; still speaks in sentences.",
             "She is incontinent of urine and stool, needs help with all washing and dressing, "
             "and sometimes does not recognize her husband."),
            ("FAST 7a-b / GDS 7: speech limited to a few words (severe AD)",
             "Speech limited to a few words a day; totally dependent for washing, dressing and "
             "toileting, but still walks.",
             "She now says only one or two words a day and needs total care with washing, "
             "dressing and toileting, but can still walk."),
            ("FAST 7c-d / GDS 7: loss of walking and of sitting up (severe AD)",
             "No intelligible speech; cannot walk without assistance and cannot sit up without "
             "support; totally dependent.",
             "She no longer says any words, cannot walk, and has to be propped up to sit in "
             "a chair."),
            ("FAST 7e-f / GDS 7: cannot smile or hold up head (terminal AD)",
             "Bedbound and unable to smile or hold up the head; swallowing is impaired and "
             "total care is required.",
             "She is confined to bed, no longer smiles or holds up her head, has trouble "
             "swallowing and needs total care."),
        ],
    },
    {
        "slug": "parkinsons",
        "label": "Parkinson's disease",
        "system": "modified Hoehn and Yahr scale",
        "frames": {
            "t0": "In a study of Parkinson's disease, a 68-year-old man is examined. {v} "
                  "The severity of his condition is best described as",
            "t1": "Movement disorders clinic note (71-year-old woman): {v} Overall severity:",
            "t2": "A wife describes how her 70-year-old husband is doing. {v} "
                  "The severity of his condition is best described as",
        },
        # H&Y 0 none; 1-2 mild; 2.5-3 moderate; 4 severe; 5 end-stage (the common grouping of
        # early = H&Y 1-2, mid = 2.5-3, advanced = 4-5).
        "severity": ["none", "mild", "mild", "mild", "moderate", "moderate", "moderate",
                     "severe", "severe", "end-stage"],
        "stages": [
            ("H&Y 0: no signs of disease",
             "No tremor, stiffness or slowness of movement; handwriting, walking, posture and "
             "balance are normal for age.",
             "He moves quickly and easily, has no shaking, and walks and keeps his balance "
             "just as well as ever."),
            ("H&Y 1: unilateral involvement only",
             "Resting tremor and stiffness of the right hand only; the other side, posture and "
             "balance are normal, with no limitation of daily activities.",
             "He has a shake in his right hand and it feels stiff, but the other side is fine "
             "and he does everything as before."),
            ("H&Y 1.5: unilateral plus axial involvement",
             "Tremor and rigidity on the right side only, plus stiffness of the neck and trunk "
             "with a stooped posture; balance is normal.",
             "The shaking and stiffness affect only his right side, and his neck and back are "
             "stiff and stooped, but his balance is fine."),
            ("H&Y 2: bilateral involvement without impairment of balance",
             "Tremor, rigidity and slowness on both sides of the body; balance is normal and "
             "the pull test is negative.",
             "Both of his hands now shake and he is slower on both sides, but he keeps his "
             "balance well and has never fallen."),
            ("H&Y 2.5: bilateral disease with recovery on pull test",
             "Signs on both sides; on the pull test takes several steps backwards but recovers "
             "unaided; no falls.",
             "Both sides are affected, and when he is pulled backwards he staggers a few steps "
             "before catching himself, though he has not fallen."),
            ("H&Y 3: bilateral disease, postural instability, physically independent",
             "Signs on both sides with impaired balance: would fall on the pull test if not "
             "caught, and has had occasional falls, but lives independently.",
             "His balance has become unsteady and he has had a few falls, but he still washes, "
             "dresses and looks after himself without help."),
            ("H&Y 3 (later, interpolated): frequent falls and freezing, still independent",
             "Frequent falls and freezing of gait, with daily tasks done very slowly, but still "
             "physically independent and walking without an aid.",
             "He often freezes when he starts to walk and falls regularly, and everyday tasks "
             "take him ages, though he still manages them alone."),
            ("H&Y 4: marked disability, still able to walk or stand unassisted",
             "Needs help with dressing, bathing and getting out of a chair, but can still stand "
             "and walk short distances unassisted.",
             "He needs help to dress, wash and get out of a chair, but he can still stand and "
             "walk a short way on his own."),
            ("H&Y 4 (late, interpolated): walking limited to a few steps indoors",
             "Dependent on others for nearly all daily activities; can stand unaided but walks "
             "only a few steps indoors and never outdoors.",
             "He relies on his carers for almost everything and can only shuffle a few steps "
             "around the house on his own."),
            ("H&Y 5: wheelchair-bound or bedridden unless aided",
             "Confined to a wheelchair or bed unless aided; cannot stand or walk without help "
             "and needs total nursing care.",
             "He cannot stand or walk unless someone holds him, and he spends his days in a "
             "wheelchair or in bed."),
        ],
    },
    {
        "slug": "copd",
        "label": "COPD",
        "system": "GOLD 2024 report: spirometric grades 1-4 and ABE assessment groups",
        "frames": {
            "t0": "In a study of chronic obstructive pulmonary disease, a 66-year-old man is "
                  "assessed. {v} The severity of his condition is best described as",
            "t1": "Respiratory clinic note (64-year-old woman): {v} Overall severity:",
            "t2": "A daughter describes how her 70-year-old father is doing. {v} "
                  "The severity of his condition is best described as",
        },
        # Healthy none; GOLD 1 mild; GOLD 2 moderate; GOLD 3 and GOLD 4 without respiratory
        # failure severe ("very severe" in GOLD, folded into severe); GOLD 4 with chronic
        # respiratory failure on long-term oxygen end-stage.
        "severity": ["none", "mild", "mild", "moderate", "moderate", "moderate",
                     "severe", "severe", "severe", "end-stage"],
        "stages": [
            ("healthy: normal spirometry, no symptoms",
             "Post-bronchodilator FEV1/FVC 0.78 with FEV1 at 98% of predicted; no cough, no "
             "breathlessness except on strenuous exercise, and no chest infections.",
             "He walks briskly and climbs hills without getting out of breath, has no cough, "
             "and has not had a chest infection in years."),
            ("GOLD 1, group A: FEV1 >= 80%, few symptoms, no exacerbations",
             "Post-bronchodilator FEV1/FVC 0.66 with FEV1 at 86% of predicted; morning cough, "
             "breathless only on strenuous exercise; no exacerbations.",
             "He has a cough most mornings but only gets out of breath with heavy exertion, "
             "and he has never needed treatment for a chest flare-up."),
            ("GOLD 1, group A (more symptoms, interpolated): FEV1 >= 80%",
             "Post-bronchodilator FEV1/FVC 0.64 with FEV1 at 81% of predicted; daily cough with "
             "sputum, breathless when hurrying on level ground; no exacerbations.",
             "He coughs up phlegm every morning and gets out of breath when he hurries, but his "
             "breathing test is nearly normal and he has had no flare-ups."),
            ("GOLD 2, group A: FEV1 50-79%, few symptoms, no exacerbations",
             "Post-bronchodilator FEV1/FVC 0.61 with FEV1 at 70% of predicted; breathless "
             "walking up a slight hill; no exacerbations in the past year.",
             "His breathing test shows his lungs are working at about two thirds of normal; he "
             "gets out of breath going up a slight hill but has had no flare-ups."),
            ("GOLD 2, group B: FEV1 50-79%, more symptoms, no exacerbations",
             "Post-bronchodilator FEV1/FVC 0.58 with FEV1 at 60% of predicted; walks slower "
             "than people of the same age because of breathlessness; no exacerbations.",
             "His lungs are working at about 60% of normal, and he has to walk more slowly "
             "than his friends because he runs out of breath."),
            ("GOLD 2, group E: FEV1 50-79%, two or more moderate exacerbations",
             "Post-bronchodilator FEV1/FVC 0.55 with FEV1 at 54% of predicted; two "
             "exacerbations treated with oral steroids and antibiotics in the past year.",
             "His lungs are working at about half of normal, and twice this year he needed "
             "steroid tablets and antibiotics for a chest flare-up."),
            ("GOLD 3, group B: FEV1 30-49%, stops for breath after about 100 m",
             "Post-bronchodilator FEV1/FVC 0.48 with FEV1 at 42% of predicted; stops for breath "
             "after walking 100 meters on level ground.",
             "His lungs are working at well under half of normal, and he has to stop for "
             "breath after walking about a hundred meters."),
            ("GOLD 3, group E: FEV1 30-49%, exacerbation needing hospital admission",
             "Post-bronchodilator FEV1/FVC 0.42 with FEV1 at 34% of predicted; hospitalized "
             "for an exacerbation in the past year; stops for breath after 100 meters.",
             "His lungs work at a third of normal; he was in hospital with a flare-up this year "
             "and stops for breath after a short walk."),
            ("GOLD 4, group E: FEV1 < 30%, repeated hospital admissions",
             "Post-bronchodilator FEV1/FVC 0.36 with FEV1 at 26% of predicted; too breathless "
             "to leave the house or to dress without stopping; repeated hospital admissions.",
             "His lungs are working at about a quarter of normal; he is too breathless to leave "
             "the house and keeps being admitted to hospital."),
            ("GOLD 4, group E with chronic respiratory failure on long-term oxygen",
             "FEV1 at 19% of predicted with chronic hypercapnic respiratory failure on "
             "long-term oxygen; breathless at rest, housebound and losing weight.",
             "He is on oxygen day and night, is breathless even sitting still, has lost weight "
             "and can no longer leave his bed or chair."),
        ],
    },
    {
        "slug": "ckd",
        "label": "chronic kidney disease",
        "system": "KDIGO 2012 / 2024 CKD classification (GFR categories G1-G5, albuminuria "
                  "A1-A3, G5D on dialysis)",
        "frames": {
            "t0": "In a study of chronic kidney disease, a 58-year-old woman is assessed. {v} "
                  "The severity of her condition is best described as",
            "t1": "Nephrology clinic note (61-year-old man): {v} Overall severity:",
            "t2": "A husband describes how his 60-year-old wife is doing. {v} "
                  "The severity of her condition is best described as",
        },
        # Healthy none; G1-G2 (with albuminuria) mild; G3a-G3b moderate; G4 severe;
        # G5 and G5D (kidney failure) end-stage.
        "severity": ["none", "mild", "mild", "moderate", "moderate", "moderate",
                     "severe", "severe", "end-stage", "end-stage"],
        "stages": [
            ("healthy: normal eGFR, no albuminuria",
             "eGFR 95 mL/min/1.73 m2 with a urine albumin-to-creatinine ratio of 8 mg/g; "
             "urinalysis, blood pressure and kidney ultrasound are normal.",
             "Her blood and urine tests of kidney function have always come back normal, and "
             "she has no symptoms of any kind."),
            ("G1 A2: normal eGFR with persistent albuminuria",
             "eGFR 96 mL/min/1.73 m2 with a urine albumin-to-creatinine ratio around 120 mg/g "
             "persisting for more than three months; no symptoms.",
             "Her kidney function is normal on blood tests, but urine tests over several months "
             "keep showing protein leaking out; she feels well."),
            ("G2 A2: eGFR 60-89 with persistent albuminuria",
             "eGFR 72 mL/min/1.73 m2 with a urine albumin-to-creatinine ratio around 150 mg/g "
             "persisting for more than three months; no symptoms.",
             "Her kidneys are working at about three quarters of normal and her urine keeps "
             "showing protein, but she has no symptoms."),
            ("G3a A2: eGFR 45-59",
             "eGFR 52 mL/min/1.73 m2 with a urine albumin-to-creatinine ratio around 200 mg/g; "
             "no symptoms; hemoglobin and potassium are normal.",
             "She has been told her kidneys work at about half of normal; she feels well and "
             "her other blood tests are fine."),
            ("G3b A2: eGFR 30-44",
             "eGFR 38 mL/min/1.73 m2 with a urine albumin-to-creatinine ratio around 250 mg/g; "
             "hemoglobin slightly low and tiring more easily.",
             "Her kidneys are working at just over a third of normal, she tires more easily, "
             "and her blood count has started to drop."),
            ("G3b A3 (lower G3b, interpolated): anemia and mineral-bone disorder treated",
             "eGFR 31 mL/min/1.73 m2 with a urine albumin-to-creatinine ratio above 300 mg/g; "
             "renal anemia and raised parathyroid hormone are being treated.",
             "Her kidney function is down to about a third of normal, and she now takes "
             "medicines for anemia and for the calcium balance in her bones."),
            ("G4: eGFR 15-29",
             "eGFR 24 mL/min/1.73 m2 with a urine albumin-to-creatinine ratio above 300 mg/g; "
             "anemia, acidosis and high phosphate need treatment.",
             "Her kidneys work at about a quarter of normal; she takes several medicines for "
             "her blood and bones and has been told to think about dialysis."),
            ("G4 (late, interpolated): eGFR 15-20, dialysis access prepared",
             "eGFR 17 mL/min/1.73 m2 with a urine albumin-to-creatinine ratio above 300 mg/g; "
             "ankle swelling and itching; dialysis access prepared.",
             "Her kidneys work at less than a fifth of normal; she is itchy, tired and swollen, "
             "and has had an operation on her arm to prepare for dialysis."),
            ("G5: eGFR < 15, kidney failure not yet on dialysis",
             "eGFR 9 mL/min/1.73 m2 with a urine albumin-to-creatinine ratio above 300 mg/g; "
             "nausea, itching, fluid overload and high potassium.",
             "Her kidneys have almost stopped working; she feels sick, cannot eat, is short of "
             "breath from fluid, and is about to start dialysis."),
            ("G5D: kidney failure treated with maintenance hemodialysis",
             "Kidney failure treated with hemodialysis three times a week; passes little urine "
             "and fluid and diet are strictly restricted.",
             "Her kidneys no longer work, so she is attached to a dialysis machine for four "
             "hours, three times every week."),
        ],
    },
]

# Activation-patching pairs: (disease slug, template, clean stage, corrupted stage).
# The corrupted prompt is the same frame with another stage's vignette. Chosen so the two
# answers differ, and every pair has equal SmolLM2-135M token counts for the two prompts (the
# vignettes were worded to make that so; see SOURCES_progression_drugs_dosage.md).
PAIRS = [
    ("alzheimers", "t0", 1, 7), ("alzheimers", "t0", 0, 9), ("alzheimers", "t0", 2, 6),
    ("alzheimers", "t1", 1, 7), ("alzheimers", "t1", 0, 9), ("alzheimers", "t1", 5, 7),
    ("alzheimers", "t2", 1, 7), ("alzheimers", "t2", 0, 9), ("alzheimers", "t2", 3, 5),
    ("alzheimers", "t2", 2, 7),
    ("parkinsons", "t0", 3, 8), ("parkinsons", "t0", 0, 9), ("parkinsons", "t0", 1, 5),
    ("parkinsons", "t1", 3, 8), ("parkinsons", "t1", 4, 9), ("parkinsons", "t1", 6, 7),
    ("parkinsons", "t2", 2, 7), ("parkinsons", "t2", 0, 9), ("parkinsons", "t2", 1, 6),
    ("copd", "t0", 1, 6), ("copd", "t0", 2, 7), ("copd", "t0", 0, 3),
    ("copd", "t1", 2, 7), ("copd", "t1", 4, 8), ("copd", "t1", 1, 5),
    ("copd", "t2", 0, 9), ("copd", "t2", 1, 7), ("copd", "t2", 5, 8),
    ("ckd", "t0", 1, 6), ("ckd", "t0", 3, 8), ("ckd", "t0", 0, 5),
    ("ckd", "t1", 2, 6), ("ckd", "t1", 4, 7), ("ckd", "t1", 7, 8),
    ("ckd", "t2", 2, 9), ("ckd", "t2", 0, 9), ("ckd", "t2", 5, 8), ("ckd", "t2", 6, 8),
]

CLINICIAN_TEMPLATES = ("t0", "t1")   # use the clinician's vignette; t2 uses the lay account


def build_items():
    items = []
    by_key = {}
    for d in DISEASES:
        for template in ("t0", "t1", "t2"):
            frame = d["frames"][template]
            for stage, (ref, clinical, lay) in enumerate(d["stages"]):
                span = clinical if template in CLINICIAN_TEMPLATES else lay
                severity = d["severity"][stage]
                item = common.make_item(
                    DOMAIN, "%s_stage%d" % (d["slug"], stage), template, frame.format(v=span),
                    " " + severity, {"disease": d["label"], "stage": stage, "severity": severity},
                    "%s stage %d" % (d["label"], stage), span, "%s: %s" % (d["system"], ref))
                items.append(item)
                by_key[(d["slug"], template, stage)] = item
    common.attach_pairs(by_key, (((slug, t, clean), (slug, t, corrupt))
                                 for slug, t, clean, corrupt in PAIRS))
    return items


# ---------------------------------------------------------------------------------------------
# Self-check (runs every time the script runs, before anything is written).
# ---------------------------------------------------------------------------------------------

FORBIDDEN_IN_VIGNETTE = re.compile(
    r"\b(none|mild\w*|moderate\w*|severe\w*|severity|end-stage|stage|grade|class|gold|nyha|hoehn|yahr|"
    r"fast|gds|kdigo|early|advanced|terminal|late)\b", re.IGNORECASE)


def self_check(items):
    assert len(DISEASES) >= 4, "need at least 4 diseases"
    names = {d["label"] for d in DISEASES}
    for required in ("Alzheimer's disease", "Parkinson's disease", "COPD"):
        assert required in names, required
    assert names & {"chronic kidney disease", "heart failure"}
    for d in DISEASES:
        assert len(d["stages"]) == 10, d["slug"]
        assert len(d["severity"]) == 10, d["slug"]
        assert d["severity"][0] == "none" and d["severity"][9] == "end-stage", d["slug"]
        order = [ANSWER_WORDS.index(s) for s in d["severity"]]
        assert order == sorted(order), "severity must not decrease with stage: " + d["slug"]
        for ref, clinical, lay in d["stages"]:
            for text in (clinical, lay):
                bad = FORBIDDEN_IN_VIGNETTE.search(text)
                assert bad is None, "vignette gives the answer away (%r): %s" % (bad, text)
    common.check_items(items, DOMAIN)
    for it in items:
        assert it["answer"].strip() in ANSWER_WORDS, it["id"]
        assert isinstance(it["labels"]["stage"], int) and 0 <= it["labels"]["stage"] <= 9
        if "pair" in it:
            # the corrupted prompt is the same frame with only the vignette swapped
            assert common.corrupted_span(it) is not None, it["id"]
    per_concept = common.check_templates_per_concept(items, 3, "stage")
    assert len(per_concept) == 10 * len(DISEASES)
    n_pairs = common.count_pairs(items, 25)
    assert len(PAIRS) == len(set(PAIRS)), "duplicate pair"
    return n_pairs


def main():
    items = build_items()
    n_pairs = self_check(items)
    common.write_jsonl(OUT_PATH, items)  # also reads the file back and compares
    print("wrote %d items (%d diseases x 10 stages x 3 templates, %d pairs) to %s"
          % (len(items), len(DISEASES), n_pairs, os.path.relpath(OUT_PATH)), file=sys.stderr)


if __name__ == "__main__":
    main()
