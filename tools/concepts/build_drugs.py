#!/usr/bin/env python3
"""Build the drug concept set (src/medmap/concepts/data/drugs.jsonl).

Each drug carries two labels: its pharmacological class (`mechanism`) and the medical specialty
of its main use (`specialty`). The table is built so that the two labelings cross: most classes
span several specialties (beta blockers in cardiology and ophthalmology, opioid agonists in pain
medicine, anesthesia, gastroenterology and psychiatry, sodium channel blockers in neurology,
anesthesia and cardiology, ...) and most specialties hold several classes. Otherwise a
silhouette "by mechanism" and "by specialty" could not be told apart.

Drug names are WHO INNs (BNF names where the INN is unusual in English: hyoscine butylbromide).
`source` gives the WHO ATC code of the drug in its main use. A drug was only included where its
main use, and so its specialty, is clear; see SOURCES_progression_drugs_dosage.md for the
judgement calls and the mechanism x specialty table.

Templates (answer in brackets):
    t0  "The drug X is mainly used in the medical specialty of"  [ specialty]
    t1  "Pharmacologically, the drug X belongs to the class of"  [ class, plural]
    t2  "The main indication for the drug X is"                  [ main indication]

Standard library only; output is byte-stable across runs and written atomically.
Run:  python tools/concepts/build_drugs.py
"""

import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script or imported
import _common as common  # noqa: E402

DOMAIN = "drugs"
OUT_PATH = str(common.out_path(DOMAIN))

# Pharmacological class (label) -> how the class is named as an answer (plural).
CLASSES = {
    "beta blocker": "beta blockers",
    "ACE inhibitor": "ACE inhibitors",
    "calcium channel blocker": "calcium channel blockers",
    "statin": "statins",
    "SSRI": "selective serotonin reuptake inhibitors",
    "proton pump inhibitor": "proton pump inhibitors",
    "corticosteroid": "corticosteroids",
    "NSAID": "nonsteroidal anti-inflammatory drugs",
    "opioid agonist": "opioid agonists",
    "benzodiazepine": "benzodiazepines",
    "H1 antihistamine": "antihistamines",
    "DPP-4 inhibitor": "DPP-4 inhibitors",
    "monoclonal antibody": "monoclonal antibodies",
    "sodium channel blocker": "sodium channel blockers",
    "dopamine agonist": "dopamine agonists",
    "dopamine antagonist": "dopamine antagonists",
    "antimuscarinic": "antimuscarinics",
    "cholinesterase inhibitor": "cholinesterase inhibitors",
    "beta-lactam antibiotic": "beta-lactam antibiotics",
    "JAK inhibitor": "JAK inhibitors",
    "azole antifungal": "azole antifungals",
}

SPECIALTIES = (
    "cardiology", "psychiatry", "neurology", "gastroenterology", "rheumatology", "pulmonology",
    "dermatology", "ophthalmology", "infectious diseases", "endocrinology", "oncology",
    "anesthesia", "pain medicine", "urology", "allergy",
)

