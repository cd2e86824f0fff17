#!/usr/bin/env bash
# The engine's CUDA fast path on a GPU machine: the CUDA tests, `python -m core bench --device cuda`
# and a default CLI run. Writes everything under $OUT (default gpu-results/) and prints the table.
#   bash scripts/bench/gpu_bench.sh            # on a machine with a CUDA GPU and this repo's requirements
set -uo pipefail
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } | tee "$OUT/gpu.txt"
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_accel.py 2>&1 | tee "$OUT/pytest.log" | tail -5
timeout 60 python3 -m core train --device cuda --json --quiet --out "$OUT/run" > "$OUT/train.json" 2> "$OUT/train.err"
tail -1 "$OUT/train.json"; rm -rf "$OUT/run"
timeout 200 python3 scripts/bench/gpu_smoke.py --device cuda --steps 300 2>&1 | tee "$OUT/smoke.txt"
timeout 370 python3 -m core bench --device cuda --json ${BENCH_ARGS:-} > "$OUT/bench.json" 2> "$OUT/bench.err" \
  || tail -20 "$OUT/bench.err"
python3 -c "import json, sys; from core.bench import print_report; print_report(json.load(open(sys.argv[1])))" "$OUT/bench.json"
