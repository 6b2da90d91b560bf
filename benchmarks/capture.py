"""medmap capture vs a plain model(..., output_hidden_states=True) over the same prompts.
Target: RATIO (medmap / plain) <= 0.80."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import median_time, setup  # noqa: E402

from medmap.capture import capture  # noqa: E402
from medmap.capture.batching import encode  # noqa: E402

if __name__ == "__main__":
    lm, items = setup(256)
    prompts = [it.prompt for it in items]
    B = 32

    def plain():
        with torch.no_grad():
            for s in range(0, len(prompts), B):
                b = encode(lm.tokenizer, prompts[s:s + B])
                out = lm.model(**b.model_inputs(), output_hidden_states=True, use_cache=False)
                _ = [h[:, -1] for h in out.hidden_states]

    def ours():
        capture(lm, prompts, batch_size=B)

    tp, tm = median_time(plain), median_time(ours)
    print(f"prompts {len(prompts)}, batch {B}: plain {tp:.2f} s, medmap {tm:.2f} s")
    print(f"RATIO {tm / tp:.3f}")