# (drug, class, specialty of main use, WHO ATC code for that use, main indication)
DRUGS = [
    # --- cardiology ---
    ("metoprolol", "beta blocker", "cardiology", "C07AB02", "hypertension"),
    ("bisoprolol", "beta blocker", "cardiology", "C07AB07", "heart failure"),
    ("carvedilol", "beta blocker", "cardiology", "C07AG02", "heart failure"),
    ("ramipril", "ACE inhibitor", "cardiology", "C09AA05", "hypertension"),
    ("lisinopril", "ACE inhibitor", "cardiology", "C09AA03", "hypertension"),
    ("enalapril", "ACE inhibitor", "cardiology", "C09AA02", "hypertension"),
    ("amlodipine", "calcium channel blocker", "cardiology", "C08CA01", "hypertension"),
    ("diltiazem", "calcium channel blocker", "cardiology", "C08DB01", "angina"),
    ("atorvastatin", "statin", "cardiology", "C10AA05", "hypercholesterolemia"),
    ("simvastatin", "statin", "cardiology", "C10AA01", "hypercholesterolemia"),
    ("rosuvastatin", "statin", "cardiology", "C10AA07", "hypercholesterolemia"),
    ("flecainide", "sodium channel blocker", "cardiology", "C01BC04", "cardiac arrhythmias"),
    ("propafenone", "sodium channel blocker", "cardiology", "C01BC03", "cardiac arrhythmias"),
    ("evolocumab", "monoclonal antibody", "cardiology", "C10AX13", "hypercholesterolemia"),
    ("alirocumab", "monoclonal antibody", "cardiology", "C10AX14", "hypercholesterolemia"),
    # --- psychiatry ---
    ("fluoxetine", "SSRI", "psychiatry", "N06AB03", "depression"),
    ("sertraline", "SSRI", "psychiatry", "N06AB06", "depression"),
    ("citalopram", "SSRI", "psychiatry", "N06AB04", "depression"),
    ("escitalopram", "SSRI", "psychiatry", "N06AB10", "depression"),
    ("alprazolam", "benzodiazepine", "psychiatry", "N05BA12", "anxiety"),
    ("oxazepam", "benzodiazepine", "psychiatry", "N05BA04", "anxiety"),
    ("chlordiazepoxide", "benzodiazepine", "psychiatry", "N05BA02", "alcohol withdrawal"),
    ("haloperidol", "dopamine antagonist", "psychiatry", "N05AD01", "schizophrenia"),
    ("chlorpromazine", "dopamine antagonist", "psychiatry", "N05AA01", "schizophrenia"),
    ("methadone", "opioid agonist", "psychiatry", "N07BC02", "opioid dependence"),
    # --- neurology ---
    ("nimodipine", "calcium channel blocker", "neurology", "C08CA06",
     "subarachnoid hemorrhage"),
    ("carbamazepine", "sodium channel blocker", "neurology", "N03AF01", "epilepsy"),
    ("phenytoin", "sodium channel blocker", "neurology", "N03AB02", "epilepsy"),
    ("lacosamide", "sodium channel blocker", "neurology", "N03AX18", "epilepsy"),
    ("oxcarbazepine", "sodium channel blocker", "neurology", "N03AF02", "epilepsy"),
    ("clobazam", "benzodiazepine", "neurology", "N05BA09", "epilepsy"),
    ("pramipexole", "dopamine agonist", "neurology", "N04BC05", "Parkinson's disease"),
    ("ropinirole", "dopamine agonist", "neurology", "N04BC04", "Parkinson's disease"),
    ("trihexyphenidyl", "antimuscarinic", "neurology", "N04AA01", "parkinsonism"),
    ("donepezil", "cholinesterase inhibitor", "neurology", "N06DA02", "Alzheimer's disease"),
    ("rivastigmine", "cholinesterase inhibitor", "neurology", "N06DA03",
     "Alzheimer's disease"),
    ("pyridostigmine", "cholinesterase inhibitor", "neurology", "N07AA02",
     "myasthenia gravis"),
    ("erenumab", "monoclonal antibody", "neurology", "N02CD01", "migraine prevention"),
    ("natalizumab", "monoclonal antibody", "neurology", "L04AG03", "multiple sclerosis"),
    ("ocrelizumab", "monoclonal antibody", "neurology", "L04AG08", "multiple sclerosis"),
    # --- gastroenterology ---
    ("omeprazole", "proton pump inhibitor", "gastroenterology", "A02BC01",
     "gastroesophageal reflux disease"),
    ("lansoprazole", "proton pump inhibitor", "gastroenterology", "A02BC03",
     "gastroesophageal reflux disease"),
    ("pantoprazole", "proton pump inhibitor", "gastroenterology", "A02BC02",
     "gastroesophageal reflux disease"),
    ("esomeprazole", "proton pump inhibitor", "gastroenterology", "A02BC05",
     "gastroesophageal reflux disease"),
    ("loperamide", "opioid agonist", "gastroenterology", "A07DA03", "diarrhea"),
    ("metoclopramide", "dopamine antagonist", "gastroenterology", "A03FA01",
     "nausea and vomiting"),
    ("domperidone", "dopamine antagonist", "gastroenterology", "A03FA03",
     "nausea and vomiting"),
    ("hyoscine butylbromide", "antimuscarinic", "gastroenterology", "A03BB01",
     "abdominal cramps"),
    ("vedolizumab", "monoclonal antibody", "gastroenterology", "L04AG05",
     "ulcerative colitis"),
    # --- rheumatology ---
    ("celecoxib", "NSAID", "rheumatology", "M01AH01", "osteoarthritis"),
    ("etoricoxib", "NSAID", "rheumatology", "M01AH05", "osteoarthritis"),
    ("indometacin", "NSAID", "rheumatology", "M01AB01", "arthritis"),
    ("tocilizumab", "monoclonal antibody", "rheumatology", "L04AC07", "rheumatoid arthritis"),
    ("sarilumab", "monoclonal antibody", "rheumatology", "L04AC14", "rheumatoid arthritis"),
    ("tofacitinib", "JAK inhibitor", "rheumatology", "L04AF01", "rheumatoid arthritis"),
    ("baricitinib", "JAK inhibitor", "rheumatology", "L04AF02", "rheumatoid arthritis"),
    # --- pulmonology ---
    ("beclometasone", "corticosteroid", "pulmonology", "R03BA01", "asthma"),
    ("ciclesonide", "corticosteroid", "pulmonology", "R03BA08", "asthma"),
    ("omalizumab", "monoclonal antibody", "pulmonology", "R03DX05", "allergic asthma"),
    ("mepolizumab", "monoclonal antibody", "pulmonology", "R03DX09", "eosinophilic asthma"),
    ("benralizumab", "monoclonal antibody", "pulmonology", "R03DX10", "eosinophilic asthma"),
    ("tiotropium", "antimuscarinic", "pulmonology", "R03BB04", "COPD"),
    ("ipratropium", "antimuscarinic", "pulmonology", "R03BB01", "COPD"),
    ("umeclidinium", "antimuscarinic", "pulmonology", "R03BB07", "COPD"),
    # --- dermatology ---
    ("clobetasol", "corticosteroid", "dermatology", "D07AD01", "psoriasis and eczema"),
    ("dupilumab", "monoclonal antibody", "dermatology", "D11AH05", "atopic dermatitis"),
    ("tralokinumab", "monoclonal antibody", "dermatology", "D11AH07", "atopic dermatitis"),
    ("abrocitinib", "JAK inhibitor", "dermatology", "D11AH08", "atopic dermatitis"),
    ("clotrimazole", "azole antifungal", "dermatology", "D01AC01", "fungal skin infections"),
    ("econazole", "azole antifungal", "dermatology", "D01AC03", "fungal skin infections"),
    # --- ophthalmology ---
    ("timolol", "beta blocker", "ophthalmology", "S01ED01", "glaucoma"),
    ("levobunolol", "beta blocker", "ophthalmology", "S01ED03", "glaucoma"),
    ("carteolol", "beta blocker", "ophthalmology", "S01ED05", "glaucoma"),
    ("nepafenac", "NSAID", "ophthalmology", "S01BC10", "inflammation after cataract surgery"),
    ("bromfenac", "NSAID", "ophthalmology", "S01BC11", "inflammation after cataract surgery"),
    ("olopatadine", "H1 antihistamine", "ophthalmology", "S01GX09",
     "allergic conjunctivitis"),
    ("ranibizumab", "monoclonal antibody", "ophthalmology", "S01LA04",
     "wet age-related macular degeneration"),
    ("tropicamide", "antimuscarinic", "ophthalmology", "S01FA06", "pupil dilation"),
    ("cyclopentolate", "antimuscarinic", "ophthalmology", "S01FA04", "pupil dilation"),
    # --- infectious diseases ---
    ("amoxicillin", "beta-lactam antibiotic", "infectious diseases", "J01CA04",
     "bacterial infections"),
    ("flucloxacillin", "beta-lactam antibiotic", "infectious diseases", "J01CF05",
     "staphylococcal infections"),
    ("ceftriaxone", "beta-lactam antibiotic", "infectious diseases", "J01DD04",
     "serious bacterial infections"),
    ("meropenem", "beta-lactam antibiotic", "infectious diseases", "J01DH02",
     "serious bacterial infections"),
    ("fluconazole", "azole antifungal", "infectious diseases", "J02AC01", "candidiasis"),
    ("voriconazole", "azole antifungal", "infectious diseases", "J02AC03",
     "invasive aspergillosis"),
    ("palivizumab", "monoclonal antibody", "infectious diseases", "J06BD01",
     "prevention of RSV infection"),
    # --- endocrinology ---
    ("sitagliptin", "DPP-4 inhibitor", "endocrinology", "A10BH01", "type 2 diabetes"),
    ("linagliptin", "DPP-4 inhibitor", "endocrinology", "A10BH05", "type 2 diabetes"),
    ("saxagliptin", "DPP-4 inhibitor", "endocrinology", "A10BH03", "type 2 diabetes"),
    ("alogliptin", "DPP-4 inhibitor", "endocrinology", "A10BH04", "type 2 diabetes"),
    ("fludrocortisone", "corticosteroid", "endocrinology", "H02AA02",
     "adrenal insufficiency"),
    ("cabergoline", "dopamine agonist", "endocrinology", "G02CB03", "hyperprolactinemia"),
    ("quinagolide", "dopamine agonist", "endocrinology", "G02CB04", "hyperprolactinemia"),
    # --- oncology ---
    ("trastuzumab", "monoclonal antibody", "oncology", "L01FD01",
     "HER2-positive breast cancer"),
    ("bevacizumab", "monoclonal antibody", "oncology", "L01FG01", "colorectal cancer"),
    ("pembrolizumab", "monoclonal antibody", "oncology", "L01FF02",
     "melanoma and lung cancer"),
    ("nivolumab", "monoclonal antibody", "oncology", "L01FF01", "melanoma and lung cancer"),
    ("cetuximab", "monoclonal antibody", "oncology", "L01FE01", "colorectal cancer"),
    ("ruxolitinib", "JAK inhibitor", "oncology", "L01EJ01", "myelofibrosis"),
    # --- anesthesia ---
    ("remifentanil", "opioid agonist", "anesthesia", "N01AH06",
     "analgesia during general anesthesia"),
    ("sufentanil", "opioid agonist", "anesthesia", "N01AH03",
     "analgesia during general anesthesia"),
    ("midazolam", "benzodiazepine", "anesthesia", "N05CD08", "sedation"),
    ("remimazolam", "benzodiazepine", "anesthesia", "N05CD14", "procedural sedation"),
    ("lidocaine", "sodium channel blocker", "anesthesia", "N01BB02", "local anesthesia"),
    ("bupivacaine", "sodium channel blocker", "anesthesia", "N01BB01", "regional anesthesia"),
    ("ropivacaine", "sodium channel blocker", "anesthesia", "N01BB09", "regional anesthesia"),
    ("neostigmine", "cholinesterase inhibitor", "anesthesia", "N07AA01",
     "reversal of neuromuscular blockade"),
    ("droperidol", "dopamine antagonist", "anesthesia", "N05AD08",
     "postoperative nausea and vomiting"),
    # --- pain medicine ---
    ("morphine", "opioid agonist", "pain medicine", "N02AA01", "severe pain"),
    ("oxycodone", "opioid agonist", "pain medicine", "N02AA05", "severe pain"),
    ("hydromorphone", "opioid agonist", "pain medicine", "N02AA03", "severe pain"),
    ("ibuprofen", "NSAID", "pain medicine", "M01AE01", "pain"),
    # --- urology ---
    ("dapoxetine", "SSRI", "urology", "G04BX14", "premature ejaculation"),
    ("oxybutynin", "antimuscarinic", "urology", "G04BD04", "overactive bladder"),
    ("solifenacin", "antimuscarinic", "urology", "G04BD08", "overactive bladder"),
    ("tolterodine", "antimuscarinic", "urology", "G04BD07", "overactive bladder"),
    # --- allergy ---
    ("cetirizine", "H1 antihistamine", "allergy", "R06AE07", "allergic rhinitis"),
    ("loratadine", "H1 antihistamine", "allergy", "R06AX13", "allergic rhinitis"),
    ("fexofenadine", "H1 antihistamine", "allergy", "R06AX26", "allergic rhinitis"),
]

