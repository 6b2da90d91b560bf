#!/usr/bin/env python3
"""Build the dosage concept set (src/medmap/concepts/data/dosage.jsonl).

Each entry of DOSES is one well-established usual adult dose: drug, route, amount, unit and
frequency, for a stated indication where the dose depends on it, with its formulary source
(BNF = British National Formulary; FDA = US prescribing information; RCUK = Resuscitation
Council UK guidelines). Doses that differ between the major formularies (e.g. aspirin 75 vs 81 mg,
trimethoprim, azithromycin, fexofenadine for rhinitis, folic acid for anemia) were left out.

Templates (answer in brackets):
    t0  "The usual adult dose of <drug phrase> is 500"                           [ mg]     unit
    t1  "For an adult, the standard dose of <drug phrase> is"                   [ 500]    amount
    t2  "How many milligrams of <drug phrase> make up one usual adult dose? Answer:" [ 500] amount
    t3  "An adult is usually given 500 mg of <drug phrase>"         [ three times daily] frequency
        (t3 only for doses given on a regular schedule)

The span is the drug phrase (route + drug + indication), e.g. "oral tadalafil taken on demand
for erectile dysfunction".

Standard library only; output is byte-stable across runs and written atomically.
Run:  python tools/concepts/build_dosage.py
"""

import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script or imported
import _common as common  # noqa: E402

DOMAIN = "dosage"
OUT_PATH = str(common.out_path(DOMAIN))

# unit label -> (short form used in text and in the unit answer, long form used in t2)
UNITS = {
    "mg": ("mg", "milligrams"),
    "g": ("g", "grams"),
    "mcg": ("micrograms", "micrograms"),
    "units": ("units", "units"),
    "mL": ("mL", "milliliters"),
    "mg/kg": ("mg/kg", "milligrams per kilogram"),
}

