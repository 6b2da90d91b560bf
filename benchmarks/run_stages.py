"""Stage breakdown of a finished `medmap run`: per technique and per (domain, technique), from the run
folder's timings.json and stage_times.json. Usage: python benchmarks/run_stages.py RUN_DIR
(target for the default run on the 2-core machine, model already converted: 480 s; ends with RATIO =
total / 480 s)."""

import json
import sys
from collections import defaultdict
from pathlib import Path

if __name__ == "__main__":
    run = Path(sys.argv[1] if len(sys.argv) > 1 else sorted(Path("runs").glob("*/DONE.json"))[-1].parent)
    missing = [f for f in ("timings.json", "stage_times.json") if not (run / f).is_file()]
    if missing:
        sys.exit(f"run_stages.py: {run} has no {' or '.join(missing)}: not a finished medmap run")
    timings = json.loads((run / "timings.json").read_text())
    stages = json.loads((run / "stage_times.json").read_text())
    per_tech: dict[str, float] = defaultdict(float)
    for key, sec in stages.items():
        per_tech[key.split("/")[1]] += sec
    print(f"run {run}")
    for k in ("load_model", "analyze", "map_findings", "report"):
        print(f"  {k:<14} {timings.get(k, 0):8.1f} s")
    for t, sec in sorted(per_tech.items(), key=lambda x: -x[1]):
        print(f"    {t:<12} {sec:8.1f} s")
    for key, sec in sorted(stages.items(), key=lambda x: -x[1]):
        print(f"      {key:<24} {sec:8.1f} s")
    print(f"  total          {timings['total']:8.1f} s")
    print(f"RATIO {timings['total'] / 480:.3f}")
