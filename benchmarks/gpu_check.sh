#!/usr/bin/env bash
# One script for a GPU machine (under 8 minutes on an H100): build with the CUDA
# kernels, run the CUDA tests, run the GPU benchmark tables, write results as JSON.
#
#   OUT=gpu-results bash benchmarks/gpu_check.sh
#
# The machine needs torch (CUDA), pybind11, scikit-build-core and ninja installed; it
# needs no network (--no-build-isolation --no-deps).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
status=0

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"

start=$(date +%s)
FEDRAS_CUDA=ON pip install --no-build-isolation --no-deps . >"$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
echo "build seconds: $(( $(date +%s) - start ))" | tee -a "$OUT/gpu.txt"
# From outside the checkout: at its root the source tree of fedras_ext shadows the install.
(cd "$OUT" && python -c "import json, fedras_ext; print(json.dumps(fedras_ext.build_info()))") | tee "$OUT/build_info.json"

# The CUDA test cases only (every native op against its reference, on the GPU).
cd tests && python -m pytest -q -m cuda -p no:cacheprovider --junitxml="../$OUT/cuda_tests.xml" . 2>&1 \
  | tail -25 | tee "../$OUT/cuda_tests.txt"
test "${PIPESTATUS[0]}" -eq 0 || status=1
cd ..

timeout 150 python benchmarks/ops.py --device cuda --repeat 10 --quick --json "$OUT/ops.json" | tee "$OUT/ops.txt" || status=1
timeout 200 python benchmarks/round.py --device cuda --rounds 2 --loop-rounds 0 --timeout 180 --json "$OUT/round.json" \
  | tee "$OUT/round.txt" || status=1
exit $status
