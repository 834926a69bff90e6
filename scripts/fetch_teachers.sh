#!/usr/bin/env bash
# Fetch the published teachers to where the other scripts look for them, and check each one's test
# accuracy against the accuracy its source publishes (the work is done by scripts/fetch_teachers.py).
#   CIFAR-100 (default): CRD's teachers from Good-DA-in-KD's release, else from mdistiller's
#     -> save/models/<arch>_vanilla/ckpt_epoch_240.pth, checked against RepDistiller's README
#   DATASET=tinyimagenet: Good-DA-in-KD's teachers -> save/models_tinyimagenet_v2/<arch>_vanilla/
# Knobs: TEACHERS, TEACHER_PATTERN, DATA_FOLDER, DEVICE, DRY_RUN, PYTHON (see scripts/common.sh) and
#   TEACHER_SOURCES  space-separated archive addresses (zip or tar) to try in order instead of the published ones
#   EXPECTED_ACC     JSON file {arch: accuracy in %} to check against instead of the published accuracies
#   SKIP_CHECK=1     install without the accuracy check (needs no test data)
#   DATA_FOLDER=/data bash scripts/fetch_teachers.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

args=(--dataset "$DATASET" --teachers "${TEACHERS[@]}" --destination "$TEACHER_PATTERN")
[[ -n "${DATA_FOLDER:-}" ]] && args+=(--data_folder "$DATA_FOLDER")
[[ -n "${DEVICE:-}" ]] && args+=(--device "$DEVICE")
if [[ -n "${TEACHER_SOURCES:-}" ]]; then
  read -ra sources <<< "$TEACHER_SOURCES"
  args+=(--sources "${sources[@]}")
fi
[[ -n "${EXPECTED_ACC:-}" ]] && args+=(--expected "$EXPECTED_ACC")
[[ "${SKIP_CHECK:-0}" == 1 ]] && args+=(--skip_check)
run "$PYTHON" scripts/fetch_teachers.py "${args[@]}"
