#!/usr/bin/env bash
# The new block-path k-means on the GPU: build, CUDA tests, k-means layouts, rounds, ncu.
set -uo pipefail
export PYTHONUNBUFFERED=1 FEDRAS_CACHE=$PWD/.gpu
step() { echo; echo "=== $1 ($(date +%T))"; }
{
step build
FEDRAS_CUDA=ON CUDAARCHS=90 python -m pip install --no-build-isolation --no-deps . >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
step "CUDA tests"
(cd tests && timeout 150 python -m pytest -q -m cuda -p no:cacheprovider -n 6 -rf --tb=short --junitxml="$OUT/cuda_tests.xml" . 2>&1 \
  | grep -v '^  File "/' | grep -v "PytestBenchmarkWarning\|warner(" | tail -40)
step "k-means layouts"
timeout 60 python benchmarks/kmeans_shapes.py --device cuda --repeat 3
for it in 0 1; do timeout 30 python benchmarks/kmeans_shapes.py --device cuda --repeat 3 --iters $it --only "6,040 x 1,000"; done
step "rounds"
timeout 170 python benchmarks/round.py --device cuda --shapes ml100k,ml1m-synth,scale --rounds 2 --loop-rounds 0 --timeout 120 --json "$OUT/round.json"
step "batch codec on this host (ML-1M-sized round)"
timeout 40 python benchmarks/codec.py --shape ml1m-synth --repeat 3 --batch-only
step ncu
timeout 60 ncu --clock-control none --kernel-name regex:kmeans_kernel --launch-count 1 --set full -f -o "$OUT/km2" \
  python benchmarks/kmeans_shapes.py --device cuda --repeat 1 --only "6,040 x 250" 2>&1 | tail -2
ncu -i "$OUT/km2.ncu-rep" --page details > "$OUT/km2_details.txt" 2>&1
grep -E "Duration|Throughput|Executed Ipc|Registers|Achieved Occupancy|Warp Cycles Per Issued|excessive|bank|Spilling|Issued Instructions  " "$OUT/km2_details.txt" | head -30
step "profile ml1m round"
timeout 60 python benchmarks/round.py --profile ml1m-synth --device cuda 2>&1 | grep -v "^$" | head -30
step done
} 2>&1 | tee "$OUT/log.txt"
