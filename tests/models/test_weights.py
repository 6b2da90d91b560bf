"""Weights are verified: converted weights against the checksums recorded at conversion (a tampered
file is detected and converted again), a local folder's identity follows its content, a hub model is
keyed by the commit its name resolves to."""

import json
import os
import time
from pathlib import Path

import pytest

from medmap.cli.main import main
from medmap.errors import ModelError
from medmap.models import bundled
from medmap.models.identity import folder_identity, hub_commit
from medmap.store.checksum import N_SAMPLES, SAMPLE_BYTES, cached_sha256, check_file, quick_record
from tiny import saved_tiny


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDMAP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _fake_conversion(tmp_path) -> tuple[Path, Path]:
    """A file that looks like a GGUF, and a finished conversion of it (a tiny model) in the cache."""
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF" + os.urandom(4096))
    folder = bundled.converted_dir(gguf)
    saved_tiny(folder, hidden_size=128, intermediate_size=256)  # ~3 MB: most bytes lie in no sampled range
    meta = {"gguf": gguf.name, "gguf_sha256": cached_sha256(gguf)[0], "dtype": "float32"}
    (folder / bundled.CONVERSION).write_text(json.dumps(meta))  # as earlier versions wrote it
    assert bundled.verify_converted(folder) is None  # checksums recorded now
    assert "files" in json.loads((folder / bundled.CONVERSION).read_text())
    return gguf, folder


def _flip(path: Path, offset: int) -> None:
    """Change one byte in place, keeping the size and the modification time."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x40]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _unsampled(size: int) -> int:
    """An offset past the header that no sampled range covers."""
    span = size - SAMPLE_BYTES
    starts = [span * k // (N_SAMPLES - 1) for k in range(N_SAMPLES)]
    return next(o for o in range(size // 2, size) if not any(s <= o < s + SAMPLE_BYTES for s in starts))


def test_tampered_converted_weight_is_detected(cache, tmp_path):
    _, folder = _fake_conversion(tmp_path)
    weights = folder / "model.safetensors"
    _flip(weights, _unsampled(weights.stat().st_size))  # one byte of one float, in no sampled range
    why = bundled.verify_converted(folder)
    assert why == "the sha256 of model.safetensors has changed"
    assert bundled.verify_converted(folder, full=True) == why


def test_header_and_size_changes_are_found_without_a_full_hash(cache, tmp_path):
    _, folder = _fake_conversion(tmp_path)
    weights = folder / "model.safetensors"
    record = json.loads((folder / bundled.CONVERSION).read_text())["files"]["model.safetensors"]
    _flip(weights, 20)  # inside the header
    assert "header" in check_file(weights, {k: v for k, v in record.items() if k != "sha256"})
    with open(weights, "ab") as f:
        f.write(b"\0")
    assert "bytes" in check_file(weights, record)


def test_tampered_conversion_is_converted_again(cache, tmp_path):
    gguf, folder = _fake_conversion(tmp_path)
    assert bundled.convert_gguf(gguf)[0] == folder  # intact: used as it is
    _flip(folder / "model.safetensors", 1000)
    notes = []
    with pytest.raises(ModelError, match="transformers could not load this GGUF"):  # the fake cannot be converted
        bundled.convert_gguf(gguf, note=notes.append)
    assert "do not match their checksum" in notes[0] and "converting fake.gguf again" in notes[0]
    assert not folder.exists()


def test_models_verify(cache, tmp_path, capsys):
    _, folder = _fake_conversion(tmp_path)
    main(["models", "--verify"])
    assert f"{folder}: ok" in " ".join(capsys.readouterr().err.split())
    _flip(folder / "model.safetensors", 5000)
    with pytest.raises(SystemExit) as e:
        main(["models", "--verify"])
    assert e.value.code == 1 and "DOES NOT MATCH" in capsys.readouterr().err


def test_conversion_cache_is_shareable(cache, tmp_path):
    _, folder = _fake_conversion(tmp_path)
    bundled._share(folder)
    assert oct(folder.stat().st_mode & 0o777) == "0o755"
    assert all(oct(f.stat().st_mode & 0o777) == "0o644" for f in folder.iterdir())


def test_memoised_hash_follows_the_file(cache, tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(os.urandom(1 << 16))
    digest, computed = cached_sha256(f)
    assert computed and cached_sha256(f) == (digest, False)
    _flip(f, 100)  # same size and mtime: the change time gives it away
    new, computed = cached_sha256(f)
    assert computed and new != digest
    assert quick_record(f)["size"] == 1 << 16


def test_folder_identity_follows_the_weights(cache, tmp_path):
    model = saved_tiny(tmp_path / "model")
    a = folder_identity(model)
    assert folder_identity(model) == a
    _flip(model / "model.safetensors", (model / "model.safetensors").stat().st_size // 2)
    b = folder_identity(model)
    assert b != a
    (model / "README.md").write_text("notes")  # not part of the identity
    assert folder_identity(model) == b
    (model / "tokenizer_config.json").write_text((model / "tokenizer_config.json").read_text() + " ")
    assert folder_identity(model) != b


def _fake_hub_cache(root: Path, commit: str) -> None:
    repo = root / "models--org--tiny"
    (repo / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}")
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)


def test_hub_model_is_keyed_by_its_commit_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    first, second = "a" * 40, "b" * 40
    _fake_hub_cache(tmp_path / "hub", first)
    assert hub_commit("org/tiny", online=False) == first
    _fake_hub_cache(tmp_path / "hub", second)  # upstream moved and was downloaded again
    assert hub_commit("org/tiny", online=False) == second
    with pytest.raises(ModelError, match="not in the local Hugging Face cache"):
        hub_commit("org/absent", online=False)


@pytest.mark.slow
def test_tampered_bundled_weights_are_converted_again(cache):
    """The real SmolLM2 GGUF: convert, change one weight, load: converted again, same numbers as before."""
    import torch

    from medmap.models import load_model

    lm = load_model("smollm2-135m")
    folder = bundled.BUNDLED["smollm2-135m"].converted_folder()
    ref = lm.arch.layers[3].mlp.down_proj.weight.detach().clone()
    t = time.perf_counter()
    assert bundled.verify_converted(folder) is None
    cheap = time.perf_counter() - t
    weights = folder / "model.safetensors"
    _flip(weights, _unsampled(weights.stat().st_size))
    notes = []
    lm2 = load_model("smollm2-135m", note=notes.append)
    assert any("do not match their checksum" in n for n in notes)
    assert torch.equal(lm2.arch.layers[3].mlp.down_proj.weight, ref) and lm2.identity == lm.identity
    assert cheap < 5.0  # a stat, a header and 64 sampled ranges: milliseconds (generous bound on a busy machine)