# (key, drug, drug phrase used in the prompts, route, amount, unit,
#  frequency label (a small category set, FREQUENCIES), frequency answer for t3 (exact wording,
#  or None when the dose is not given on a fixed schedule), indication, source)
DOSES = [
    ("amoxicillin", "amoxicillin", "oral amoxicillin for lower respiratory tract infections", "oral", "500", "mg",
     "three times daily", "three times daily", "bacterial infections",
     "BNF: 500 mg every 8 hours (1 g in severe infection); WHO Model Formulary"),
    ("paracetamol", "paracetamol", "oral paracetamol for mild pain", "oral", "1", "g",
     "every 4 to 6 hours", "every 4 to 6 hours", "pain and fever",
     "BNF: 0.5-1 g every 4-6 hours, maximum 4 g daily"),
    ("ibuprofen", "ibuprofen", "oral ibuprofen for pain, fever and inflammation", "oral", "400", "mg",
     "three or four times daily", "three or four times daily", "pain",
     "BNF: 300-400 mg 3-4 times daily"),
    ("metformin", "metformin", "oral metformin for type 2 diabetes", "oral", "500", "mg",
     "two or three times daily", "two or three times daily", "type 2 diabetes",
     "BNF: 500 mg 2-3 times daily after titration; FDA: start 500 mg twice daily"),
    ("insulin_glargine", "insulin glargine",
     "insulin glargine for starting treatment in type 2 diabetes", "subcutaneous", "10",
     "units", "once daily", "once daily", "type 2 diabetes",
     "FDA (Lantus): insulin-naive type 2 diabetes, start 0.2 units/kg or up to 10 units once daily"),
    ("atorvastatin_primary", "atorvastatin",
     "oral atorvastatin for primary prevention of cardiovascular disease", "oral", "20", "mg",
     "once daily", "once daily", "primary prevention of cardiovascular disease",
     "BNF / NICE NG238: 20 mg once daily for primary prevention"),
    ("atorvastatin_secondary", "atorvastatin",
     "oral atorvastatin for secondary prevention of cardiovascular disease", "oral", "80", "mg",
     "once daily", "once daily", "secondary prevention of cardiovascular disease",
     "BNF / NICE NG238: 80 mg once daily for secondary prevention"),
    ("amlodipine", "amlodipine", "oral amlodipine for hypertension", "oral", "5", "mg",
     "once daily", "once daily", "hypertension",
     "BNF: initially 5 mg once daily, maximum 10 mg; FDA: usual initial dose 5 mg once daily"),
    ("lisinopril", "lisinopril", "oral lisinopril for hypertension", "oral", "10", "mg",
     "once daily", "once daily", "hypertension",
     "BNF: initially 10 mg once daily; FDA: initial dose 10 mg once daily"),
    ("bisoprolol", "bisoprolol", "oral bisoprolol for hypertension", "oral", "5", "mg",
     "once daily", "once daily", "hypertension",
     "FDA: initial dose 5 mg once daily; BNF: 5-10 mg once daily"),
    ("omeprazole", "omeprazole", "oral omeprazole for gastroesophageal reflux disease", "oral",
     "20", "mg", "once daily", "once daily", "gastroesophageal reflux disease",
     "BNF: 20 mg once daily for 4 weeks; FDA: 20 mg once daily"),
    ("lansoprazole", "lansoprazole", "oral lansoprazole for gastroesophageal reflux disease",
     "oral", "30", "mg", "once daily", "once daily", "gastroesophageal reflux disease",
     "BNF: 30 mg once daily for 4 weeks; FDA: 30 mg once daily (erosive esophagitis)"),
    ("pantoprazole", "pantoprazole", "oral pantoprazole for erosive esophagitis", "oral", "40",
     "mg", "once daily", "once daily", "erosive esophagitis",
     "FDA: 40 mg once daily for erosive esophagitis; BNF: 20-40 mg once daily"),
    ("sertraline", "sertraline", "oral sertraline for depression", "oral", "50", "mg",
     "once daily", "once daily", "depression", "BNF / FDA: initially 50 mg once daily"),
    ("fluoxetine", "fluoxetine", "oral fluoxetine for depression", "oral", "20", "mg",
     "once daily", "once daily", "depression", "BNF / FDA: 20 mg once daily"),
    ("citalopram", "citalopram", "oral citalopram for depression", "oral", "20", "mg",
     "once daily", "once daily", "depression", "BNF / FDA: 20 mg once daily (maximum 40 mg)"),
    ("levothyroxine", "levothyroxine", "oral levothyroxine for primary hypothyroidism", "oral", "100",
     "mcg", "once daily", "once daily", "hypothyroidism",
     "BNF: initially 50-100 micrograms once daily, usual maintenance 100-200 micrograms"),
    ("enoxaparin_prophylaxis", "enoxaparin",
     "subcutaneous enoxaparin for prevention of venous thromboembolism", "subcutaneous", "40",
     "mg", "once daily", "once daily", "prevention of venous thromboembolism",
     "BNF / FDA: 40 mg once daily"),
    ("enoxaparin_treatment", "enoxaparin",
     "subcutaneous enoxaparin for treatment of venous thromboembolism", "subcutaneous", "1.5",
     "mg/kg", "once daily", "once daily", "treatment of venous thromboembolism",
     "BNF: 1.5 mg/kg once daily (1 mg/kg twice daily in higher-risk patients); FDA: 1.5 mg/kg "
     "once daily (inpatient)"),
    ("heparin_prophylaxis", "heparin",
     "subcutaneous unfractionated heparin for prevention of venous thromboembolism",
     "subcutaneous", "5000", "units", "twice daily", "every 12 hours",
     "prevention of venous thromboembolism",
     "BNF: 5000 units every 12 hours; FDA: 5000 units every 8-12 hours"),
    ("dalteparin_prophylaxis", "dalteparin",
     "subcutaneous dalteparin for prevention of venous thromboembolism in medical patients",
     "subcutaneous", "5000", "units", "once daily", "once daily",
     "prevention of venous thromboembolism in medical patients",
     "BNF / FDA: 5000 units once daily"),
    ("apixaban_af", "apixaban", "oral apixaban for nonvalvular atrial fibrillation",
     "oral", "5", "mg", "twice daily", "twice daily", "stroke prevention in atrial fibrillation",
     "BNF / FDA: 5 mg twice daily"),
    ("apixaban_arthroplasty", "apixaban",
     "oral apixaban for prophylaxis after hip or knee replacement", "oral", "2.5", "mg",
     "twice daily", "twice daily", "thromboprophylaxis after hip or knee replacement",
     "BNF / FDA: 2.5 mg twice daily"),
    ("rivaroxaban_af", "rivaroxaban",
     "oral rivaroxaban for stroke prevention in atrial fibrillation", "oral", "20", "mg",
     "once daily", "once daily", "stroke prevention in atrial fibrillation",
     "BNF / FDA: 20 mg once daily with food (15 mg if creatinine clearance 15-49 mL/min)"),
    ("clopidogrel", "clopidogrel", "oral clopidogrel", "oral", "75", "mg", "once daily",
     "once daily", "prevention of atherothrombotic events", "BNF / FDA: 75 mg once daily"),
    ("ceftriaxone", "ceftriaxone", "intravenous ceftriaxone", "intravenous", "1", "g",
     "once daily", "once daily", "bacterial infections",
     "BNF: 1 g once daily (2-4 g daily in severe infection)"),
    ("meropenem", "meropenem", "intravenous meropenem for hospital-acquired pneumonia", "intravenous", "1", "g",
     "three times daily", "every 8 hours", "serious bacterial infections",
     "BNF: 0.5-1 g every 8 hours; FDA: 1 g every 8 hours (intra-abdominal infection)"),
    ("flucloxacillin", "flucloxacillin", "oral flucloxacillin for cellulitis", "oral", "500", "mg",
     "four times daily", "four times daily", "staphylococcal infections",
     "BNF: 500 mg every 6 hours (up to 1 g every 6 hours)"),
    ("phenoxymethylpenicillin", "phenoxymethylpenicillin", "oral phenoxymethylpenicillin",
     "oral", "500", "mg", "four times daily", "four times daily", "streptococcal infections",
     "BNF: 500 mg every 6 hours (1 g in severe infection)"),
    ("aciclovir_herpes_simplex", "aciclovir", "oral aciclovir for herpes simplex infection", "oral",
     "200", "mg", "five times daily", "five times daily", "herpes simplex",
     "BNF: 200 mg 5 times daily, usually for 5 days; FDA (Zovirax): 200 mg every 4 hours, "
     "5 times daily"),
    ("aciclovir_shingles", "aciclovir", "oral aciclovir for herpes zoster", "oral", "800", "mg",
     "five times daily", "five times daily", "herpes zoster",
     "BNF: 800 mg 5 times daily for 7 days; FDA (Zovirax): 800 mg every 4 hours, 5 times daily"),
    ("oseltamivir", "oseltamivir", "oral oseltamivir for treatment of influenza", "oral", "75",
     "mg", "twice daily", "twice daily", "influenza", "BNF / FDA: 75 mg twice daily for 5 days"),
    ("cetirizine", "cetirizine", "oral cetirizine", "oral", "10", "mg", "once daily",
     "once daily", "allergic rhinitis", "BNF / FDA: 10 mg once daily"),
    ("loratadine", "loratadine", "oral loratadine", "oral", "10", "mg", "once daily",
     "once daily", "allergic rhinitis", "BNF / FDA: 10 mg once daily"),
    ("fexofenadine_urticaria", "fexofenadine", "oral fexofenadine for chronic urticaria", "oral",
     "180", "mg", "once daily", "once daily", "chronic idiopathic urticaria",
     "BNF / FDA: 180 mg once daily"),
    ("sumatriptan_oral", "sumatriptan", "oral sumatriptan tablets for migraine", "oral", "50", "mg",
     "as needed", None, "acute migraine",
     "BNF: 50 mg (up to 100 mg) at onset, repeated after 2 hours if the migraine recurs; FDA: "
     "25, 50 or 100 mg"),
    ("sumatriptan_subcutaneous", "sumatriptan", "subcutaneous sumatriptan for migraine",
     "subcutaneous", "6", "mg", "as needed", None, "acute migraine",
     "BNF / FDA: 6 mg by subcutaneous injection at onset, repeated after 1 hour if the "
     "migraine recurs"),
    ("finasteride_bph", "finasteride",
     "oral finasteride for benign prostatic hyperplasia", "oral", "5", "mg", "once daily",
     "once daily", "benign prostatic hyperplasia", "BNF / FDA: 5 mg once daily"),
    ("finasteride_hair_loss", "finasteride", "oral finasteride for male-pattern hair loss",
     "oral", "1", "mg", "once daily", "once daily", "male-pattern hair loss",
     "BNF / FDA: 1 mg once daily"),
    ("sildenafil_ed", "sildenafil", "oral sildenafil for erectile dysfunction", "oral", "50",
     "mg", "as needed", "as needed",
     "erectile dysfunction", "BNF / FDA: 50 mg about 1 hour before sexual activity"),
    ("sildenafil_pah", "sildenafil",
     "oral sildenafil for pulmonary arterial hypertension", "oral", "20", "mg",
     "three times daily", "three times daily", "pulmonary arterial hypertension",
     "BNF / FDA (Revatio): 20 mg three times daily"),
    ("tadalafil_ed", "tadalafil", "oral tadalafil taken on demand for erectile dysfunction", "oral", "10", "mg",
     "as needed", "as needed", "erectile dysfunction",
     "BNF / FDA: 10 mg before sexual activity (as needed)"),
    ("tadalafil_bph", "tadalafil", "oral tadalafil taken daily for prostatic hyperplasia", "oral",
     "5", "mg", "once daily", "once daily", "benign prostatic hyperplasia",
     "BNF / FDA: 5 mg once daily"),
    ("tamsulosin", "tamsulosin", "oral tamsulosin for prostate enlargement", "oral",
     "400", "mcg", "once daily", "once daily", "benign prostatic hyperplasia",
     "BNF: 400 micrograms once daily; FDA: 0.4 mg once daily"),
    ("methotrexate_ra", "methotrexate", "oral methotrexate for rheumatoid arthritis", "oral",
     "7.5", "mg", "once weekly", "once weekly", "rheumatoid arthritis",
     "BNF / FDA: initially 7.5 mg once weekly"),
    ("alendronic_acid", "alendronic acid",
     "oral alendronic acid for postmenopausal osteoporosis", "oral", "70", "mg", "once weekly",
     "once weekly", "postmenopausal osteoporosis", "BNF / FDA: 70 mg once weekly"),
    ("semaglutide", "semaglutide",
     "subcutaneous semaglutide for starting treatment in type 2 diabetes", "subcutaneous",
     "0.25", "mg", "once weekly", "once weekly", "type 2 diabetes",
     "FDA (Ozempic) / BNF: start 0.25 mg once weekly for 4 weeks"),
    ("liraglutide", "liraglutide",
     "subcutaneous liraglutide for starting treatment in type 2 diabetes", "subcutaneous",
     "0.6", "mg", "once daily", "once daily", "type 2 diabetes",
     "FDA (Victoza) / BNF: start 0.6 mg once daily for at least 1 week"),
    ("sitagliptin", "sitagliptin", "oral sitagliptin for type 2 diabetes", "oral", "100", "mg",
     "once daily", "once daily", "type 2 diabetes", "BNF / FDA: 100 mg once daily"),
    ("empagliflozin", "empagliflozin", "oral empagliflozin for type 2 diabetes mellitus", "oral", "10",
     "mg", "once daily", "once daily", "type 2 diabetes",
     "BNF / FDA: 10 mg once daily (may increase to 25 mg)"),
    ("allopurinol", "allopurinol", "oral allopurinol for gout prophylaxis", "oral", "100", "mg",
     "once daily", "once daily", "prophylaxis of gout",
     "BNF / FDA: initially 100 mg once daily, adjusted to serum urate"),
    ("furosemide", "furosemide", "oral furosemide for edema", "oral", "40", "mg",
     "once daily", "once daily", "edema", "BNF: initially 40 mg once daily in the morning"),
    ("donepezil", "donepezil", "oral donepezil for Alzheimer's disease", "oral", "5", "mg",
     "once daily", "once daily", "Alzheimer's disease",
     "BNF / FDA: initially 5 mg once daily at bedtime, increased to 10 mg"),
    ("zopiclone", "zopiclone", "oral zopiclone for insomnia", "oral", "7.5", "mg",
     "once daily", "at bedtime", "insomnia", "BNF: 7.5 mg at bedtime (3.75 mg in the elderly)"),
    ("varenicline", "varenicline", "oral varenicline for smoking cessation", "oral", "1", "mg",
     "twice daily", "twice daily", "smoking cessation",
     "BNF / FDA: 1 mg twice daily from day 8, after titration"),
    ("metoclopramide", "metoclopramide", "oral metoclopramide for nausea and vomiting", "oral",
     "10", "mg", "three times daily", "up to three times daily", "nausea and vomiting",
     "BNF / EMA: 10 mg up to 3 times daily, maximum 30 mg daily, for up to 5 days"),
    ("ondansetron_ponv", "ondansetron",
     "intravenous ondansetron for prevention of postoperative nausea and vomiting",
     "intravenous", "4", "mg", "single dose", None,
     "prevention of postoperative nausea and vomiting",
     "BNF / FDA: 4 mg as a single dose at induction of anesthesia"),
    ("loperamide", "loperamide", "oral loperamide for acute diarrhea", "oral", "4", "mg",
     "as needed", None, "acute diarrhea",
     "BNF / FDA: initially 4 mg, then 2 mg after each loose stool (maximum 16 mg daily)"),
    ("lactulose", "lactulose", "oral lactulose for constipation", "oral", "15", "mL",
     "twice daily", "twice daily", "constipation",
     "BNF: initially 15 mL twice daily, adjusted to response"),
    ("hydroxocobalamin", "hydroxocobalamin",
     "intramuscular hydroxocobalamin for pernicious anemia", "intramuscular", "1", "mg",
     "every 3 months", "every 3 months", "pernicious anemia",
     "BNF: 1 mg three times a week for 2 weeks, then 1 mg every 3 months"),
    ("folic_acid_pregnancy", "folic acid",
     "oral folic acid for neural tube defect prevention", "oral", "400", "mcg",
     "once daily", "once daily", "prevention of neural tube defects",
     "BNF: 400 micrograms once daily before conception until week 12; WHO / CDC: 400 micrograms "
     "daily"),
    ("epinephrine_anaphylaxis", "epinephrine",
     "intramuscular epinephrine 1 mg/mL for anaphylaxis", "intramuscular", "0.5", "mL",
     "single dose", None, "anaphylaxis",
     "RCUK 2021 / BNF: 500 micrograms = 0.5 mL of 1 mg/mL (1 in 1000) intramuscularly, "
     "repeated after 5 minutes if needed"),
    ("epinephrine_cardiac_arrest", "epinephrine", "intravenous epinephrine in cardiac arrest",
     "intravenous", "1", "mg", "every 3 to 5 minutes", "every 3 to 5 minutes", "cardiac arrest",
     "RCUK 2021 / AHA 2020: 1 mg intravenously every 3-5 minutes"),
    ("amiodarone_cardiac_arrest", "amiodarone",
     "intravenous amiodarone in shock-refractory cardiac arrest", "intravenous", "300", "mg",
     "single dose", None, "shock-refractory VF/pulseless VT",
     "RCUK 2021 / AHA 2020: 300 mg intravenous bolus (after the third shock)"),
    ("naloxone", "naloxone", "intravenous naloxone for opioid overdose", "intravenous", "400",
     "mcg", "single dose", None, "opioid overdose",
     "BNF: initially 400 micrograms intravenously, repeated if needed"),
    ("glucagon", "glucagon", "intramuscular glucagon for severe hypoglycemia", "intramuscular",
     "1", "mg", "single dose", None, "severe hypoglycemia", "BNF / FDA (GlucaGen): 1 mg"),
    ("hydrocortisone_adrenal_crisis", "hydrocortisone",
     "intravenous hydrocortisone for adrenal crisis", "intravenous", "100", "mg",
     "single dose", None, "adrenal crisis",
     "BNF / Society for Endocrinology: 100 mg intravenously, then 200 mg per 24 hours"),
    ("magnesium_sulfate_eclampsia", "magnesium sulfate",
     "intravenous magnesium sulfate loading dose for eclampsia", "intravenous", "4", "g",
     "single dose", None, "eclampsia",
     "WHO / BNF: 4 g intravenously over 5-15 minutes, then 1 g per hour for 24 hours"),
    ("cefazolin_prophylaxis", "cefazolin",
     "intravenous cefazolin for surgical antibiotic prophylaxis", "intravenous", "2", "g",
     "single dose", None, "surgical antibiotic prophylaxis",
     "ASHP/IDSA/SIS/SHEA 2013 guideline: 2 g within 60 minutes before incision (3 g if "
     "120 kg or more)"),
    ("tranexamic_acid_trauma", "tranexamic acid",
     "intravenous tranexamic acid for major trauma", "intravenous", "1", "g",
     "single dose", None, "major trauma hemorrhage",
     "CRASH-2 / BNF: 1 g over 10 minutes, then 1 g infused over 8 hours"),
    ("activated_charcoal", "activated charcoal", "oral activated charcoal for poisoning",
     "oral", "50", "g", "single dose", None, "acute poisoning", "BNF: 50 g as a single dose"),
    ("oxytocin_pph", "oxytocin",
     "intramuscular oxytocin for prevention of postpartum hemorrhage", "intramuscular", "10",
     "units", "single dose", None, "prevention of postpartum hemorrhage",
     "WHO 2018 recommendation / NICE intrapartum care: 10 units intramuscularly after birth"),
    ("sodium_chloride_bolus", "sodium chloride 0.9%",
     "intravenous sodium chloride 0.9% given as a fluid bolus", "intravenous", "500", "mL",
     "single dose", None, "fluid resuscitation",
     "NICE CG174: 500 mL of crystalloid (sodium chloride 0.9%) over less than 15 minutes"),
    ("salbutamol_nebulized", "salbutamol", "nebulized salbutamol for acute asthma", "inhaled",
     "5", "mg", "as needed", None, "acute asthma",
     "BNF: 5 mg by nebulizer, repeated every 20-30 minutes if required"),
    ("ipratropium_nebulized", "ipratropium", "nebulized ipratropium for acute asthma",
     "inhaled", "500", "mcg", "every 4 to 6 hours", "every 4 to 6 hours", "acute asthma",
     "BNF: 500 micrograms by nebulizer every 4-6 hours if required"),
]

