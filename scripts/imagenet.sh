#!/usr/bin/env bash
# The paper's ImageNet100 and ImageNet-1K correlation runs: resnet34 -> resnet18 distilled with KD
# and each of the nine DAs (S. test loss), and the teacher's T. stddev of the nine DAs.
# Teachers: torchvision's published resnet34 on ImageNet-1K (--pretrained; or TEACHER_PATTERN=a
# weight file), and on ImageNet100 a resnet34 trained here first (or TEACHER_PATTERN).
# Schedule: torchvision's ImageNet recipe (batch 256, lr 0.1, weight decay 1e-4, 100 epochs, lr x0.1
# after 30, 60, 90); the original scripts give none for ImageNet.
# Data: DATA_FOLDER/imagenet100 (scripts/make_imagenet100.py) and DATA_FOLDER/imagenet.
#   bash scripts/imagenet.sh                      # both data sets
#   IMAGENET_SETS=imagenet100 bash scripts/imagenet.sh
#   DRY_RUN=1 TRIALS=1 EPOCHS=2 N_GROUPS=10 bash scripts/imagenet.sh
#   LAUNCH="torchrun --standalone --nproc_per_node=8" bash scripts/imagenet.sh   # 8 GPUs
set -euo pipefail
if [[ -z "${DATASET:-}" ]]; then
  for dataset in ${IMAGENET_SETS:-imagenet100 imagenet}; do
    DATASET="$dataset" bash "${BASH_SOURCE[0]}"
  done
  exit 0
fi
user_teacher="${TEACHER_PATTERN:-}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TEACHERS=(resnet34)
TRAIN_FLAGS=(--batch_size 256 --learning_rate 0.1 --weight_decay 1e-4)
# EPOCHS scales a run down; the decays then sit at CRD's fractions of it
[[ -n "${EPOCHS:-}" ]] || TRAIN_FLAGS+=(--epochs 100 --lr_decay_epochs 30,60,90)

if [[ "$DATASET" == imagenet100 && -z "$user_teacher" ]]; then
  teacher_dir="$SAVE_ROOT/models"
  folder="$teacher_dir/resnet34_${DATASET}_lr_0.1_decay_0.0001_trial_0"
  TEACHER_PATTERN="$folder/last.pth"
  if finished "$folder"; then
    note "finished, skipped: $folder"
  else
    run "${LAUNCH_CMD[@]}" train_teacher.py --model resnet34 "${DATA_FLAGS[@]}" "${TRAIN_FLAGS[@]}" "${EPOCH_FLAGS[@]}" \
      --model_path "$teacher_dir" --trial 0 --seed 0 --resume
  fi
fi

require_teachers "${TEACHERS[@]}"
s_test_loss_runs resnet34:resnet18
t_stddev resnet34
summarize
