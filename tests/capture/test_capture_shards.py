"""Capture of a concept set is written shard by shard as it is produced; a killed capture resumes at
the first missing shard; a corrupted shard is detected and recomputed; the result is the same tensor."""

from pathlib import Path

import pytest
import torch

from medmap.capture import capture
from medmap.capture import cached
from medmap.capture.cached import capture_set
from medmap.concepts import load_builtin
from medmap.store import Cache


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def cs():
    full = load_builtin("symptoms")
    keep = {it.id for it in full.items[:8]}
    return full.subset(lambda it: it.id in keep)


@pytest.fixture
def reference(tiny_llama, cs):
    return capture(tiny_llama, [it.prompt for it in cs.items], batch_size=8)


@pytest.fixture
def counted(monkeypatch):
    """Number of items actually run through the model by capture_set."""
    n = [0]
    real = cached.capture

    def counting(lm, prompts, **kw):
        n[0] += len(prompts)
        return real(lm, prompts, **kw)

    monkeypatch.setattr(cached, "capture", counting)
    return n


def _mapped_from(t, path) -> bool:
    """Whether tensor ``t``'s memory is a mapping of file ``path`` (Linux: /proc/self/maps)."""
    maps = Path("/proc/self/maps")
    if not maps.is_file():
        pytest.skip("no /proc/self/maps")
    ptr = t.data_ptr()
    for line in maps.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[-1] == str(Path(path).resolve()):
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if lo <= ptr < hi:
                return True
    return False


def _shard_files(cache):
    return sorted(p.name for p in cache.root.glob("capture/*/shards/shard-*.safetensors"))


def _kill_after(n_items):
    done = [0]

    def step(k):
        done[0] += k
        if done[0] > n_items:
            raise Killed

    return step


def test_shards_are_written_during_capture_and_assembled(tiny_llama, cs, reference, tmp_path):
    cache = Cache(tmp_path / "cache")
    seen = []
    acts = capture_set(tiny_llama, cs, cache, batch_size=2, shard_size=3,
                       on_step=lambda k: seen.append(_shard_files(cache)))
    assert seen[0] == [] and ["shard-00000.safetensors"] in seen and \
        ["shard-00000.safetensors", "shard-00001.safetensors"] in seen
    assert _shard_files(cache) == []  # folded into the sealed activations.safetensors
    assert torch.equal(acts, reference)
    final = next(cache.root.glob("capture/*/activations.safetensors"))
    assert _mapped_from(acts, final)  # memory-mapped, not read into memory
    again = capture_set(tiny_llama, cs, cache, shard_size=3)
    assert torch.equal(again, reference) and _mapped_from(again, final)


def test_killed_capture_resumes_at_the_first_missing_shard(tiny_llama, cs, reference, tmp_path, counted):
    cache = Cache(tmp_path / "cache")
    with pytest.raises(Killed):
        capture_set(tiny_llama, cs, cache, batch_size=2, shard_size=3, on_step=_kill_after(3))
    assert _shard_files(cache) == ["shard-00000.safetensors"]
    counted[0] = 0
    acts = capture_set(tiny_llama, cs, cache, batch_size=2, shard_size=3)
    assert counted[0] == len(cs) - 3  # only the missing shards were computed
    assert torch.equal(acts, reference)


def test_corrupted_shard_is_detected_and_recomputed(tiny_llama, cs, reference, tmp_path, counted):
    cache = Cache(tmp_path / "cache")
    with pytest.raises(Killed):
        capture_set(tiny_llama, cs, cache, batch_size=3, shard_size=3, on_step=_kill_after(6))
    assert _shard_files(cache) == ["shard-00000.safetensors", "shard-00001.safetensors"]
    shard = next(cache.root.glob("capture/*/shards/shard-00001.safetensors"))
    data = bytearray(shard.read_bytes())
    data[-5] ^= 0xFF  # one activation changed: still a readable safetensors file
    shard.write_bytes(bytes(data))
    counted[0] = 0
    acts = capture_set(tiny_llama, cs, cache, batch_size=3, shard_size=3)
    assert counted[0] == len(cs) - 3  # shard 1 again, and shard 2
    assert any(r["path"].endswith("shard-00001.safetensors") for r in cache.rejected)
    assert torch.equal(acts, reference)