FREQUENCIES = (
    "once daily", "twice daily", "two or three times daily", "three times daily",
    "three or four times daily", "four times daily", "five times daily", "every 4 to 6 hours",
    "every 3 to 5 minutes", "once weekly", "every 3 months", "as needed", "single dose",
)

TEMPLATES = {
    "t0": "The usual adult dose of {dp} is {amount}",
    "t1": "For an adult, the standard dose of {dp} is",
    "t2": "How many {unit_long} of {dp} make up one usual adult dose? Answer:",
    "t3": "An adult is usually given {amount} {unit_short} of {dp}",
}

# Activation-patching pairs: (template, clean key, corrupted key).
# t0 pairs: two drugs with the same amount but different units (only the drug phrase changes);
# t1/t2 pairs: the same drug for two indications or routes with different amounts.
PAIRS = [
    # t0: unit pairs with equal amounts
    ("t0", "insulin_glargine", "empagliflozin"), ("t0", "empagliflozin", "insulin_glargine"),
    ("t0", "tadalafil_ed", "insulin_glargine"),
    ("t0", "tamsulosin", "ibuprofen"), ("t0", "ibuprofen", "tamsulosin"),
    ("t0", "folic_acid_pregnancy", "ibuprofen"), ("t0", "naloxone", "ibuprofen"),
    ("t0", "ipratropium_nebulized", "metformin"), ("t0", "metformin", "ipratropium_nebulized"),
    ("t0", "amoxicillin", "ipratropium_nebulized"),
    ("t0", "flucloxacillin", "ipratropium_nebulized"),
    ("t0", "paracetamol", "glucagon"), ("t0", "glucagon", "paracetamol"),
    ("t0", "varenicline", "paracetamol"), ("t0", "tranexamic_acid_trauma", "glucagon"),
    ("t0", "ceftriaxone", "epinephrine_cardiac_arrest"),
    ("t0", "epinephrine_cardiac_arrest", "ceftriaxone"),
    ("t0", "meropenem", "finasteride_hair_loss"), ("t0", "finasteride_hair_loss", "meropenem"),
    ("t0", "levothyroxine", "allopurinol"), ("t0", "allopurinol", "levothyroxine"),
    ("t0", "hydrocortisone_adrenal_crisis", "levothyroxine"),
    # t1: same drug, other indication or route, other amount (both directions)
    ("t1", "atorvastatin_primary", "atorvastatin_secondary"),
    ("t1", "atorvastatin_secondary", "atorvastatin_primary"),
    ("t1", "apixaban_af", "apixaban_arthroplasty"), ("t1", "apixaban_arthroplasty", "apixaban_af"),
    ("t1", "aciclovir_herpes_simplex", "aciclovir_shingles"),
    ("t1", "aciclovir_shingles", "aciclovir_herpes_simplex"),
    ("t1", "finasteride_bph", "finasteride_hair_loss"),
    ("t1", "finasteride_hair_loss", "finasteride_bph"),
    ("t1", "sildenafil_ed", "sildenafil_pah"), ("t1", "sildenafil_pah", "sildenafil_ed"),
    ("t1", "tadalafil_ed", "tadalafil_bph"), ("t1", "tadalafil_bph", "tadalafil_ed"),
    ("t1", "sumatriptan_oral", "sumatriptan_subcutaneous"),
    ("t1", "sumatriptan_subcutaneous", "sumatriptan_oral"),
    ("t1", "enoxaparin_prophylaxis", "enoxaparin_treatment"),
    ("t1", "enoxaparin_treatment", "enoxaparin_prophylaxis"),
    # t2: same drug and unit, other indication or route, other amount
    ("t2", "atorvastatin_secondary", "atorvastatin_primary"),
    ("t2", "apixaban_af", "apixaban_arthroplasty"),
    ("t2", "aciclovir_shingles", "aciclovir_herpes_simplex"),
    ("t2", "finasteride_bph", "finasteride_hair_loss"),
    ("t2", "sildenafil_ed", "sildenafil_pah"),
    ("t2", "tadalafil_ed", "tadalafil_bph"),
    ("t2", "sumatriptan_oral", "sumatriptan_subcutaneous"),
]

