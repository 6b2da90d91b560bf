#!/usr/bin/env python3
"""Build the disease-progression concept set (src/medmap/concepts/data/progression.jsonl).

Six disease staging systems, each described at its own ordered stages (stage 0 = a person of the same
age without the disease, then the system's levels in order):

    Alzheimer's disease (FAST)  Reisberg FAST 1-7f, sub-stages grouped as below      10 stages
    Alzheimer's disease (GDS)   Reisberg Global Deterioration Scale 1-7 (the paper's) 7 stages
    Parkinson's disease         modified Hoehn & Yahr 0, 1, 1.5, 2, 2.5, 3, 4, 5      8 stages
    COPD                        healthy, GOLD 2024 grades 1-4, GOLD 4 on oxygen       6 stages
    chronic kidney disease      healthy, KDIGO G1 A2, G2 A2, G3a, G3b, G4, G5, G5D     8 stages
    heart failure               healthy heart, NYHA classes I-IV                      5 stages

Labels: `disease` (categorical) and `stage` (integer, ordinal *within* a disease: stage 3 of one
disease has nothing to do with stage 3 of another, so stage must never be pooled across diseases as a
category), plus the informational `severity` (the reference answer). No stage is interpolated: every
stage is a level of its staging system (or the disease-free stage 0).

Each stage has a clinician's vignette and a lay account by a relative. Vignettes never name the stage,
the staging system or a severity word: the model has to infer the stage from the described state.
Templates: `neutral` (clinic note with the clinician's vignette) and `neutral2` (the relative's
account) describe the patient and ask nothing; `t0`, `t1` (clinician's vignette) and `t2` (lay account)
ask the severity, answered with a word of a fixed vocabulary (none / mild / moderate / severe /
end-stage) mapped from the stage per disease (SOURCES_progression.md).

Patching pairs compare two stages of the same disease in the same frame (the vignette is swapped).

Standard library only; output is byte-stable and written atomically.
Run:  python tools/concepts/build_progression.py [--out-dir DIR]
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script or imported
import _common as common  # noqa: E402

DOMAIN = "progression"

ANSWER_WORDS = ("none", "mild", "moderate", "severe", "end-stage")

# ---------------------------------------------------------------------------------------------
# Medical facts. Per disease: slug, label, staging system, the frames, and the stages as
# (staging reference, severity answer, clinician's vignette, relative's account).
# Frames "note" and "study" take the clinician's vignette {v}; frame "lay" the relative's account.
# ---------------------------------------------------------------------------------------------

ALZHEIMER_FRAMES = {
    "study": "In a study of Alzheimer's disease, a 76-year-old woman is assessed. {v}",
    "note": "Memory clinic note (78-year-old man): {v}",
    "lay": "A son describes how his 80-year-old mother is doing. {v}",
}

DISEASES = [
    {
        "slug": "alzheimers_fast",
        "label": "Alzheimer's disease (FAST)",
        "system": "Reisberg Functional Assessment Staging (FAST)",
        "frames": ALZHEIMER_FRAMES,
        # FAST 1-2 none (normal adult, normal aged forgetfulness); FAST 3-4 mild (incipient, mild AD);
        # FAST 5-6 moderate (moderate, moderately severe AD); FAST 7a-d severe; 7e-f end-stage.
        "stages": [
            ("FAST 1: normal adult, no decline", "none",
             "No memory complaints of any kind; work, finances and the household are all managed "
             "independently, and cognitive testing is normal for age.",
             "She remembers appointments and names, handles her own money and all her chores, and"
             " nobody has noticed any change at all in her memory."),
            ("FAST 2: normal aged adult, subjective forgetfulness only", "none",
             "Complains of forgetting names and where objects were put, but cognitive testing and"
             " daily functioning are normal and others notice nothing at all.",
             "She says she cannot recall names and misplaces her keys more than before, but she "
             "copes with everything and nobody else has noticed."),
            ("FAST 3: decline noticed in demanding activities (incipient AD)", "mild",
             "Family notice declining performance in demanding tasks such as planning a trip, and"
             " difficulty traveling to an unfamiliar place; daily life is unaffected.",
             "We notice she struggles with complex tasks like planning a holiday and she got lost"
             " driving to a new town, though she manages at home."),
            ("FAST 4: help needed with complex tasks (mild AD)", "mild",
             "Needs help managing finances, shopping and planning a meal for guests; recent "
             "events are poorly recalled; dresses and bathes without help.",
             "She cannot manage her bills or plan a meal for visitors without help, loses track "
             "of recent events, but still washes and dresses herself."),
            ("FAST 5: help choosing clothing (moderate AD)", "moderate",
             "Needs help choosing proper clothing for the day or season, cannot recall own "
             "address or telephone number; eats and uses the toilet independently.",
             "Someone has to pick out suitable clothes for her each day; she cannot recall her "
             "address, but still eats and uses the toilet alone."),
            ("FAST 6a-c: help with dressing, bathing, toileting (moderately severe AD)", "moderate",
             "Puts clothes on in the wrong order without help, needs assistance with bathing and "
             "with the mechanics of toileting; still continent.",
             "She puts her clothes on in the wrong order, needs help in the bath, and does not "
             "flush or wipe after using the toilet."),
            ("FAST 6d-e: urinary and fecal incontinence (moderately severe AD)", "moderate",
             "Incontinent of urine and stool; needs help with all personal care and sometimes "
             "does not recognize the spouse; still speaks in sentences.",
             "She is incontinent of both urine and stool, needs help with all her washing and "
             "dressing, and sometimes does not recognize her husband."),
            ("FAST 7a-b: speech limited to a few words (severe AD)", "severe",
             "Speech is limited to a few words a day; totally dependent for washing, dressing and"
             " toileting, but still walks unaided.",
             "She now says only one or two words a day and needs total care with washing, "
             "dressing and toileting, but can still walk."),
            ("FAST 7c-d: loss of walking and of sitting up (severe AD)", "severe",
             "No meaningful speech; can no longer walk without assistance and cannot sit up "
             "without support; totally dependent on others for all daily care.",
             "She no longer says any words at all, cannot walk, and has to be propped up with "
             "pillows to sit in a chair."),
            ("FAST 7e-f: cannot smile or hold up head (terminal AD)", "end-stage",
             "Bedbound and no longer able to smile or to hold up the head; swallowing is "
             "impaired, and total nursing care is required.",
             "She is confined to bed, no longer smiles or holds up her head, has trouble "
             "swallowing food and needs total care all the time."),
        ],
    },
    {
        "slug": "alzheimers_gds",
        "label": "Alzheimer's disease (GDS)",
        "system": "Reisberg Global Deterioration Scale (GDS)",
        "frames": ALZHEIMER_FRAMES,
        # GDS 1-2 none (no / subjective decline); GDS 3-4 mild (mild cognitive decline; GDS 4 = mild
        # dementia); GDS 5-6 moderate (moderate / moderately severe dementia, as FAST 5-6); GDS 7 severe.
        "stages": [
            ("GDS 1: no cognitive decline", "none",
             "No subjective complaints and no deficit evident on the clinical interview; still "
             "manages work, money, shopping and the whole household just as well as ever before.",
             "She keeps track of her appointments, bills and the household just as well as ever, "
             "and nobody has noticed any problem at all with her memory."),
            ("GDS 2: very mild cognitive decline (subjective complaints only)", "none",
             "Reports forgetting where familiar objects were put and forgetting the names of "
             "familiar people; no objective deficit is evident on interview, at work or in social"
             " life.",
             "She worries that she cannot recall where she has put things or the names of her old"
             " friends, but she manages everything and no one else notices."),
            ("GDS 3: mild cognitive decline (clear-cut deficits on close questioning)", "mild",
             "Got lost on a trip to an unfamiliar place, retains little from reading, forgets the"
             " names of new acquaintances, and keeps misplacing valued objects.",
             "She got lost driving to a new place, cannot recall names of people she has just met"
             " and struggles to find words, but runs her home."),
            ("GDS 4: moderate cognitive decline (mild dementia)", "mild",
             "Reduced knowledge of current and recent events, gaps in the memory of personal "
             "history, cannot handle finances or travel alone; still oriented to time and person.",
             "She can no longer handle money or travel alone, loses track of recent news and "
             "parts of her past, but knows who and where she is."),
            ("GDS 5: moderately severe cognitive decline (moderate dementia)", "moderate",
             "Cannot live without some help: cannot recall own address or grandchildren's names, "
             "often unsure of the date; eats and uses the toilet unaided.",
             "She cannot remember her own address or the names of her grandchildren, often does "
             "not know the date, and she needs help picking out her clothes."),
            ("GDS 6: severe cognitive decline (moderately severe dementia)", "moderate",
             "Sometimes forgets the spouse's name, largely unaware of recent events, needs help "
             "dressing and bathing, incontinent at times, with delusions and agitation.",
             "She sometimes forgets my father's name, needs help to dress and bathe, is at times "
             "incontinent, and has become suspicious and agitated."),
            ("GDS 7: very severe cognitive decline (severe dementia)", "severe",
             "All speech has been lost; incontinent of urine and stool, needs help with eating "
             "and with toileting, and can no longer walk or stand.",
             "She no longer speaks at all, can no longer walk, is incontinent, and has to be fed,"
             " washed and changed by other people."),
        ],
    },
    {
        "slug": "parkinsons",
        "label": "Parkinson's disease",
        "system": "modified Hoehn and Yahr scale",
        "frames": {
            "study": "In a study of Parkinson's disease, a 68-year-old man is examined. {v}",
            "note": "Movement disorders clinic note (71-year-old woman): {v}",
            "lay": "A wife describes how her 70-year-old husband is doing. {v}",
        },
        # H&Y 0 none; 1-2 mild; 2.5-3 moderate; 4 severe; 5 end-stage (the usual grouping of
        # early = H&Y 1-2, mid = 2.5-3, advanced = 4-5).
        "stages": [
            ("H&Y 0: no signs of disease", "none",
             "No tremor, no stiffness and no slowness of movement; handwriting, walking, posture "
             "and balance are all normal for age.",
             "He moves quickly and easily, has no shaking at all, and he walks and keeps his "
             "balance just as well as he ever did."),
            ("H&Y 1: unilateral involvement only", "mild",
             "A resting tremor and stiffness of the right hand only; the other side, posture and "
             "balance are normal; daily life unaffected.",
             "He has a shake in his right hand and it feels stiff, but the other side is fine and"
             " he does everything just as before."),
            ("H&Y 1.5: unilateral plus axial involvement", "mild",
             "Has tremor and rigidity on the right side only, plus stiffness of neck and trunk "
             "with a bent posture; balance is normal.",
             "The shaking and stiffness affect only his right side, and his neck and back are "
             "stiff and bent forward, but his balance is fine."),
            ("H&Y 2: bilateral involvement without impairment of balance", "mild",
             "Has tremor, rigidity and slowness on both sides of the body; balance is normal, and"
             " the pull test is negative.",
             "Both of his hands now shake and he is slower on both sides, but he keeps his "
             "balance well and has never had a fall."),
            ("H&Y 2.5: bilateral disease with recovery on pull test", "moderate",
             "Signs on both sides; on the pull test takes several steps backwards but regains "
             "balance unaided; has had no falls.",
             "Both sides are affected, and when he is pulled backwards he staggers a few steps "
             "before catching himself, though he has not fallen."),
            ("H&Y 3: bilateral disease, postural instability, physically independent", "moderate",
             "Signs on both sides with impaired balance: would fall on the pull test unless "
             "caught, has had falls, but lives independently.",
             "His balance has become poor and he has had a few falls, but he still washes, "
             "dresses and looks after himself without any help."),
            ("H&Y 4: marked disability, still able to walk or stand unassisted", "severe",
             "Needs help with dressing, bathing and getting out of a chair, but can still stand "
             "up and walk short distances unassisted.",
             "He needs help to dress, wash and get out of a chair, but he can still stand and "
             "walk a short way by himself."),
            ("H&Y 5: wheelchair-bound or bedridden unless aided", "end-stage",
             "Confined to a wheelchair or to bed unless aided; cannot stand or walk without help "
             "and needs total nursing care all day.",
             "He cannot stand or walk unless someone holds him up, and so he spends his days "
             "sitting in a wheelchair or lying in his bed."),
        ],
    },
    {
        "slug": "copd",
        "label": "COPD",
        "system": "GOLD 2024 report: spirometric grades 1-4 and ABE assessment groups",
        "frames": {
            "study": "In a study of chronic obstructive pulmonary disease, a 66-year-old man is assessed. {v}",
            "note": "Respiratory clinic note (64-year-old woman): {v}",
            "lay": "A daughter describes how her 70-year-old father is doing. {v}",
        },
        # Healthy none; GOLD 1 mild; GOLD 2 moderate; GOLD 3 severe; GOLD 4 ("very severe") severe;
        # GOLD 4 with chronic respiratory failure on long-term oxygen end-stage.
        "stages": [
            ("healthy: normal spirometry, no symptoms", "none",
             "Post-bronchodilator FEV1/FVC 0.78 with FEV1 at 98% of predicted; no cough, no "
             "breathlessness except on strenuous exercise, and no chest infections.",
             "He walks briskly and goes up hills without getting out of breath, has no cough, and"
             " has not had a chest infection for many years."),
            ("GOLD 1, group A: FEV1 >= 80%, few symptoms, no exacerbations", "mild",
             "Post-bronchodilator FEV1/FVC 0.66 with FEV1 at 86% of predicted; a morning cough, "
             "short of breath only on strenuous exercise; no exacerbations.",
             "He has a cough most mornings but only gets out of breath with heavy exertion, "
             "and he has never needed treatment for a chest flare-up."),
            ("GOLD 2, group B: FEV1 50-79%, more symptoms, no exacerbations", "moderate",
             "Post-bronchodilator FEV1/FVC 0.58 with FEV1 at 60% of predicted; walks slower than "
             "people of that age because of breathlessness; no exacerbations.",
             "His lungs are working at about 60% of normal, and he walks more slowly than his "
             "friends because he quickly runs out of breath."),
            ("GOLD 3, group B: FEV1 30-49%, stops for breath after about 100 m", "severe",
             "Post-bronchodilator FEV1/FVC 0.48 with FEV1 at 42% of predicted; has to stop for "
             "breath after walking 100 meters on level ground.",
             "His lungs are now working at well under half of normal, and he has to stop for "
             "breath after walking only about a hundred meters or so."),
            ("GOLD 4, group E: FEV1 < 30%, repeated hospital admissions", "severe",
             "Post-bronchodilator FEV1/FVC 0.36 with FEV1 at 26% of predicted; too short of "
             "breath to leave home or dress without stopping; repeated hospital admissions.",
             "His lungs work at about a quarter of normal; he is too short of breath to leave the"
             " house, and he keeps being admitted to hospital."),
            ("GOLD 4, group E with chronic respiratory failure on long-term oxygen", "end-stage",
             "Post-bronchodilator FEV1/FVC 0.34 with FEV1 at 19% of predicted; chronic "
             "hypercapnic respiratory failure on home oxygen; short of breath at rest.",
             "He is on oxygen day and night, is short of breath even sitting still, has lost "
             "weight and can no longer leave his bed or chair."),
        ],
    },
    {
        "slug": "ckd",
        "label": "chronic kidney disease",
        "system": "KDIGO 2012 / 2024 CKD classification (GFR categories G1-G5, albuminuria "
                  "A1-A3, G5D on dialysis)",
        "frames": {
            "study": "In a study of chronic kidney disease, a 58-year-old woman is assessed. {v}",
            "note": "Nephrology clinic note (61-year-old man): {v}",
            "lay": "A husband describes how his 60-year-old wife is doing. {v}",
        },
        # Healthy none; G1-G2 (with albuminuria) mild; G3a-G3b moderate; G4 severe;
        # G5 and G5D (kidney failure) end-stage.
        "stages": [
            ("healthy: normal eGFR, no albuminuria", "none",
             "eGFR 95 mL/min/1.73 m2 with a urine albumin-to-creatinine ratio of 8 mg/g; "
             "urinalysis, blood pressure and kidney ultrasound are normal.",
             "Her blood and urine tests of kidney function have always come back normal, and she "
             "has no symptoms of any kind at all now."),
            ("G1 A2: normal eGFR with persistent albuminuria", "mild",
             "eGFR 96 mL/min/1.73 m2 with a urine albumin-to-creatinine ratio around 120 mg/g "
             "persisting for more than three months; no symptoms.",
             "Her kidney function is normal on blood tests, but urine tests over several months "
             "keep showing protein leaking out; she feels quite well."),
            ("G2 A2: eGFR 60-89 with persistent albuminuria", "mild",
             "eGFR 72 mL/min/1.73 m2 with a urine albumin-to-creatinine ratio around 150 mg/g "
             "persisting for more than three months; no symptoms.",
             "Her kidneys are working at about three quarters of normal and her urine keeps "
             "showing protein, but she has no symptoms at all yet."),
            ("G3a A2: eGFR 45-59", "moderate",
             "eGFR 52 mL/min/1.73 m2 with a persisting urine albumin-to-creatinine ratio around "
             "200 mg/g; no symptoms; hemoglobin and potassium normal.",
             "She has been told that her kidneys work at about half of normal; she feels well and"
             " all her other blood tests are fine."),
            ("G3b A2: eGFR 30-44", "moderate",
             "eGFR 38 mL/min/1.73 m2 with a urine albumin-to-creatinine ratio around 250 mg/g; "
             "hemoglobin is slightly low and tiring more easily.",
             "Her kidneys are working at just over a third of normal, she tires more easily, "
             "and her blood count has started to drop."),
            ("G4 A3: eGFR 15-29", "severe",
             "eGFR 24 mL/min/1.73 m2 with a urine albumin-to-creatinine ratio above 300 mg/g; "
             "anemia, acidosis and high phosphate need treatment.",
             "Her kidneys work at a quarter of normal; she takes several medicines for her blood "
             "and bones and was told to think about dialysis."),
            ("G5: eGFR < 15, kidney failure not yet on dialysis", "end-stage",
             "eGFR 9 mL/min/1.73 m2 with urine albumin-to-creatinine ratio above 300 mg/g; "
             "nausea, pruritus, fluid overload and high potassium.",
             "Her kidneys have almost stopped working; she feels sick, cannot eat, is short of "
             "breath from fluid, and will start dialysis."),
            ("G5D: kidney failure treated with maintenance hemodialysis", "end-stage",
             "Kidney failure treated with maintenance dialysis three times a week via an "
             "arteriovenous fistula in the left arm; now passes very little urine; the fluid "
             "intake, salt, potassium and phosphate in the diet are all strictly restricted.",
             "Her kidneys no longer work at all, so she is attached to a dialysis machine for "
             "four hours, three times in every week."),
        ],
    },
    {
        "slug": "heart_failure",
        "label": "heart failure",
        "system": "New York Heart Association (NYHA) functional classification",
        "frames": {
            "study": "In a study of heart failure, a 67-year-old man is assessed. {v}",
            "note": "Cardiology clinic note (70-year-old woman): {v}",
            "lay": "A son describes how his 74-year-old father is doing. {v}",
        },
        # No heart disease none; NYHA I-II mild; III moderate; IV severe (the usual grouping). Stages
        # 1-4 share the same ejection fraction: NYHA classes are defined by symptoms alone.
        "stages": [
            ("no heart disease: normal echocardiogram, no symptoms", "none",
             "Echocardiogram shows a normal heart with an ejection fraction of 62%; walks, uses "
             "stairs and exercises without any breathlessness or fatigue at all.",
             "His heart tests have always been normal; he walks, goes up stairs and works in the "
             "garden without getting out of breath or tired."),
            ("NYHA I: cardiac disease without limitation of physical activity", "mild",
             "Ejection fraction of 35% after a myocardial infarction; ordinary physical activity, "
             "including climbing stairs, causes no undue breathlessness, fatigue or palpitations.",
             "A heart attack left his heart weaker, but he goes up the stairs, walks and does all"
             " his chores without getting out of breath."),
            ("NYHA II: slight limitation, comfortable at rest, ordinary activity causes symptoms",
             "mild",
             "Ejection fraction of 35% after a myocardial infarction; comfortable at rest, but "
             "climbing two flights of stairs brings on both breathlessness and palpitations.",
             "A heart attack left his heart weaker; he is fine sitting down, but he gets out of "
             "breath going up two flights of stairs."),
            ("NYHA III: marked limitation, less than ordinary activity causes symptoms", "moderate",
             "Ejection fraction of 35% after a myocardial infarction; comfortable at rest, but "
             "walking only 50 meters brings on breathlessness and palpitations.",
             "A heart attack left his heart weaker; he is fine sitting down, but gets out of "
             "breath after walking fifty meters on the flat."),
            ("NYHA IV: symptoms at rest, any physical activity increases discomfort", "severe",
             "Ejection fraction of 35% after a myocardial infarction; breathless and fatigued "
             "even at rest in a chair, and any physical activity makes it worse.",
             "A heart attack left his heart weaker, and now he gets out of breath even when he is"
             " sitting still in his chair at home."),
        ],
    },
]

# template id -> (frame, question appended after the vignette or None for a neutral template)
TEMPLATES = {
    "neutral": ("note", None),
    "neutral2": ("lay", None),
    "t0": ("study", " The severity of {pos} condition is best described as"),
    "t1": ("note", " Overall severity:"),
    "t2": ("lay", " The severity of {pos} condition is best described as"),
}
# whose condition: the patient's sex in each frame (the possessive of the t0/t2 question)
POSSESSIVE = {"woman": "her", "mother": "her", "wife": "her", "man": "his", "father": "his", "husband": "his"}

# Activation-patching pairs: (disease slug, template, clean stage, corrupted stage). The corrupted
# prompt is the same frame with another stage's vignette of the same disease; the answers differ.
# Every stage of every task template is the clean side of one pair; its partner was chosen among the
# stages of the same disease with another answer, preferring one for which both bundled models prefer
# the clean answer, then one whose prompt has the same number of tokens under both bundled tokenizers
# (SOURCES_progression.md, "Patching pairs").
PAIRS = [
    ("alzheimers_fast", "t0", 0, 9), ("alzheimers_fast", "t0", 1, 4), ("alzheimers_fast", "t0", 2, 8),
    ("alzheimers_fast", "t0", 3, 5), ("alzheimers_fast", "t0", 4, 9), ("alzheimers_fast", "t0", 5, 9),
    ("alzheimers_fast", "t0", 6, 9), ("alzheimers_fast", "t0", 7, 0), ("alzheimers_fast", "t0", 8, 1),
    ("alzheimers_fast", "t0", 9, 0),
    ("alzheimers_gds", "t0", 0, 4), ("alzheimers_gds", "t0", 1, 5), ("alzheimers_gds", "t0", 2, 6),
    ("alzheimers_gds", "t0", 3, 0), ("alzheimers_gds", "t0", 4, 1), ("alzheimers_gds", "t0", 5, 0),
    ("alzheimers_gds", "t0", 6, 1),
    ("parkinsons", "t0", 0, 7), ("parkinsons", "t0", 1, 7), ("parkinsons", "t0", 2, 7),
    ("parkinsons", "t0", 3, 4), ("parkinsons", "t0", 4, 0), ("parkinsons", "t0", 5, 7),
    ("parkinsons", "t0", 6, 0), ("parkinsons", "t0", 7, 0),
    ("copd", "t0", 0, 5), ("copd", "t0", 1, 4), ("copd", "t0", 2, 5), ("copd", "t0", 3, 2),
    ("copd", "t0", 4, 2), ("copd", "t0", 5, 0),
    ("ckd", "t0", 0, 5), ("ckd", "t0", 1, 5), ("ckd", "t0", 2, 5), ("ckd", "t0", 3, 7), ("ckd", "t0", 4, 0),
    ("ckd", "t0", 5, 0), ("ckd", "t0", 6, 3), ("ckd", "t0", 7, 4),
    ("heart_failure", "t0", 0, 3), ("heart_failure", "t0", 1, 3), ("heart_failure", "t0", 2, 4),
    ("heart_failure", "t0", 3, 0), ("heart_failure", "t0", 4, 1),
    ("alzheimers_fast", "t1", 0, 9), ("alzheimers_fast", "t1", 1, 9), ("alzheimers_fast", "t1", 2, 8),
    ("alzheimers_fast", "t1", 3, 0), ("alzheimers_fast", "t1", 4, 0), ("alzheimers_fast", "t1", 5, 1),
    ("alzheimers_fast", "t1", 6, 0), ("alzheimers_fast", "t1", 7, 1), ("alzheimers_fast", "t1", 8, 2),
    ("alzheimers_fast", "t1", 9, 0),
    ("alzheimers_gds", "t1", 0, 6), ("alzheimers_gds", "t1", 1, 4), ("alzheimers_gds", "t1", 2, 1),
    ("alzheimers_gds", "t1", 3, 1), ("alzheimers_gds", "t1", 4, 1), ("alzheimers_gds", "t1", 5, 0),
    ("alzheimers_gds", "t1", 6, 0),
    ("parkinsons", "t1", 0, 7), ("parkinsons", "t1", 1, 0), ("parkinsons", "t1", 2, 0),
    ("parkinsons", "t1", 3, 0), ("parkinsons", "t1", 4, 6), ("parkinsons", "t1", 5, 1),
    ("parkinsons", "t1", 6, 0), ("parkinsons", "t1", 7, 0),
    ("copd", "t1", 0, 5), ("copd", "t1", 1, 4), ("copd", "t1", 2, 3), ("copd", "t1", 3, 1),
    ("copd", "t1", 4, 0), ("copd", "t1", 5, 2),
    ("ckd", "t1", 0, 6), ("ckd", "t1", 1, 6), ("ckd", "t1", 2, 6), ("ckd", "t1", 3, 6), ("ckd", "t1", 4, 0),
    ("ckd", "t1", 5, 0), ("ckd", "t1", 6, 3), ("ckd", "t1", 7, 4),
    ("heart_failure", "t1", 0, 3), ("heart_failure", "t1", 1, 4), ("heart_failure", "t1", 2, 0),
    ("heart_failure", "t1", 3, 1), ("heart_failure", "t1", 4, 1),
    ("alzheimers_fast", "t2", 0, 9), ("alzheimers_fast", "t2", 1, 4), ("alzheimers_fast", "t2", 2, 1),
    ("alzheimers_fast", "t2", 3, 5), ("alzheimers_fast", "t2", 4, 0), ("alzheimers_fast", "t2", 5, 0),
    ("alzheimers_fast", "t2", 6, 2), ("alzheimers_fast", "t2", 7, 3), ("alzheimers_fast", "t2", 8, 0),
    ("alzheimers_fast", "t2", 9, 0),
    ("alzheimers_gds", "t2", 0, 4), ("alzheimers_gds", "t2", 1, 5), ("alzheimers_gds", "t2", 2, 1),
    ("alzheimers_gds", "t2", 3, 6), ("alzheimers_gds", "t2", 4, 0), ("alzheimers_gds", "t2", 5, 1),
    ("alzheimers_gds", "t2", 6, 2),
    ("parkinsons", "t2", 0, 7), ("parkinsons", "t2", 1, 4), ("parkinsons", "t2", 2, 0),
    ("parkinsons", "t2", 3, 6), ("parkinsons", "t2", 4, 0), ("parkinsons", "t2", 5, 7),
    ("parkinsons", "t2", 6, 0), ("parkinsons", "t2", 7, 0),
    ("copd", "t2", 0, 5), ("copd", "t2", 1, 5), ("copd", "t2", 2, 0), ("copd", "t2", 3, 1),
    ("copd", "t2", 4, 2), ("copd", "t2", 5, 0),
    ("ckd", "t2", 0, 7), ("ckd", "t2", 1, 6), ("ckd", "t2", 2, 7), ("ckd", "t2", 3, 0), ("ckd", "t2", 4, 7),
    ("ckd", "t2", 5, 3), ("ckd", "t2", 6, 0), ("ckd", "t2", 7, 0),
    ("heart_failure", "t2", 0, 3), ("heart_failure", "t2", 1, 4), ("heart_failure", "t2", 2, 0),
    ("heart_failure", "t2", 3, 1), ("heart_failure", "t2", 4, 2),
]


def possessive(frame: str) -> str:
    words = re.findall(r"[a-z]+", frame.split("{v}")[0].lower())
    found = [POSSESSIVE[w] for w in words if w in POSSESSIVE]
    return found[-1]


def stage_prompt(d: dict, template: str, stage: int) -> tuple[str, str]:
    """The prompt and its span (the vignette) of one stage of disease d on a template."""
    frame_name, question = TEMPLATES[template]
    frame = d["frames"][frame_name]
    _, _, clinical, lay = d["stages"][stage]
    span = lay if frame_name == "lay" else clinical
    text = frame.format(v=span)
    if question is not None:
        text += question.format(pos=possessive(frame))
    return text, span


def build_items():
    items = []
    by_key = {}
    for d in DISEASES:
        for template in TEMPLATES:
            for stage, (ref, severity, _, _) in enumerate(d["stages"]):
                text, span = stage_prompt(d, template, stage)
                answer = None if common.is_neutral(template) else " " + severity
                item = common.make_item(
                    DOMAIN, "%s_stage%d" % (d["slug"], stage), template, text, answer,
                    {"disease": d["label"], "stage": stage, "severity": severity},
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
    r"fast|gds|kdigo|early|advanced|terminal|late|child-pugh)\b", re.IGNORECASE)


def self_check(items):
    labels = [d["label"] for d in DISEASES]
    assert len(set(labels)) == len(labels) >= 4, "need at least 4 diseases"
    for required in ("Alzheimer's disease (FAST)", "Alzheimer's disease (GDS)", "Parkinson's disease", "COPD",
                     "heart failure"):
        assert required in labels, required
    for d in DISEASES:
        assert len(d["stages"]) >= 4, d["slug"]
        severities = [s[1] for s in d["stages"]]
        assert severities[0] == "none" and severities[-1] != "none", d["slug"]
        order = [ANSWER_WORDS.index(s) for s in severities]
        assert order == sorted(order), "severity must not decrease with stage: " + d["slug"]
        for ref, _, clinical, lay in d["stages"]:
            for text in (clinical, lay):
                bad = FORBIDDEN_IN_VIGNETTE.search(text)
                assert bad is None, "vignette gives the answer away (%r): %s" % (bad, text)
        assert len({s[2] for s in d["stages"]} | {s[3] for s in d["stages"]}) == 2 * len(d["stages"])
    gds = next(d for d in DISEASES if d["label"] == "Alzheimer's disease (GDS)")
    assert len(gds["stages"]) == 7, "GDS has 7 stages"
    common.check_items(items, DOMAIN)
    assert len({it["prompt"] for it in items}) == len(items), "two items share a prompt"
    for it in items:
        assert isinstance(it["labels"]["stage"], int) and it["labels"]["stage"] >= 0, it["id"]
        if common.is_neutral(it["template"]):
            assert not re.search(r"severity|best described", it["prompt"]), it["id"]
            continue
        assert it["answer"].strip() in ANSWER_WORDS, it["id"]
        if "pair" in it:
            # the corrupted prompt is the same frame with only the vignette swapped, same disease
            assert common.corrupted_span(it) is not None, it["id"]
    per_concept = common.check_templates_per_concept(items, len(TEMPLATES), "stage")
    assert len(per_concept) == sum(len(d["stages"]) for d in DISEASES)
    assert len(PAIRS) == len(set(PAIRS)) and len({p[:3] for p in PAIRS}) == len(PAIRS), "duplicate pair"
    for slug, t, a, b in PAIRS:
        d = next(x for x in DISEASES if x["slug"] == slug)
        assert d["stages"][a][1] != d["stages"][b][1], (slug, t, a, b)
    return common.count_pairs(items, 100)


def main():
    items = build_items()
    n_pairs = self_check(items)
    path = common.output_path(DOMAIN)
    common.write_jsonl(path, items)  # also reads the file back and compares
    print("wrote %d items (%d diseases, %d stages, %d templates, %d pairs) to %s"
          % (len(items), len(DISEASES), sum(len(d["stages"]) for d in DISEASES), len(TEMPLATES), n_pairs, path),
          file=sys.stderr)


if __name__ == "__main__":
    main()
