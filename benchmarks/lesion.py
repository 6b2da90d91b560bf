"""Lesion sweep over all layers: medmap (start each lesioned run at its layer) vs a full forward per
lesioned layer. Results must agree. Target: RATIO (naive / medmap) >= 1.8."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import answered, median_time, setup  # noqa: E402

from medmap.capture.lesion import lesion_batch, lesion_reference  # noqa: E402

if __name__ == "__main__":
    lm, _ = setup(0)
    prompts, answers = answered("age", 32)  # the first items of a set can be neutral ones (no answer)
    f = lesion_batch(lm, prompts, answers)
    r = lesion_reference(lm, prompts, answers)
    err = (f["logprob"] - r["logprob"]).abs().max().item()
    print(f"items {len(prompts)}, layers {lm.n_layers}: max |fast - naive| logprob = {err:.2e}")
    assert err < 1e-3
    tn = median_time(lambda: lesion_reference(lm, prompts, answers))
    tf = median_time(lambda: lesion_batch(lm, prompts, answers))
    print(f"naive {tn:.2f} s, medmap {tf:.2f} s")
    print(f"RATIO {tn / tf:.2f}")
