#!/usr/bin/env bash
# Scale checks for a machine with CUDA GPUs, in one go (written on the project's CPU-only machine:
# NOT measured there — see docs/scale.md). Results land in $OUT (default
# gpu-results/scale) as JSON, plus a summary printed at the end.
#
#   bash scripts/bench/gpu_scale.sh                 # all of it: ~8-10 minutes on one H100/H200
#   STEPS=60 bash scripts/bench/gpu_scale.sh        # shorter rows
#
# 1. ResNet-50 at 224 px, DANN on MNIST -> MNIST-M resized to 224 (`python -m core bench --resnet`):
#    the textbook loop (DataLoader, 4 workers, pinned memory, fp32, NCHW) against the engine's plain
#    fp32 loop, its fast path (bf16 autocast, channels-last, fused Adam, CUDA graph) and + torch.compile.
# 2. DDP scaling from 1 GPU to all of them: torchrun --nproc_per_node K for K = 1, 2, 4, ..., N,
#    weak scaling (64 + 64 pictures per GPU, global batch 64·K), the same path for every K (eager
#    bf16 channels-last with fused Adam: CUDA graphs are off under DDP), NCCL. Efficiency(K) =
#    images/s(K) / (K · images/s(1)). With one GPU only K = 1 runs.
# 3. The streamed path on a GPU: a folder of 224-px JPEGs written on the spot, larger than a 256 MB
#    data budget, so DataLoader workers decode it while the GPU trains (`--data auto`).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-gpu-results/scale}
STEPS=${STEPS:-150}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
NGPU=$(python3 -c "import torch; print(torch.cuda.device_count())")
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gpus', torch.cuda.device_count())"
  nproc; } | tee "$OUT/machine.txt"
if [ "$NGPU" -lt 1 ]; then echo "no CUDA GPU here: nothing to measure" >&2; exit 1; fi

# 1. ResNet-50 at 224 px ---------------------------------------------------------------------------
echo "== ResNet-50 224 px: textbook vs engine"
timeout 420 python3 -m core bench --resnet --device cuda --json > "$OUT/resnet50.json" 2> "$OUT/resnet50.err" \
  || { echo "resnet rows failed:"; tail -5 "$OUT/resnet50.err"; }

# 2. DDP scaling -------------------------------------------------------------------------------------
echo "== DDP scaling over 1..$NGPU GPUs"
K=1
while [ "$K" -le "$NGPU" ]; do
  timeout 300 python3 -m torch.distributed.run --nproc_per_node "$K" --master_port $((29600 + K)) -m core train \
      --method dann --source mnist --target mnistm --arch resnet50 --image-size 224 \
      --batch-size $((64 * K)) --steps "$STEPS" --eval-every 0 --accel off --device cuda --json --quiet \
      --out "$OUT/ddp-$K" > "$OUT/ddp-$K.json" 2> "$OUT/ddp-$K.err" \
    || { echo "K=$K failed:"; tail -5 "$OUT/ddp-$K.err"; }
  rm -f "$OUT/ddp-$K/model.safetensors"
  if [ "$K" -eq "$NGPU" ]; then break; fi
  K=$((K * 2)); if [ "$K" -gt "$NGPU" ]; then K=$NGPU; fi
done

# 3. Streaming a folder larger than the data budget onto the GPU --------------------------------------
echo "== streamed 224-px folder"
python3 - "$OUT/photos" <<'EOF'
import sys
from pathlib import Path
import numpy as np
from PIL import Image
root, rng = Path(sys.argv[1]), np.random.default_rng(0)
for c in range(10):
    (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    base = rng.integers(0, 255, 3)
    for i in range(300):  # 3,000 pictures: 430 MB decoded at 224 px, ~25 MB of JPEG
        g = np.linspace(0, 1, 224)[None, :, None] * rng.integers(0, 255, 3) + base * 0.5
        img = (g + rng.normal(0, 20, (224, 224, 3))).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"class{c}" / f"{i:04d}.jpg", quality=85)
EOF
TIMER=""; if [ -x /usr/bin/time ]; then TIMER="/usr/bin/time -v"; fi
$TIMER timeout 300 python3 -m core train --method dann --source "folder:$OUT/photos" \
    --target "folder:$OUT/photos" --arch resnet50 --image-size 224 --data-budget 256 --steps 100 \
    --eval-every 0 --device cuda --json --quiet --out "$OUT/stream-run" \
    > "$OUT/stream.json" 2> "$OUT/stream.err" || { echo "stream run failed:"; tail -5 "$OUT/stream.err"; }
rm -rf "$OUT/photos" "$OUT/stream-run/model.safetensors"

# summary ------------------------------------------------------------------------------------------
python3 - "$OUT" "$NGPU" <<'EOF'
import json, sys
from pathlib import Path
out, ngpu = Path(sys.argv[1]), int(sys.argv[2])
def last_json(path):
    try:
        return json.loads(Path(path).read_text().strip().splitlines()[-1])
    except Exception as err:  # noqa: BLE001
        return {"error": f"{type(err).__name__}: {err}"}
r = last_json(out / "resnet50.json")
print("ResNet-50 224 px, DANN, 64 + 64 per step (images/s):")
for key in ("resnet_textbook", "resnet_engine_fp32", "resnet_engine", "resnet_engine_compile"):
    if isinstance(r.get(key), dict):
        print(f"  {key:<24} {r[key]['images_per_s']:10.0f}   accel={r[key].get('accel', '-')}")
if "resnet_speedup" in r:
    print(f"  best engine path vs textbook: x{r['resnet_speedup']:.2f}")
rows, base = [], None
k = 1
while True:
    d = last_json(out / f"ddp-{k}.json")
    if "images_per_s" in d:
        base = base or d["images_per_s"]
        rows.append((k, d["images_per_s"], d["images_per_s"] / (k * base)))
    if k == ngpu:
        break
    k = min(k * 2, ngpu)
print("DDP weak scaling (64 + 64 per GPU, eager bf16 channels-last, NCCL):")
for k, ips, eff in rows:
    print(f"  {k} GPU(s): {ips:10.0f} images/s   efficiency {100 * eff:5.1f} %")
s = last_json(out / "stream.json")
print("streamed 224-px folder:", {k: s.get(k) for k in ("images_per_s", "data", "seconds")})
json.dump({"resnet": r, "ddp": rows, "stream": s}, open(out / "summary.json", "w"), indent=1)
EOF
grep -h "Maximum resident" "$OUT/stream.err" || true
