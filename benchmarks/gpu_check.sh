#!/usr/bin/env bash
# The GPU checks in one go (about 6 minutes on an H100/H200): the GPU tests, the loop benchmark
# (target: vgg16_paper, 512 x 512, GuidedBackprop, batch 32, with the loop options; then the
# scaling grid 256/512/1024 x batch 1/8/32 for vgg16_paper and vgg_tiny within a time budget) and
# the inpainting benchmark. Results go to benchmarks/results/ and, flat, to "$OUT" (8 files at most).
#
#   bash benchmarks/gpu_check.sh                   # on the GPU machine (OUT set by the runner)
#   DEVICE=cpu QUICK=1 bash benchmarks/gpu_check.sh   # a quick end-to-end rehearsal on a CPU
#
# The GPU machine has no captum or kornia and no internet: their wheels are carried in .wheels/.
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE="${DEVICE:-cuda}"
QUICK="${QUICK:-0}"
OUT="${OUT:-$(mktemp -d)}"
PYTHON="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT" benchmarks/results
LOG="$OUT/gpu_check.log"
status=0

step() { echo "== $* ($(date -u +%H:%M:%S))" | tee -a "$LOG"; }

if ! "$PYTHON" -c "import captum, kornia" 2> /dev/null && compgen -G ".wheels/*.whl" > /dev/null; then
    step "install carried wheels"
    "$PYTHON" -m pip install --quiet --no-deps --no-index .wheels/*.whl >> "$LOG" 2>&1 || status=1
fi
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else '')" 2>&1 | tee -a "$LOG"

MARK="$(mktemp)"
if [ "$QUICK" = 1 ]; then  # a rehearsal: results straight into $OUT, benchmarks/results untouched
    RESULTS="$OUT"
    loop_args=(--quick --profile)
    inpaint_args=(--quick)
    test_timeout=120
else
    RESULTS=benchmarks/results
    loop_args=(--profile --budget-s 240)
    inpaint_args=()
    test_timeout=150
fi

step "GPU tests"
timeout "$test_timeout" "$PYTHON" -m pytest -q -m gpu -p no:cacheprovider \
    --continue-on-collection-errors tests/ > "$OUT/gpu_tests.log" 2>&1
rc=$?
tail -n 25 "$OUT/gpu_tests.log" | tee -a "$LOG"
# 5: no test collected (e.g. DEVICE=cpu, where every GPU test is skipped)
if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then status=1; fi

step "loop benchmark"
timeout 330 "$PYTHON" benchmarks/bench_loop.py --device "$DEVICE" --out "$RESULTS" "${loop_args[@]}" >> "$LOG" 2>&1 \
    || { echo "bench_loop.py failed or timed out (partial results kept)" | tee -a "$LOG"; status=1; }

step "inpainting benchmark"
timeout 120 "$PYTHON" benchmarks/bench_inpaint.py --device "$DEVICE" --out "$RESULTS" "${inpaint_args[@]}" >> "$LOG" 2>&1 \
    || { echo "bench_inpaint.py failed or timed out" | tee -a "$LOG"; status=1; }

step "copy results"
if [ "$RESULTS" != "$OUT" ]; then
    for f in "$RESULTS"/loop_*.json "$RESULTS"/loop_*.md "$RESULTS"/loop_profile_*.txt \
             "$RESULTS"/inpaint_*.json "$RESULTS"/inpaint_*.md; do
        if [ -f "$f" ] && [ "$f" -nt "$MARK" ]; then cp "$f" "$OUT/"; fi
    done
fi
rm -f "$MARK"
ls -1 "$OUT" | tee -a "$LOG"
step "done, status $status"
exit $status