Dose = collections.namedtuple(
    "Dose", "key drug phrase route amount unit frequency frequency_answer indication source")


def doses():
    return [Dose(*row) for row in DOSES]


def build_items():
    items = []
    by_key = {}
    for d in doses():
        short, long_ = UNITS[d.unit]
        answers = {"t0": " " + short, "t1": " " + d.amount, "t2": " " + d.amount}
        if d.frequency_answer:
            answers["t3"] = " " + d.frequency_answer
        for template, frame in TEMPLATES.items():
            if template not in answers:
                continue
            item = common.make_item(
                DOMAIN, d.key, template,
                frame.format(dp=d.phrase, amount=d.amount, unit_short=short, unit_long=long_),
                answers[template],
                {"drug": d.drug, "unit": d.unit, "route": d.route, "frequency": d.frequency,
                 "indication": d.indication, "amount": d.amount},
                "%s %s %s" % (d.phrase, d.amount, short), d.phrase, d.source)
            items.append(item)
            by_key[(template, d.key)] = item
    common.attach_pairs(by_key, (((t, clean), (t, corrupt)) for t, clean, corrupt in PAIRS))
    return items


# ---------------------------------------------------------------------------------------------
# Self-check (runs every time the script runs, before anything is written).
# ---------------------------------------------------------------------------------------------

