#!/usr/bin/env bash
# Reproduction of docs/results.md: Z2CNN / P4CNN / αF-P4CNN / α-P4CNN on rotmnist-small,
# several seeds, validation-selected, one training process at a time (CPU).
#   EPOCHS=3 BATCH=32 MODELS="p4cnn af-p4cnn" SEEDS="0 1 2" OUT=runs/repro scripts/reproduce.sh
#   DATA=rotfashion EXTRA="--limit 10000 --model-kw dropout=0.0" OUT=runs/fashion scripts/reproduce.sh
# Seeds are the outer loop, so every finished seed is a complete comparison. Finished runs
# (summary.json present) are skipped; interrupted ones are resumed; a model that fails to
# build (e.g. its layers are not installed) is reported and skipped.
set -uo pipefail
EPOCHS=${EPOCHS:-3}
BATCH=${BATCH:-32}
MODELS=${MODELS:-"p4cnn af-p4cnn z2cnn"}  # a-p4cnn: hours per epoch on CPU
SEEDS=${SEEDS:-"0 1 2"}
DATA=${DATA:-rotmnist-small}
OUT=${OUT:-runs/repro}
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"  # more gattn train options, e.g. --limit 10000
for seed in $SEEDS; do
  for model in $MODELS; do
    run="$OUT/$DATA-$model-s$seed"
    if [[ -f "$run/summary.json" ]]; then continue; fi
    resume=()
    if [[ -f "$run/last.pt" ]]; then resume=(--resume); fi
    gattn train --model "$model" --data "$DATA" --epochs "$EPOCHS" --seed "$seed" \
      --batch-size "$BATCH" --out "$run" --quiet "${resume[@]}" "${EXTRA_ARGS[@]}" \
      || echo "FAILED: $model seed $seed" >&2
  done
done
gattn table "$OUT"/*/