TEMPLATES = {
    "t0": "The drug {drug} is mainly used in the medical specialty of",
    "t1": "Pharmacologically, the drug {drug} belongs to the class of",
    "t2": "The main indication for the drug {drug} is",
}

# Activation-patching pairs: (template, clean drug, corrupted drug).
# t0 pairs keep the class and change the specialty; t1 pairs keep the specialty and change the
# class. Every pair has drug names of equal SmolLM2-135M token count and answers whose first
# tokens differ (see SOURCES_progression_drugs_dosage.md).
PAIRS = [
    # t0: same class, different specialty
    ("t0", "timolol", "carvedilol"), ("t0", "carteolol", "metoprolol"),
    ("t0", "nimodipine", "amlodipine"), ("t0", "clobetasol", "beclometasone"),
    ("t0", "bromfenac", "celecoxib"), ("t0", "midazolam", "oxazepam"),
    ("t0", "clobazam", "midazolam"), ("t0", "remimazolam", "alprazolam"),
    ("t0", "olopatadine", "loratadine"), ("t0", "evolocumab", "erenumab"),
    ("t0", "sarilumab", "nivolumab"), ("t0", "natalizumab", "omalizumab"),
    ("t0", "dupilumab", "ranibizumab"), ("t0", "palivizumab", "trastuzumab"),
    ("t0", "vedolizumab", "tocilizumab"), ("t0", "flecainide", "phenytoin"),
    ("t0", "lidocaine", "lacosamide"), ("t0", "bupivacaine", "carbamazepine"),
    ("t0", "quinagolide", "pramipexole"), ("t0", "domperidone", "haloperidol"),
    ("t0", "droperidol", "domperidone"), ("t0", "tiotropium", "solifenacin"),
    ("t0", "cyclopentolate", "ipratropium"), ("t0", "tolterodine", "cyclopentolate"),
    ("t0", "neostigmine", "rivastigmine"), ("t0", "abrocitinib", "tofacitinib"),
    ("t0", "clotrimazole", "fluconazole"), ("t0", "econazole", "voriconazole"),
    # t1: same specialty, different class
    ("t1", "metoprolol", "lisinopril"), ("t1", "diltiazem", "simvastatin"),
    ("t1", "amlodipine", "atorvastatin"), ("t1", "flecainide", "bisoprolol"),
    ("t1", "fluoxetine", "haloperidol"), ("t1", "oxazepam", "sertraline"),
    ("t1", "phenytoin", "ropinirole"), ("t1", "carbamazepine", "pyridostigmine"),
    ("t1", "donepezil", "lacosamide"), ("t1", "omeprazole", "domperidone"),
    ("t1", "metoclopramide", "esomeprazole"), ("t1", "etoricoxib", "tofacitinib"),
    ("t1", "ciclesonide", "tiotropium"), ("t1", "omalizumab", "ipratropium"),
    ("t1", "dupilumab", "abrocitinib"), ("t1", "timolol", "tropicamide"),
    ("t1", "nepafenac", "levobunolol"), ("t1", "amoxicillin", "fluconazole"),
    ("t1", "sitagliptin", "quinagolide"), ("t1", "pembrolizumab", "ruxolitinib"),
    ("t1", "remifentanil", "bupivacaine"), ("t1", "midazolam", "droperidol"),
    ("t1", "morphine", "ibuprofen"), ("t1", "dapoxetine", "oxybutynin"),
    ("t1", "clobetasol", "tralokinumab"),
]


