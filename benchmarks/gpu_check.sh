#!/usr/bin/env bash
# GPU check (issue 4): one bf16 epoch of E3D-M and X3D-M at 16 x 224^2 on synthetic data under torchrun
# (NCCL process group), and paper Table 13's latency/throughput at batch 16 for both, in the same run.
# Usage on a CUDA machine from the repository root:  bash benchmarks/gpu_check.sh OUTDIR [WHEELDIR]
# WHEELDIR (optional) holds wheels to install first on a machine without the registries (PyAV, fvcore, ...).
set -euo pipefail
out="${1:?usage: gpu_check.sh OUTDIR [WHEELDIR]}"
wheels="${2:-}"
mkdir -p "$out"
if [ -n "$wheels" ]; then python3 -m pip install -q --no-deps --no-index "$wheels"/*.whl; fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
work="${TMPDIR:-/tmp}/e3d-gpu-check"
threads=$(nproc)
e3d() { python3 -m e3d.cli "$@"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" | tee -a "$out/gpu.txt"

if [ ! -f "$work/frames/manifest.json" ]; then
  e3d synth --out "$work/raw" --classes 10 --clips-per-class 32 --min-side 224 --max-side 256 \
      --min-seconds 2 --max-seconds 3 --threads "$threads"
  e3d index --format synthetic --root "$work/raw" --out "$work/index.parquet"
  e3d extract --index "$work/index.parquet" --out "$work/frames" --short-side 256 --shards 8 --threads "$threads"
fi

settings='{"epochs": 2, "batch_size": 16, "frames": 16, "crop": 224, "flip": false, "checkpoint_every": 0, "lr": 0.4}'
for model in e3d-m x3d-m; do
  rm -rf "$work/state-$model" "$work/train-$model"
  torchrun --standalone --nproc_per_node=1 -m e3d.cli train --store "$work/frames" --arch "builtin:$model" \
      --settings "$settings" --precision bf16 --out "$work/train-$model" --state-dir "$work/state-$model" \
      2>&1 | tee "$out/train-$model.log" | tail -n 5
  python3 - "$work/train-$model/metrics.parquet" "$model" <<'PY' | tee -a "$out/summary.txt"
import sys, pandas as pd
m = pd.read_parquet(sys.argv[1])
print(sys.argv[2], "train clips/s (bf16, 16x224^2, epoch 2 of 2):", round(float(m["clips_per_s"].iloc[-1]), 1),
      "loss", round(float(m["loss"].iloc[-1]), 3))
PY
  e3d profile "$model" --latency --device cuda --out "$out/profile-$model.json" > /dev/null
  python3 - "$out/profile-$model.json" "$model" <<'PY' | tee -a "$out/summary.txt"
import json, sys
d = json.load(open(sys.argv[1]))
lat = d.get("latency", d)
print(sys.argv[2], "latency/throughput at batch 16:", {k: lat[k] for k in lat if k in
      ("latency_ms_per_video", "throughput_videos_per_s", "batch", "device", "precision", "median_batch_seconds")})
PY
done
