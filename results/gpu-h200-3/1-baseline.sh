#!/usr/bin/env bash
# Baseline + profile of HEAD on the GPU (scratch; session 2026-11-28).
set -uo pipefail
export PYTHONUNBUFFERED=1 FEDRAS_CACHE=$PWD/.gpu
step() { echo; echo "=== $1 ($(date +%T))"; }
{
step machine
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
step build
FEDRAS_CUDA=ON CUDAARCHS=90 python -m pip install --no-build-isolation --no-deps . >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
(cd /tmp && python -c "import json, fedras_ext; print(json.dumps(fedras_ext.build_info()))")
step "round ml100k, ml1m"
timeout 120 python benchmarks/round.py --device cuda --shapes ml100k,ml1m-synth --rounds 2 --loop-rounds 0 --timeout 90 --json "$OUT/round.json"
step "kmeans 6040x1000 iters 0/1/10; 6040x250 10"
for it in 0 1 10; do timeout 40 python benchmarks/kmeans_shapes.py --device cuda --repeat 3 --iters $it --only "6,040 x 1,000"; done
timeout 40 python benchmarks/kmeans_shapes.py --device cuda --repeat 3 --only "6,040 x 250"
step ncu
timeout 100 ncu --clock-control none --kernel-name regex:kmeans_kernel --launch-count 1 --set full --import-source yes -f -o "$OUT/km" \
  python benchmarks/kmeans_shapes.py --device cuda --repeat 1 --only "6,040 x 250" 2>&1 | tail -5
ncu -i "$OUT/km.ncu-rep" --page details > "$OUT/km_details.txt" 2>&1; head -c 400 "$OUT/km_details.txt"
ncu -i "$OUT/km.ncu-rep" --page source --csv --print-source cuda > "$OUT/km_src.csv" 2>&1 || \
  ncu -i "$OUT/km.ncu-rep" --page source --csv > "$OUT/km_src.csv" 2>&1
wc -c "$OUT"/km_src.csv; head -c 600 "$OUT/km_src.csv"
step "CUDA tests"
(cd tests && timeout 120 python -m pytest -q -m cuda -p no:cacheprovider -n 4 -rf --tb=short . 2>&1 | grep -v '^  File "/' | tail -25)
step "profile ml1m round"
timeout 80 python benchmarks/round.py --profile ml1m-synth --device cuda 2>&1 | head -75
step done
} 2>&1 | tee "$OUT/log.txt"