def self_check(items):
    ds = doses()
    keys = [d.key for d in ds]
    assert len(keys) == len(set(keys)), "duplicate key"
    assert len({d.phrase for d in ds}) == len(ds), "two doses share a drug phrase"
    assert len(ds) >= 40, "need at least 40 drug-dose items"
    for d in ds:
        assert d.unit in UNITS, d.unit
        float(d.amount)  # amounts are plain numbers
        assert d.route in ("oral", "intravenous", "intramuscular", "subcutaneous", "inhaled")
        assert d.drug in d.phrase, d.key
        assert d.source and d.indication and d.frequency, d.key
        assert d.frequency in FREQUENCIES, d.key
        if d.frequency_answer is None:
            assert d.frequency in ("as needed", "single dose"), d.key
    assert len({d.unit for d in ds}) >= 5
    common.check_items(items, DOMAIN)
    phrases = {d.phrase for d in ds}
    for it in items:
        for label in ("drug", "unit", "route", "frequency"):
            assert it["labels"].get(label), (it["id"], label)
        assert it["prompt"].count(it["span"]) == 1, it["id"]
        if it["template"] == "t0":
            assert it["prompt"].endswith(" " + it["labels"]["amount"])
            assert it["answer"] == " " + UNITS[it["labels"]["unit"]][0]
        if "pair" in it:
            # only the drug phrase changes: the frames around the span are identical
            assert common.corrupted_span(it) in phrases, \
                "corruption changes more than the drug phrase: " + it["id"]
    common.check_templates_per_concept(items, 3, "dose")
    n_pairs = common.count_pairs(items, 25)
    assert len({(t, c) for t, c, _ in PAIRS}) == len(PAIRS), "one pair per item"
    return n_pairs


def main():
    items = build_items()
    n_pairs = self_check(items)
    common.write_jsonl(OUT_PATH, items)
    print("wrote %d items (%d drug-dose facts, %d pairs) to %s"
          % (len(items), len(DOSES), n_pairs, os.path.relpath(OUT_PATH)), file=sys.stderr)


if __name__ == "__main__":
    main()
