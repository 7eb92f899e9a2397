#!/usr/bin/env bash
# Final check: the k-means walk/pick/member-sum changes against a2ef01e, rounds, CUDA tests.
set -uo pipefail
export PYTHONUNBUFFERED=1 FEDRAS_CACHE=$PWD/.gpu
step() { echo; echo "=== $1 ($(date +%T))"; }
build() { FEDRAS_CUDA=ON CUDAARCHS=90 python -m pip install --no-build-isolation --no-deps . >"$OUT/build-$1.log" 2>&1 || { tail -30 "$OUT/build-$1.log"; return 1; }; }
{
step "build (working tree)"
build new || exit 1
step "all CUDA tests"
(cd tests && timeout 90 python -m pytest -q -m cuda -p no:cacheprovider -n 6 -rf --tb=short --junitxml="$OUT/cuda_tests.xml" . 2>&1 \
  | grep -v '^  File "/' | grep -v "PytestBenchmarkWarning\|warner(" | tail -25)
step "k-means layouts (new)"
timeout 50 python benchmarks/kmeans_shapes.py --device cuda --repeat 3
for it in 0 1; do timeout 25 python benchmarks/kmeans_shapes.py --device cuda --repeat 3 --iters $it --only "6,040 x 1,000" | tail -1; done
step "rounds (new)"
timeout 120 python benchmarks/round.py --device cuda --shapes ml100k,ml1m-synth,scale --rounds 2 --loop-rounds 0 --timeout 100 --json "$OUT/round.json"
step "build a2ef01e's kmeans_cuda.cu"
cp .gpu/kmeans_cuda_a2ef01e.cu csrc/cuda/kmeans_cuda.cu && build old && for l in "6,040 x 250" "6,040 x 1,000" "100k x 200"; do
  timeout 25 python benchmarks/kmeans_shapes.py --device cuda --repeat 3 --only "$l" | tail -1; done
step done
} 2>&1 | tee "$OUT/log.txt"
