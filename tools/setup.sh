#!/usr/bin/env bash
# Create (or update) the project-local environment .venv with the CPU build of torch and the e3d package.
# Idempotent: a second run with unchanged requirements does nothing. Set E3D_REQUIREMENTS=requirements/gpu.txt
# (plus PIP_EXTRA_INDEX_URL for the CUDA wheels) on GPU machines.
set -euo pipefail
cd "$(dirname "$0")/.."
req="${E3D_REQUIREMENTS:-requirements/cpu.txt}"
py="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $py"
  "$py" -m venv .venv
fi
stamp=.venv/.e3d-setup-$(cat "$req" pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing $req into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$req"
  .venv/bin/python -m pip install --quiet --no-deps -e .
  rm -f .venv/.e3d-setup-*
  touch "$stamp"
fi