def slug(name):
    return name.replace(" ", "_").replace("-", "_")


def answer_for(template, drug):
    name, cls, specialty, atc, indication = drug
    if template == "t0":
        return " " + specialty
    if template == "t1":
        return " " + CLASSES[cls]
    return " " + indication


def build_items():
    items = []
    by_key = {}
    for drug in DRUGS:
        name, cls, specialty, atc, indication = drug
        for template, frame in TEMPLATES.items():
            item = common.make_item(DOMAIN, slug(name), template, frame.format(drug=name),
                             answer_for(template, drug), {"mechanism": cls, "specialty": specialty},
                             name, name, "WHO ATC %s; main indication: %s" % (atc, indication))
            items.append(item)
            by_key[(template, name)] = item
    common.attach_pairs(by_key, (((t, clean), (t, corrupt)) for t, clean, corrupt in PAIRS))
    return items


def contingency(drugs=DRUGS):
    """mechanism -> specialty -> count."""
    table = collections.OrderedDict((c, collections.Counter()) for c in CLASSES)
    for name, cls, specialty, atc, indication in drugs:
        table[cls][specialty] += 1
    return table


def contingency_markdown(drugs=DRUGS):
    """The mechanism x specialty table as Markdown (pasted into the SOURCES file)."""
    table = contingency(drugs)
    used = [s for s in SPECIALTIES if any(table[c][s] for c in table)]
    short = {"cardiology": "cardio", "psychiatry": "psych", "neurology": "neuro",
             "gastroenterology": "GI", "rheumatology": "rheum", "pulmonology": "pulm",
             "dermatology": "derm", "ophthalmology": "ophth", "infectious diseases": "ID",
             "endocrinology": "endo", "oncology": "onc", "anesthesia": "anesth",
             "pain medicine": "pain", "urology": "uro", "allergy": "allergy"}
    head = "| class \\ specialty | " + " | ".join(short[s] for s in used) + " | total |"
    lines = [head, "|" + " --- |" * (len(used) + 2)]
    for c in table:
        row = [str(table[c][s]) if table[c][s] else "." for s in used]
        lines.append("| %s | %s | %d |" % (c, " | ".join(row), sum(table[c].values())))
    totals = [str(sum(table[c][s] for c in table)) for s in used]
    lines.append("| total | %s | %d |" % (" | ".join(totals), len(drugs)))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Self-check (runs every time the script runs, before anything is written).
