"""The facts behind the drug concept set (data only; built into drugs.jsonl by build_drugs.py).

Every row was checked by hand against the WHO ATC/DDD index (class, ATC code), the drug's
prescribing information (FDA label / UK SmPC, main indication) and, for the brand name, Drugs@FDA
(US) or the BNF / electronic Medicines Compendium (UK). The judgement calls (specialty of a drug
with several uses, class of a drug with an unusual mechanism) are listed in
src/medmap/concepts/data/SOURCES_drugs_dosage.md.
"""

# Specialty label values (the answer of t0 is " " + the label). Spelled as in diseases.jsonl
# ("infectious disease", singular); "anesthesia" and "pain medicine" have no disease category.
SPECIALTIES = (
    "cardiology", "hematology", "psychiatry", "neurology", "gastroenterology", "rheumatology",
    "pulmonology", "dermatology", "ophthalmology", "infectious disease", "endocrinology",
    "oncology", "anesthesia", "pain medicine", "urology", "allergy",
)

# Mechanism label -> (answer of t1: the class named as a clinician names it, plural;
#                     stems: WHO INN stems (or, marked "~", a substem shared by the class's INNs)
#                     whose presence in a name sets `stem: true`).
# A name "carries its class's stem" when it contains one of these strings (lower case); a stem
# written with a trailing "-" is a prefix stem and must start the name.
CLASSES = {
    "beta blocker": (" beta blockers", ("olol",)),
    "ACE inhibitor": (" ACE inhibitors", ("pril",)),
    "angiotensin receptor blocker": (" angiotensin receptor blockers", ("sartan",)),
    "calcium channel blocker": (" calcium channel blockers", ("dipine", "tiazem")),
    "statin": (" statins", ("vastatin",)),
    "diuretic": (" diuretics", ("semide", "etanide", "thiazide", "pamide")),
    "sodium channel blocker": (" sodium channel blockers", ("cain", "toin")),
    "anticoagulant": (" anticoagulants", ("xaban", "parin")),
    "antiplatelet": (" platelet aggregation inhibitors", ("grel", "fiban")),
    "SSRI": (" selective serotonin reuptake inhibitors", ("oxetine",)),
    "SNRI": (" serotonin-norepinephrine reuptake inhibitors", ("oxetine",)),
    "tricyclic antidepressant": (" tricyclic antidepressants", ("triptyline", "pramine")),
    "atypical antipsychotic": (" atypical antipsychotics", ("apine", "peridone", "piprazole")),
    "dopamine antagonist": (" dopamine antagonists", ("peridol", "promazine")),
    "benzodiazepine": (" benzodiazepines", ("azepam", "azolam")),
    "opioid agonist": (" opioid agonists", ("fentanil",)),
    "cholinesterase inhibitor": (" cholinesterase inhibitors", ("stigmine",)),
    "dopamine agonist": (" dopamine agonists", ("golide", "goline")),
    "antimuscarinic": (" muscarinic antagonists", ("tropium", "fenacin")),
    "adrenergic agonist": (" sympathomimetics", ("terol", "begron", "onidine")),
    "alpha-1 blocker": (" alpha blockers", ("azosin", "~osin")),
    "phosphodiesterase inhibitor": (" phosphodiesterase inhibitors", ("afil", "milast")),
    "prostaglandin analogue": (" prostaglandin analogues", ("prost",)),
    "NSAID": (" NSAIDs", ("coxib", "fenac", "profen", "metacin")),
    "H1 antihistamine": (" antihistamines", ("astine", "tadine", "izine")),
    "corticosteroid": (" corticosteroids", ("metasone", "onide", "cort", "pred")),
    "proton pump inhibitor": (" proton pump inhibitors", ("prazole",)),
    "SGLT2 inhibitor": (" SGLT2 inhibitors", ("gliflozin",)),
    "GLP-1 receptor agonist": (" glucagon-like peptide-1 receptor agonists", ("glutide",)),
    "insulin": (" insulin analogues", ("~insulin",)),
    "TNF inhibitor": (" tumor necrosis factor inhibitors", ("mab", "cept")),
    "IL-17/IL-23 inhibitor": (" interleukin-17 or interleukin-23 inhibitors", ("mab",)),
    "IL-4/IL-5/IL-13 inhibitor": (" interleukin-4, -5 or -13 inhibitors", ("mab",)),
    "anti-CD20 antibody": (" anti-CD20 antibodies", ("mab",)),
    "PD-1/PD-L1 inhibitor": (" immune checkpoint inhibitors", ("mab",)),
    "VEGF inhibitor": (" VEGF inhibitors", ("mab", "cept")),
    "tyrosine kinase inhibitor": (" tyrosine kinase inhibitors", ("tinib",)),
    "JAK inhibitor": (" JAK inhibitors", ("citinib", "tinib")),
    "nucleoside analogue": (" nucleoside analogues", ("ciclovir", "vudine", "citabine", "arabine", "cavir")),
    "antifolate": (" folate antagonists", ("trexed", "trexate", "prim")),
    "microtubule inhibitor": (" microtubule inhibitors", ("taxel", "vin-", "bendazole")),
    "beta-lactam antibiotic": (" beta-lactam antibiotics", ("cillin", "cef-", "penem")),
    "fluoroquinolone": (" fluoroquinolones", ("oxacin",)),
    "macrolide": (" macrolides", ("mycin", "micin")),
    "azole antifungal": (" azole antifungals", ("conazole",)),
}

