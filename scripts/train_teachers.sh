#!/usr/bin/env bash
# Train the paper's five teachers from scratch with CRD's recipe (RepDistiller
# scripts/run_cifar_vanilla.sh: `python train_teacher.py --model <arch>`, 240 epochs, SGD lr 0.05,
# decay at 150/180/210): vgg13, resnet56, resnet32x4, wrn_40_2, ResNet50 on CIFAR-100
# (DATASET=tinyimagenet for Tiny ImageNet). Knobs: see scripts/common.sh.
#   bash scripts/train_teachers.sh
#   DRY_RUN=1 TEACHERS=resnet56 EPOCHS=2 bash scripts/train_teachers.sh
# The other scripts then find these teachers with the TEACHER_PATTERN printed at the end.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

teacher_dir="$SAVE_ROOT/models"
for teacher in "${TEACHERS[@]}"; do
  folder="$(teacher_run_folder "$teacher_dir" "$teacher")"
  if finished "$folder"; then
    note "finished, skipped: $folder"
    continue
  fi
  launch "teacher_$teacher" "$PYTHON" train_teacher.py --model "$teacher" "${DATA_FLAGS[@]}" "${EPOCH_FLAGS[@]}" \
    --model_path "$teacher_dir" --trial 0 --seed 0 --resume
done
wait_runs
# Teachers are not student runs: there is nothing for summarize.py yet.
echo "teachers trained; use them with: TEACHER_PATTERN='$(teacher_run_folder "$teacher_dir" "{arch}")/last.pth'"
