#!/usr/bin/env bash
# One script for a GPU machine (about 7 minutes on an H200; give the call 600 s): build
# with the CUDA kernels, probe the error path, run the CUDA tests, the GPU round, k-means
# layout, codec and op benchmarks, a profile of one ML-1M-sized round, then (FULL=1, the
# default) a 100-round ML-100K training run on the GPU, the whole test suite there and
# compute-sanitizer, in that order of value. Every step has its own time limit, so a
# slow step costs only itself. FULL=0 stops after the profile (about 5 minutes).
#
#   OUT=gpu-results CUDAARCHS=90 FEDRAS_CACHE=/path/with/ml-100k.inter bash benchmarks/gpu_check.sh
#
# The machine needs torch (CUDA), pybind11, scikit-build-core and ninja installed; it
# needs no network (--no-build-isolation --no-deps). ML-100K must already be in the
# cache ($FEDRAS_CACHE): the ml100k shape and the training run read it.
# Writes at most 7 files to $OUT: log.txt (everything printed), build.log, round.json,
# ops.json, train.json, cuda_tests.xml, suite.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export PYTHONUNBUFFERED=1
status=0
step() { echo; echo "=== $1 ($(date +%T))"; }

{
step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
python -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'numpy', numpy.__version__)"

step "build (CUDAARCHS=${CUDAARCHS:-default})"
start=$(date +%s)
FEDRAS_CUDA=ON python -m pip install --no-build-isolation --no-deps . >"$OUT/build.log" 2>&1 || { tail -60 "$OUT/build.log"; exit 1; }
echo "build seconds: $(( $(date +%s) - start ))"
# From outside the checkout: at its root the source tree of fedras_ext shadows the install.
(cd "$OUT" && python -c "import json, fedras_ext; print(json.dumps(fedras_ext.build_info()))")

step "error probe (does an error raised in _C reach Python intact?)"
if ! timeout 60 python benchmarks/error_probe.py; then
  status=1
  # The first crashing case under cuda-gdb, innermost frames first.
  timeout 120 cuda-gdb -q -batch -ex "set pagination off" -ex run -ex "bt 40" \
    --args python benchmarks/error_probe.py --case cuda_value 2>&1 | grep -E "^#|signal" | head -45
fi

step "CUDA tests (every native op against its reference; the engines on the GPU)"
# With xdist a crashing test costs one worker, not the rest of the run.
xdist=$(python -c "import xdist" 2>/dev/null && echo "-n 4")
(cd tests && timeout 150 python -m pytest -q -m cuda -p no:cacheprovider $xdist -rf --tb=short --junitxml="$OUT/cuda_tests.xml" . 2>&1 \
  | grep -v '^  File "/' | tail -60)
test "${PIPESTATUS[0]}" -eq 0 || status=1

step "round benchmark on the GPU"
timeout 160 python benchmarks/round.py --device cuda --shapes ml100k,ml1m-synth,scale --rounds 2 --loop-rounds 0 \
  --timeout 120 --json "$OUT/round.json" || status=1

step "k-means by segment layout on the GPU"
timeout 60 python benchmarks/kmeans_shapes.py --device cuda --repeat 3 || status=1

step "batch codec on this host (ML-1M-sized round)"
timeout 60 python benchmarks/codec.py --shape ml1m-synth --repeat 3 --batch-only || status=1

step "op benchmark on the GPU (native against reference, bandwidth)"
timeout 90 python benchmarks/ops.py --device cuda --repeat 10 --quick --json "$OUT/ops.json" || status=1

step "profile of one ML-1M-sized round on the GPU"
timeout 90 python benchmarks/round.py --profile ml1m-synth --device cuda || status=1

if [ "${FULL:-1}" = 0 ]; then exit $status; fi

step "ML-100K, 100 rounds of fedras, on the GPU"
timeout 150 fedras train --device cuda --no-progress --out /tmp/fedras-train 2>&1 | tail -8 || status=1
cp /tmp/fedras-train/result.json "$OUT/train.json" || status=1

step "whole test suite on this machine"
(cd tests && timeout 200 python -m pytest -q -p no:cacheprovider $xdist -rf --tb=line . > "$OUT/suite.txt" 2>&1; \
  grep -E "passed|failed|FAILED|crashed|node down" "$OUT/suite.txt" | tail -40)
step "compute-sanitizer memcheck over the small CUDA op tests"
(cd tests && timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 python -m pytest -q -m cuda -p no:cacheprovider \
  test_apply_actions.py test_bitpack.py test_project.py 2>&1 | tail -15)
exit $status
} 2>&1 | tee "$OUT/log.txt"
exit "${PIPESTATUS[0]}"
