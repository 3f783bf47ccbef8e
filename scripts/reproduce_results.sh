#!/usr/bin/env bash
# Reproduce the real-data results of docs/results.md from the dataset folders:
#
#   scripts/reproduce_results.sh /path/to/aptos2019 /path/to/diaretdb1 [/path/to/dr600]
#
# (or set APTOS_ROOT, DIARETDB1_ROOT and DR600_ROOT). Steps:
#   1. the classifier: by default the committed 512 px one,
#      captum_iterative/checkpoints/dr600_512.pt (vgg_small from the APTOS checkpoint, fine-tuned
#      on dr600; CLASSIFIER=aptos2019 uses the earlier 224 px aptos_vgg_small.pt instead). With
#      TRAIN=1 a fresh one is trained the same way (APTOS 2019 at 224, then dr600 at 512; grouped
#      80/20 splits, seed 0; about 25 + 35 minutes of 2 CPU cores when they are not shared; CPU
#      training is not bit-identical across machines, so a fresh checkpoint gives close but not
#      equal numbers);
#   2. the paper's localization protocol on all 89 DiaretDB1 images, then on the 61 test
#      images (which reuse the cached maps of the first run);
#   3. the synthetic default of examples/fundus_dr.py (shipped synthetic checkpoint).
# Everything is written under OUT (default out/results): table.md, table.csv, froc_*.png,
# per_image.csv, settings.json, cache/ and overlays.png (overlays show DiaretDB1 pixels: they
# stay out of the repository). Environment: PYTHON (default .venv/bin/python, else python3),
# OUT, DEVICE (default cpu), IG_STEPS (integrated gradients steps, default 16), TRAIN (default 0),
# CLASSIFIER (dr600 or aptos2019, default dr600). The 512 px run of the five methods takes about
# 1.5 hours of 2 CPU cores, integrated gradients most of it.
set -euo pipefail
cd "$(dirname "$0")/.."

APTOS_ROOT="${1:-${APTOS_ROOT:-}}"
DIARETDB1_ROOT="${2:-${DIARETDB1_ROOT:-}}"
DR600_ROOT="${3:-${DR600_ROOT:-}}"
CLASSIFIER="${CLASSIFIER:-dr600}"
case "$CLASSIFIER" in
    dr600|aptos2019) ;;
    *) echo "$0: error: CLASSIFIER must be dr600 or aptos2019, not '$CLASSIFIER'" >&2; exit 2 ;;
esac
if [ -z "$DIARETDB1_ROOT" ] || { [ "${TRAIN:-0}" = 1 ] && [ -z "$APTOS_ROOT" ]; } ||
    { [ "${TRAIN:-0}" = 1 ] && [ "$CLASSIFIER" = dr600 ] && [ -z "$DR600_ROOT" ]; }; then
    echo "usage: $0 APTOS_ROOT DIARETDB1_ROOT [DR600_ROOT]" \
        "(APTOS_ROOT and DR600_ROOT are needed only with TRAIN=1)" >&2
    exit 2
fi
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
OUT="${OUT:-out/results}"
DEVICE="${DEVICE:-cpu}"
IG_STEPS="${IG_STEPS:-16}"
mkdir -p "$OUT"

APTOS_CHECKPOINT=captum_iterative/checkpoints/aptos_vgg_small.pt
CHECKPOINT=captum_iterative/checkpoints/dr600_512.pt
if [ "${TRAIN:-0}" = 1 ]; then
    APTOS_CHECKPOINT="$OUT/aptos_vgg_small.pt"
    "$PYTHON" -m captum_iterative.fundus.train --dataset aptos2019 --root "$APTOS_ROOT" \
        --arch vgg_small --input-size 224 --epochs 10 --batch-size 16 --lr 1e-3 --seed 0 \
        --device "$DEVICE" --out "$APTOS_CHECKPOINT" --summary "$OUT/aptos_vgg_small.json"
    CHECKPOINT="$OUT/dr600_512.pt"
    if [ "$CLASSIFIER" = dr600 ]; then
        # candidate (a) of docs/results.md, as captum_iterative/checkpoints/dr600_512.json records
        "$PYTHON" -m captum_iterative.fundus.train --dataset dr600 --root "$DR600_ROOT" \
            --input-size 512 --init-checkpoint "$APTOS_CHECKPOINT" --lr 3e-4 --epochs 16 \
            --batch-size 8 --channels-last --seed 0 --device "$DEVICE" --out "$CHECKPOINT" \
            --summary "$OUT/dr600_512.json"
    fi
fi
if [ "$CLASSIFIER" = aptos2019 ]; then CHECKPOINT="$APTOS_CHECKPOINT"; fi

"$PYTHON" examples/fundus_dr.py --dataset diaretdb1 --root "$DIARETDB1_ROOT" --split all \
    --checkpoint "$CHECKPOINT" --ig-steps "$IG_STEPS" --device "$DEVICE" --quiet \
    --out "$OUT/diaretdb1_all"
# Same classifier, settings and images: the test run reuses the maps computed above.
mkdir -p "$OUT/diaretdb1_test"
cp -r "$OUT/diaretdb1_all/cache" "$OUT/diaretdb1_test/"
"$PYTHON" examples/fundus_dr.py --dataset diaretdb1 --root "$DIARETDB1_ROOT" --split test \
    --checkpoint "$CHECKPOINT" --ig-steps "$IG_STEPS" --device "$DEVICE" --quiet \
    --out "$OUT/diaretdb1_test"

"$PYTHON" examples/fundus_dr.py --device "$DEVICE" --quiet --out "$OUT/synthetic"