# (INN, mechanism, specialty of main use, WHO ATC code for that use, main indication,
#  brand name or None, where the brand is from: "US" (Drugs@FDA) or "UK" (BNF / eMC)).
# Brand names are left out (None) where the drug has no well-known brand in either country.
DRUGS = [
    # --- beta blockers ---
    ("metoprolol", "beta blocker", "cardiology", "C07AB02", "hypertension", "Lopressor", "US"),
    ("bisoprolol", "beta blocker", "cardiology", "C07AB07", "hypertension", "Zebeta", "US"),
    ("timolol", "beta blocker", "ophthalmology", "S01ED01", "glaucoma", "Timoptic", "US"),
    ("levobunolol", "beta blocker", "ophthalmology", "S01ED03", "glaucoma", "Betagan", "US"),
    ("carteolol", "beta blocker", "ophthalmology", "S01ED05", "glaucoma", None, None),
    # --- ACE inhibitors ---
    ("ramipril", "ACE inhibitor", "cardiology", "C09AA05", "hypertension", "Altace", "US"),
    ("lisinopril", "ACE inhibitor", "cardiology", "C09AA03", "hypertension", "Zestril", "US"),
    ("enalapril", "ACE inhibitor", "cardiology", "C09AA02", "hypertension", "Vasotec", "US"),
    ("perindopril", "ACE inhibitor", "cardiology", "C09AA04", "hypertension", "Coversyl", "UK"),
    ("captopril", "ACE inhibitor", "cardiology", "C09AA01", "hypertension", "Capoten", "US"),
    # --- angiotensin receptor blockers ---
    ("losartan", "angiotensin receptor blocker", "cardiology", "C09CA01", "hypertension", "Cozaar", "US"),
    ("valsartan", "angiotensin receptor blocker", "cardiology", "C09CA03", "hypertension", "Diovan", "US"),
    ("candesartan", "angiotensin receptor blocker", "cardiology", "C09CA06", "hypertension", "Atacand", "US"),
    ("irbesartan", "angiotensin receptor blocker", "cardiology", "C09CA04", "hypertension", "Avapro", "US"),
    ("telmisartan", "angiotensin receptor blocker", "cardiology", "C09CA07", "hypertension", "Micardis", "US"),
    # --- calcium channel blockers (L-, T- and N-type) ---
    ("amlodipine", "calcium channel blocker", "cardiology", "C08CA01", "hypertension", "Norvasc", "US"),
    ("diltiazem", "calcium channel blocker", "cardiology", "C08DB01", "angina", "Cardizem", "US"),
    ("nimodipine", "calcium channel blocker", "neurology", "C08CA06", "subarachnoid hemorrhage", "Nimotop", "UK"),
    ("ethosuximide", "calcium channel blocker", "neurology", "N03AD01", "absence seizures", "Zarontin", "US"),
    ("ziconotide", "calcium channel blocker", "pain medicine", "N02BG08", "severe chronic pain", "Prialt", "US"),
    # --- statins ---
    ("atorvastatin", "statin", "cardiology", "C10AA05", "hypercholesterolemia", "Lipitor", "US"),
    ("simvastatin", "statin", "cardiology", "C10AA01", "hypercholesterolemia", "Zocor", "US"),
    ("rosuvastatin", "statin", "cardiology", "C10AA07", "hypercholesterolemia", "Crestor", "US"),
    ("pravastatin", "statin", "cardiology", "C10AA03", "hypercholesterolemia", "Pravachol", "US"),
    ("fluvastatin", "statin", "cardiology", "C10AA04", "hypercholesterolemia", "Lescol", "US"),
    # --- loop and thiazide(-like) diuretics ---
    ("furosemide", "diuretic", "cardiology", "C03CA01", "edema in heart failure", "Lasix", "US"),
    ("bumetanide", "diuretic", "cardiology", "C03CA02", "edema in heart failure", "Bumex", "US"),
    ("hydrochlorothiazide", "diuretic", "cardiology", "C03AA03", "hypertension", "Microzide", "US"),
    ("indapamide", "diuretic", "cardiology", "C03BA11", "hypertension", "Natrilix", "UK"),
    ("chlortalidone", "diuretic", "cardiology", "C03BA04", "hypertension", "Thalitone", "US"),
    # --- sodium channel blockers (class Ic antiarrhythmics, anticonvulsants, local anesthetics) ---
    ("flecainide", "sodium channel blocker", "cardiology", "C01BC04", "cardiac arrhythmias", "Tambocor", "US"),
    ("carbamazepine", "sodium channel blocker", "neurology", "N03AF01", "epilepsy", "Tegretol", "US"),
    ("phenytoin", "sodium channel blocker", "neurology", "N03AB02", "epilepsy", "Dilantin", "US"),
    ("lacosamide", "sodium channel blocker", "neurology", "N03AX18", "epilepsy", "Vimpat", "US"),
    ("lidocaine", "sodium channel blocker", "anesthesia", "N01BB02", "local anesthesia", "Xylocaine", "US"),
    ("bupivacaine", "sodium channel blocker", "anesthesia", "N01BB01", "regional anesthesia", "Marcaine", "US"),
    ("ropivacaine", "sodium channel blocker", "anesthesia", "N01BB09", "regional anesthesia", "Naropin", "US"),
    # --- anticoagulants ---
    ("apixaban", "anticoagulant", "cardiology", "B01AF02", "stroke prevention in atrial fibrillation", "Eliquis", "US"),
    ("rivaroxaban", "anticoagulant", "cardiology", "B01AF01", "stroke prevention in atrial fibrillation", "Xarelto", "US"),
    ("enoxaparin", "anticoagulant", "hematology", "B01AB05", "venous thromboembolism", "Lovenox", "US"),
    ("dalteparin", "anticoagulant", "hematology", "B01AB04", "venous thromboembolism", "Fragmin", "US"),
    ("fondaparinux", "anticoagulant", "hematology", "B01AX05", "venous thromboembolism", "Arixtra", "US"),
    # --- antiplatelets ---
    ("clopidogrel", "antiplatelet", "cardiology", "B01AC04", "acute coronary syndrome", "Plavix", "US"),
    ("prasugrel", "antiplatelet", "cardiology", "B01AC22", "acute coronary syndrome", "Effient", "US"),
    ("ticagrelor", "antiplatelet", "cardiology", "B01AC24", "acute coronary syndrome", "Brilinta", "US"),
    ("cangrelor", "antiplatelet", "cardiology", "B01AC25", "percutaneous coronary intervention", "Kengreal", "US"),
    ("tirofiban", "antiplatelet", "cardiology", "B01AC17", "acute coronary syndrome", "Aggrastat", "US"),
    # --- SSRIs ---
    ("fluoxetine", "SSRI", "psychiatry", "N06AB03", "depression", "Prozac", "US"),
    ("sertraline", "SSRI", "psychiatry", "N06AB06", "depression", "Zoloft", "US"),
    ("citalopram", "SSRI", "psychiatry", "N06AB04", "depression", "Celexa", "US"),
    ("escitalopram", "SSRI", "psychiatry", "N06AB10", "depression", "Lexapro", "US"),
    ("dapoxetine", "SSRI", "urology", "G04BX14", "premature ejaculation", "Priligy", "UK"),
    # --- SNRIs ---
    ("venlafaxine", "SNRI", "psychiatry", "N06AX16", "depression", "Effexor", "US"),
    ("desvenlafaxine", "SNRI", "psychiatry", "N06AX23", "depression", "Pristiq", "US"),
    ("duloxetine", "SNRI", "psychiatry", "N06AX21", "depression", "Cymbalta", "US"),
    ("levomilnacipran", "SNRI", "psychiatry", "N06AX28", "depression", "Fetzima", "US"),
    ("milnacipran", "SNRI", "psychiatry", "N06AX17", "depression", None, None),
    # --- TCAs ---
    ("amitriptyline", "tricyclic antidepressant", "psychiatry", "N06AA09", "depression", "Elavil", "US"),
    ("nortriptyline", "tricyclic antidepressant", "psychiatry", "N06AA10", "depression", "Pamelor", "US"),
    ("imipramine", "tricyclic antidepressant", "psychiatry", "N06AA02", "depression", "Tofranil", "US"),
    ("clomipramine", "tricyclic antidepressant", "psychiatry", "N06AA04", "depression", "Anafranil", "UK"),
    ("doxepin", "tricyclic antidepressant", "psychiatry", "N06AA12", "depression", "Sinequan", "US"),
    # --- atypical antipsychotics ---
    ("risperidone", "atypical antipsychotic", "psychiatry", "N05AX08", "schizophrenia", "Risperdal", "US"),
    ("olanzapine", "atypical antipsychotic", "psychiatry", "N05AH03", "schizophrenia", "Zyprexa", "US"),
    ("quetiapine", "atypical antipsychotic", "psychiatry", "N05AH04", "schizophrenia", "Seroquel", "US"),
    ("aripiprazole", "atypical antipsychotic", "psychiatry", "N05AX12", "schizophrenia", "Abilify", "US"),
    ("clozapine", "atypical antipsychotic", "psychiatry", "N05AH02", "treatment-resistant schizophrenia", "Clozaril", "US"),
    # --- dopamine antagonists (typical antipsychotics, antiemetics) ---
    ("haloperidol", "dopamine antagonist", "psychiatry", "N05AD01", "schizophrenia", "Haldol", "US"),
    ("chlorpromazine", "dopamine antagonist", "psychiatry", "N05AA01", "schizophrenia", None, None),
    ("metoclopramide", "dopamine antagonist", "gastroenterology", "A03FA01", "nausea and vomiting", "Reglan", "US"),
    ("domperidone", "dopamine antagonist", "gastroenterology", "A03FA03", "nausea and vomiting", "Motilium", "UK"),
    ("droperidol", "dopamine antagonist", "anesthesia", "N05AD08", "postoperative nausea and vomiting", "Inapsine", "US"),
    # --- benzodiazepines ---
    ("alprazolam", "benzodiazepine", "psychiatry", "N05BA12", "anxiety", "Xanax", "US"),
    ("chlordiazepoxide", "benzodiazepine", "psychiatry", "N05BA02", "alcohol withdrawal", "Librium", "US"),
    ("clobazam", "benzodiazepine", "neurology", "N05BA09", "epilepsy", "Onfi", "US"),
    ("midazolam", "benzodiazepine", "anesthesia", "N05CD08", "sedation", "Versed", "US"),
    ("remimazolam", "benzodiazepine", "anesthesia", "N05CD14", "procedural sedation", "Byfavo", "US"),
    # --- opioid agonists ---
    ("methadone", "opioid agonist", "psychiatry", "N07BC02", "opioid dependence", "Dolophine", "US"),
    ("loperamide", "opioid agonist", "gastroenterology", "A07DA03", "diarrhea", "Imodium", "US"),
    ("remifentanil", "opioid agonist", "anesthesia", "N01AH06", "analgesia during general anesthesia", "Ultiva", "US"),
    ("sufentanil", "opioid agonist", "anesthesia", "N01AH03", "analgesia during general anesthesia", "Sufenta", "US"),
    ("morphine", "opioid agonist", "pain medicine", "N02AA01", "severe pain", "MS Contin", "US"),
    ("oxycodone", "opioid agonist", "pain medicine", "N02AA05", "severe pain", "OxyContin", "US"),
    ("hydromorphone", "opioid agonist", "pain medicine", "N02AA03", "severe pain", "Dilaudid", "US"),
    ("tapentadol", "opioid agonist", "pain medicine", "N02AX06", "moderate to severe pain", "Nucynta", "US"),
    # --- cholinesterase inhibitors ---
    ("donepezil", "cholinesterase inhibitor", "neurology", "N06DA02", "Alzheimer's disease", "Aricept", "US"),
    ("rivastigmine", "cholinesterase inhibitor", "neurology", "N06DA03", "Alzheimer's disease", "Exelon", "US"),
    ("galantamine", "cholinesterase inhibitor", "neurology", "N06DA04", "Alzheimer's disease", "Razadyne", "US"),
    ("pyridostigmine", "cholinesterase inhibitor", "neurology", "N07AA02", "myasthenia gravis", "Mestinon", "US"),
    ("neostigmine", "cholinesterase inhibitor", "anesthesia", "N07AA01", "reversal of neuromuscular blockade", None, None),
    # --- dopamine agonists ---
    ("pramipexole", "dopamine agonist", "neurology", "N04BC05", "Parkinson's disease", "Mirapex", "US"),
    ("ropinirole", "dopamine agonist", "neurology", "N04BC04", "Parkinson's disease", "Requip", "US"),
    ("rotigotine", "dopamine agonist", "neurology", "N04BC09", "Parkinson's disease", "Neupro", "US"),
    ("cabergoline", "dopamine agonist", "endocrinology", "G02CB03", "hyperprolactinemia", "Dostinex", "US"),
    ("quinagolide", "dopamine agonist", "endocrinology", "G02CB04", "hyperprolactinemia", "Norprolac", "UK"),
    # --- antimuscarinics ---
    ("trihexyphenidyl", "antimuscarinic", "neurology", "N04AA01", "parkinsonism", None, None),
    ("hyoscine butylbromide", "antimuscarinic", "gastroenterology", "A03BB01", "abdominal cramps", "Buscopan", "UK"),
    ("tiotropium", "antimuscarinic", "pulmonology", "R03BB04", "COPD", "Spiriva", "US"),
    ("ipratropium", "antimuscarinic", "pulmonology", "R03BB01", "COPD", "Atrovent", "US"),
    ("tropicamide", "antimuscarinic", "ophthalmology", "S01FA06", "pupil dilation", "Mydriacyl", "US"),
    ("oxybutynin", "antimuscarinic", "urology", "G04BD04", "overactive bladder", "Ditropan", "US"),
    ("solifenacin", "antimuscarinic", "urology", "G04BD08", "overactive bladder", "Vesicare", "US"),
    # --- adrenergic agonists (beta-2, beta-3, alpha-2) ---
    ("salbutamol", "adrenergic agonist", "pulmonology", "R03AC02", "asthma", "Ventolin", "UK"),
    ("salmeterol", "adrenergic agonist", "pulmonology", "R03AC12", "asthma", "Serevent", "US"),
    ("mirabegron", "adrenergic agonist", "urology", "G04BD12", "overactive bladder", "Myrbetriq", "US"),
    ("vibegron", "adrenergic agonist", "urology", "G04BD15", "overactive bladder", "Gemtesa", "US"),
    ("brimonidine", "adrenergic agonist", "ophthalmology", "S01EA05", "glaucoma", "Alphagan", "US"),
    # --- alpha-1 blockers ---
    ("tamsulosin", "alpha-1 blocker", "urology", "G04CA02", "benign prostatic hyperplasia", "Flomax", "US"),
    ("alfuzosin", "alpha-1 blocker", "urology", "G04CA01", "benign prostatic hyperplasia", "Uroxatral", "US"),
    ("silodosin", "alpha-1 blocker", "urology", "G04CA04", "benign prostatic hyperplasia", "Rapaflo", "US"),
    ("terazosin", "alpha-1 blocker", "urology", "G04CA03", "benign prostatic hyperplasia", "Hytrin", "US"),
    ("doxazosin", "alpha-1 blocker", "cardiology", "C02CA04", "hypertension", "Cardura", "US"),
    # --- phosphodiesterase inhibitors (PDE5, PDE4) ---
    ("sildenafil", "phosphodiesterase inhibitor", "urology", "G04BE03", "erectile dysfunction", "Viagra", "US"),
    ("tadalafil", "phosphodiesterase inhibitor", "urology", "G04BE08", "erectile dysfunction", "Cialis", "US"),
    ("vardenafil", "phosphodiesterase inhibitor", "urology", "G04BE09", "erectile dysfunction", "Levitra", "US"),
    ("roflumilast", "phosphodiesterase inhibitor", "pulmonology", "R03DX07", "COPD", "Daliresp", "US"),
    ("crisaborole", "phosphodiesterase inhibitor", "dermatology", "D11AH06", "atopic dermatitis", "Eucrisa", "US"),
    # --- prostaglandin analogues ---
    ("latanoprost", "prostaglandin analogue", "ophthalmology", "S01EE01", "glaucoma", "Xalatan", "US"),
    ("bimatoprost", "prostaglandin analogue", "ophthalmology", "S01EE03", "glaucoma", "Lumigan", "US"),
    ("misoprostol", "prostaglandin analogue", "gastroenterology", "A02BB01", "prevention of NSAID-induced gastric ulcers", "Cytotec", "US"),
    ("alprostadil", "prostaglandin analogue", "urology", "G04BE01", "erectile dysfunction", "Caverject", "US"),
    ("epoprostenol", "prostaglandin analogue", "pulmonology", "B01AC09", "pulmonary arterial hypertension", "Flolan", "US"),
    # --- NSAIDs (cyclooxygenase inhibitors) ---
    ("celecoxib", "NSAID", "rheumatology", "M01AH01", "osteoarthritis", "Celebrex", "US"),
    ("etoricoxib", "NSAID", "rheumatology", "M01AH05", "osteoarthritis", "Arcoxia", "UK"),
    ("indometacin", "NSAID", "rheumatology", "M01AB01", "arthritis", "Indocin", "US"),
    ("nepafenac", "NSAID", "ophthalmology", "S01BC10", "inflammation after cataract surgery", "Nevanac", "US"),
    ("ibuprofen", "NSAID", "pain medicine", "M01AE01", "pain", "Advil", "US"),
    ("ketorolac", "NSAID", "pain medicine", "M01AB15", "short-term management of acute pain", None, None),
    # --- H1 antihistamines ---
    ("cetirizine", "H1 antihistamine", "allergy", "R06AE07", "allergic rhinitis", "Zyrtec", "US"),
    ("loratadine", "H1 antihistamine", "allergy", "R06AX13", "allergic rhinitis", "Claritin", "US"),
    ("fexofenadine", "H1 antihistamine", "allergy", "R06AX26", "allergic rhinitis", "Allegra", "US"),
    ("desloratadine", "H1 antihistamine", "allergy", "R06AX27", "allergic rhinitis", "Clarinex", "US"),
    ("bilastine", "H1 antihistamine", "allergy", "R06AX29", "allergic rhinitis", "Ilaxten", "UK"),
    ("olopatadine", "H1 antihistamine", "ophthalmology", "S01GX09", "allergic conjunctivitis", "Pataday", "US"),
    # --- corticosteroids ---
    ("beclometasone", "corticosteroid", "pulmonology", "R03BA01", "asthma", "Qvar", "US"),
    ("ciclesonide", "corticosteroid", "pulmonology", "R03BA08", "asthma", "Alvesco", "US"),
    ("clobetasol", "corticosteroid", "dermatology", "D07AD01", "psoriasis and eczema", "Dermovate", "UK"),
    ("fludrocortisone", "corticosteroid", "endocrinology", "H02AA02", "adrenal insufficiency", "Florinef", "UK"),
    ("loteprednol", "corticosteroid", "ophthalmology", "S01BA14", "inflammation after eye surgery", "Lotemax", "US"),
    # --- proton pump inhibitors ---
    ("omeprazole", "proton pump inhibitor", "gastroenterology", "A02BC01", "gastroesophageal reflux disease", "Prilosec", "US"),
    ("lansoprazole", "proton pump inhibitor", "gastroenterology", "A02BC03", "gastroesophageal reflux disease", "Prevacid", "US"),
    ("pantoprazole", "proton pump inhibitor", "gastroenterology", "A02BC02", "gastroesophageal reflux disease", "Protonix", "US"),
    ("esomeprazole", "proton pump inhibitor", "gastroenterology", "A02BC05", "gastroesophageal reflux disease", "Nexium", "US"),
    ("rabeprazole", "proton pump inhibitor", "gastroenterology", "A02BC04", "gastroesophageal reflux disease", "Aciphex", "US"),
    # --- SGLT2 inhibitors ---
    ("empagliflozin", "SGLT2 inhibitor", "endocrinology", "A10BK03", "type 2 diabetes", "Jardiance", "US"),
    ("dapagliflozin", "SGLT2 inhibitor", "endocrinology", "A10BK01", "type 2 diabetes", "Farxiga", "US"),
    ("canagliflozin", "SGLT2 inhibitor", "endocrinology", "A10BK02", "type 2 diabetes", "Invokana", "US"),
    ("ertugliflozin", "SGLT2 inhibitor", "endocrinology", "A10BK04", "type 2 diabetes", "Steglatro", "US"),
    ("sotagliflozin", "SGLT2 inhibitor", "cardiology", "A10BK06", "heart failure", "Inpefa", "US"),
    # --- GLP-1 receptor agonists ---
    ("liraglutide", "GLP-1 receptor agonist", "endocrinology", "A10BJ02", "type 2 diabetes", "Victoza", "US"),
    ("semaglutide", "GLP-1 receptor agonist", "endocrinology", "A10BJ06", "type 2 diabetes", "Ozempic", "US"),
    ("dulaglutide", "GLP-1 receptor agonist", "endocrinology", "A10BJ05", "type 2 diabetes", "Trulicity", "US"),
    ("exenatide", "GLP-1 receptor agonist", "endocrinology", "A10BJ01", "type 2 diabetes", "Byetta", "US"),
    ("lixisenatide", "GLP-1 receptor agonist", "endocrinology", "A10BJ03", "type 2 diabetes", "Lyxumia", "UK"),
    # --- insulins ---
    ("insulin glargine", "insulin", "endocrinology", "A10AE04", "diabetes mellitus", "Lantus", "US"),
    ("insulin detemir", "insulin", "endocrinology", "A10AE05", "diabetes mellitus", "Levemir", "US"),
    ("insulin degludec", "insulin", "endocrinology", "A10AE06", "diabetes mellitus", "Tresiba", "US"),
    ("insulin aspart", "insulin", "endocrinology", "A10AB05", "diabetes mellitus", "NovoLog", "US"),
    ("insulin lispro", "insulin", "endocrinology", "A10AB04", "diabetes mellitus", "Humalog", "US"),
    # --- TNF inhibitors ---
    ("adalimumab", "TNF inhibitor", "rheumatology", "L04AB04", "rheumatoid arthritis", "Humira", "US"),
    ("etanercept", "TNF inhibitor", "rheumatology", "L04AB01", "rheumatoid arthritis", "Enbrel", "US"),
    ("golimumab", "TNF inhibitor", "rheumatology", "L04AB06", "rheumatoid arthritis", "Simponi", "US"),
    ("certolizumab pegol", "TNF inhibitor", "rheumatology", "L04AB05", "rheumatoid arthritis", "Cimzia", "US"),
    ("infliximab", "TNF inhibitor", "gastroenterology", "L04AB02", "Crohn's disease", "Remicade", "US"),
    # --- IL-17 / IL-23 inhibitors ---
    ("secukinumab", "IL-17/IL-23 inhibitor", "dermatology", "L04AC10", "plaque psoriasis", "Cosentyx", "US"),
    ("ixekizumab", "IL-17/IL-23 inhibitor", "dermatology", "L04AC13", "plaque psoriasis", "Taltz", "US"),
    ("guselkumab", "IL-17/IL-23 inhibitor", "dermatology", "L04AC16", "plaque psoriasis", "Tremfya", "US"),
    ("risankizumab", "IL-17/IL-23 inhibitor", "dermatology", "L04AC18", "plaque psoriasis", "Skyrizi", "US"),
    ("mirikizumab", "IL-17/IL-23 inhibitor", "gastroenterology", "L04AC24", "ulcerative colitis", "Omvoh", "US"),
    # --- IL-4 / IL-5 / IL-13 inhibitors (type 2 inflammation) ---
    ("dupilumab", "IL-4/IL-5/IL-13 inhibitor", "dermatology", "D11AH05", "atopic dermatitis", "Dupixent", "US"),
    ("tralokinumab", "IL-4/IL-5/IL-13 inhibitor", "dermatology", "D11AH07", "atopic dermatitis", "Adbry", "US"),
    ("mepolizumab", "IL-4/IL-5/IL-13 inhibitor", "pulmonology", "R03DX09", "severe eosinophilic asthma", "Nucala", "US"),
    ("benralizumab", "IL-4/IL-5/IL-13 inhibitor", "pulmonology", "R03DX10", "severe eosinophilic asthma", "Fasenra", "US"),
    ("reslizumab", "IL-4/IL-5/IL-13 inhibitor", "pulmonology", "R03DX08", "severe eosinophilic asthma", "Cinqair", "US"),
    # --- anti-CD20 antibodies ---
    ("rituximab", "anti-CD20 antibody", "hematology", "L01FA01", "non-Hodgkin lymphoma", "Rituxan", "US"),
    ("obinutuzumab", "anti-CD20 antibody", "hematology", "L01FA03", "chronic lymphocytic leukemia", "Gazyva", "US"),
    ("ocrelizumab", "anti-CD20 antibody", "neurology", "L04AG08", "multiple sclerosis", "Ocrevus", "US"),
    ("ofatumumab", "anti-CD20 antibody", "neurology", "L04AG12", "multiple sclerosis", "Kesimpta", "US"),
    ("ublituximab", "anti-CD20 antibody", "neurology", "L04AG14", "multiple sclerosis", "Briumvi", "US"),
    # --- PD-1 / PD-L1 inhibitors ---
    ("pembrolizumab", "PD-1/PD-L1 inhibitor", "oncology", "L01FF02", "melanoma", "Keytruda", "US"),
    ("nivolumab", "PD-1/PD-L1 inhibitor", "oncology", "L01FF01", "melanoma", "Opdivo", "US"),
    ("atezolizumab", "PD-1/PD-L1 inhibitor", "oncology", "L01FF05", "non-small cell lung cancer", "Tecentriq", "US"),
    ("durvalumab", "PD-1/PD-L1 inhibitor", "oncology", "L01FF03", "non-small cell lung cancer", "Imfinzi", "US"),
    ("cemiplimab", "PD-1/PD-L1 inhibitor", "oncology", "L01FF06", "cutaneous squamous cell carcinoma", "Libtayo", "US"),
    # --- VEGF inhibitors ---
    ("bevacizumab", "VEGF inhibitor", "oncology", "L01FG01", "metastatic colorectal cancer", "Avastin", "US"),
    ("ramucirumab", "VEGF inhibitor", "oncology", "L01FG02", "gastric cancer", "Cyramza", "US"),
    ("ranibizumab", "VEGF inhibitor", "ophthalmology", "S01LA04", "wet age-related macular degeneration", "Lucentis", "US"),
    ("aflibercept", "VEGF inhibitor", "ophthalmology", "S01LA05", "wet age-related macular degeneration", "Eylea", "US"),
    ("brolucizumab", "VEGF inhibitor", "ophthalmology", "S01LA06", "wet age-related macular degeneration", "Beovu", "US"),
    # --- tyrosine kinase inhibitors (BCR-ABL, BTK, EGFR, multi-kinase) ---
    ("imatinib", "tyrosine kinase inhibitor", "hematology", "L01EA01", "chronic myeloid leukemia", "Gleevec", "US"),
    ("dasatinib", "tyrosine kinase inhibitor", "hematology", "L01EA02", "chronic myeloid leukemia", "Sprycel", "US"),
    ("ibrutinib", "tyrosine kinase inhibitor", "hematology", "L01EL01", "chronic lymphocytic leukemia", "Imbruvica", "US"),
    ("osimertinib", "tyrosine kinase inhibitor", "oncology", "L01EB04", "EGFR-mutated non-small cell lung cancer", "Tagrisso", "US"),
    ("erlotinib", "tyrosine kinase inhibitor", "oncology", "L01EB02", "non-small cell lung cancer", "Tarceva", "US"),
    ("sunitinib", "tyrosine kinase inhibitor", "oncology", "L01EX01", "renal cell carcinoma", "Sutent", "US"),
    # --- JAK inhibitors ---
    ("tofacitinib", "JAK inhibitor", "rheumatology", "L04AF01", "rheumatoid arthritis", "Xeljanz", "US"),
    ("baricitinib", "JAK inhibitor", "rheumatology", "L04AF02", "rheumatoid arthritis", "Olumiant", "US"),
    ("upadacitinib", "JAK inhibitor", "rheumatology", "L04AF03", "rheumatoid arthritis", "Rinvoq", "US"),
    ("abrocitinib", "JAK inhibitor", "dermatology", "D11AH08", "atopic dermatitis", "Cibinqo", "US"),
    ("ruxolitinib", "JAK inhibitor", "hematology", "L01EJ01", "myelofibrosis", "Jakafi", "US"),
    # --- nucleoside analogues (antivirals and cytotoxics) ---
    ("aciclovir", "nucleoside analogue", "infectious disease", "J05AB01", "herpes simplex infections", "Zovirax", "US"),
    ("valaciclovir", "nucleoside analogue", "infectious disease", "J05AB11", "herpes zoster", "Valtrex", "US"),
    ("zidovudine", "nucleoside analogue", "infectious disease", "J05AF01", "HIV infection", "Retrovir", "US"),
    ("entecavir", "nucleoside analogue", "gastroenterology", "J05AF10", "chronic hepatitis B", "Baraclude", "US"),
    ("gemcitabine", "nucleoside analogue", "oncology", "L01BC05", "pancreatic cancer", "Gemzar", "US"),
    ("cytarabine", "nucleoside analogue", "hematology", "L01BC01", "acute myeloid leukemia", None, None),
    ("fludarabine", "nucleoside analogue", "hematology", "L01BB05", "chronic lymphocytic leukemia", "Fludara", "US"),
    # --- antifolates ---
    ("trimethoprim", "antifolate", "infectious disease", "J01EA01", "urinary tract infections", None, None),
    ("pyrimethamine", "antifolate", "infectious disease", "P01BD01", "toxoplasmosis", "Daraprim", "US"),
    ("proguanil", "antifolate", "infectious disease", "P01BB01", "malaria prophylaxis", "Paludrine", "UK"),
    ("pemetrexed", "antifolate", "oncology", "L01BA04", "mesothelioma and non-small cell lung cancer", "Alimta", "US"),
    ("methotrexate", "antifolate", "rheumatology", "L04AX03", "rheumatoid arthritis", None, None),
    # --- microtubule inhibitors ---
    ("paclitaxel", "microtubule inhibitor", "oncology", "L01CD01", "breast and ovarian cancer", "Taxol", "US"),
    ("docetaxel", "microtubule inhibitor", "oncology", "L01CD02", "breast and prostate cancer", "Taxotere", "US"),
    ("vincristine", "microtubule inhibitor", "hematology", "L01CA02", "acute lymphoblastic leukemia", None, None),
    ("colchicine", "microtubule inhibitor", "rheumatology", "M04AC01", "gout", "Colcrys", "US"),
    ("albendazole", "microtubule inhibitor", "infectious disease", "P02CA03", "tapeworm infections", "Albenza", "US"),
    ("griseofulvin", "microtubule inhibitor", "dermatology", "D01BA01", "fungal infections of the scalp", None, None),
    # --- beta-lactam antibiotics ---
    ("amoxicillin", "beta-lactam antibiotic", "infectious disease", "J01CA04", "respiratory tract infections", "Amoxil", "US"),
    ("flucloxacillin", "beta-lactam antibiotic", "infectious disease", "J01CF05", "staphylococcal skin infections", "Floxapen", "UK"),
    ("ceftriaxone", "beta-lactam antibiotic", "infectious disease", "J01DD04", "serious bacterial infections", "Rocephin", "US"),
    ("meropenem", "beta-lactam antibiotic", "infectious disease", "J01DH02", "serious bacterial infections", "Merrem", "US"),
    ("cefalexin", "beta-lactam antibiotic", "infectious disease", "J01DB01", "skin and urinary tract infections", "Keflex", "US"),
    # --- fluoroquinolones ---
    ("ciprofloxacin", "fluoroquinolone", "infectious disease", "J01MA02", "urinary tract infections", "Cipro", "US"),
    ("levofloxacin", "fluoroquinolone", "infectious disease", "J01MA12", "community-acquired pneumonia", "Levaquin", "US"),
    ("moxifloxacin", "fluoroquinolone", "infectious disease", "J01MA14", "community-acquired pneumonia", "Avelox", "US"),
    ("ofloxacin", "fluoroquinolone", "infectious disease", "J01MA01", "pelvic inflammatory disease", None, None),
    ("besifloxacin", "fluoroquinolone", "ophthalmology", "S01AE08", "bacterial conjunctivitis", "Besivance", "US"),
    # --- macrolides ---
    ("azithromycin", "macrolide", "infectious disease", "J01FA10", "respiratory tract infections", "Zithromax", "US"),
    ("clarithromycin", "macrolide", "infectious disease", "J01FA09", "respiratory tract infections", "Biaxin", "US"),
    ("erythromycin", "macrolide", "infectious disease", "J01FA01", "respiratory tract infections", None, None),
    ("roxithromycin", "macrolide", "infectious disease", "J01FA06", "respiratory tract infections", None, None),
    ("fidaxomicin", "macrolide", "gastroenterology", "A07AA12", "Clostridioides difficile infection", "Dificid", "US"),
    # --- azole antifungals ---
    ("clotrimazole", "azole antifungal", "dermatology", "D01AC01", "fungal skin infections", "Canesten", "UK"),
    ("econazole", "azole antifungal", "dermatology", "D01AC03", "fungal skin infections", None, None),
    ("fluconazole", "azole antifungal", "infectious disease", "J02AC01", "candidiasis", "Diflucan", "US"),
    ("voriconazole", "azole antifungal", "infectious disease", "J02AC03", "invasive aspergillosis", "Vfend", "US"),
    ("itraconazole", "azole antifungal", "infectious disease", "J02AC02", "systemic fungal infections", "Sporanox", "US"),
]