# ---------------------------------------------------------------------------------------------

def self_check(items):
    names = [d[0] for d in DRUGS]
    assert len(names) == len(set(names)), "duplicate drug"
    assert len(DRUGS) >= 80, "need at least 80 drugs"
    for name, cls, specialty, atc, indication in DRUGS:
        assert cls in CLASSES, cls
        assert specialty in SPECIALTIES, specialty
        assert len(atc) == 7 and atc[0].isalpha() and atc[1:3].isdigit(), atc
        assert atc[3:5].isalpha() and atc[5:7].isdigit(), atc
    table = contingency()
    used_classes = [c for c in table if sum(table[c].values())]
    used_specialties = {d[2] for d in DRUGS}
    assert len(used_classes) >= 8 and len(used_specialties) >= 8
    # the two labelings must cross: several classes in several specialties and vice versa
    multi_specialty_classes = [c for c in table if len(+table[c]) >= 2]
    assert len(multi_specialty_classes) >= 8, multi_specialty_classes
    per_specialty = collections.defaultdict(set)
    for name, cls, specialty, atc, indication in DRUGS:
        per_specialty[specialty].add(cls)
    assert sum(1 for s in per_specialty.values() if len(s) >= 2) >= 8
    common.check_items(items, DOMAIN, distinct_first_word=True)
    for it in items:
        if "pair" in it:
            # only the drug name changes
            assert common.corrupted_span(it) in names, it["id"]
    common.check_templates_per_concept(items, 3, "drug")
    n_pairs = common.count_pairs(items, 25)
    assert len({(t, c) for t, c, _ in PAIRS}) == len(PAIRS), "one pair per item"
    return n_pairs


def main():
    items = build_items()
    n_pairs = self_check(items)
    common.write_jsonl(OUT_PATH, items)
    if "--table" in sys.argv:
        print(contingency_markdown())
    print("wrote %d items (%d drugs x %d templates, %d classes, %d specialties, %d pairs) to %s"
          % (len(items), len(DRUGS), len(TEMPLATES), len({d[1] for d in DRUGS}),
             len({d[2] for d in DRUGS}), n_pairs, os.path.relpath(OUT_PATH)), file=sys.stderr)


if __name__ == "__main__":
    main()
