#!/usr/bin/env bash
# The Tiny ImageNet experiments: S. test loss of the nine pairs x nine DAs (Good-DA-in-KD
# scripts/S_test_loss_different_DA_tinyimagenet.sh), T. stddev of the five teachers
# (T_stddev_different_DA_tinyimagenet.sh), and the accuracy settings of accuracy_tables_cifar100.sh
# with prolonged runs of 480 epochs (--epoch_factor 2) on its seven pairs. Teachers: the published
# ones (DATASET=tinyimagenet bash scripts/fetch_teachers.sh) or your own
# (DATASET=tinyimagenet bash scripts/train_teachers.sh, then set TEACHER_PATTERN).
# Data: tiny-imagenet-200/ under DATA_FOLDER.
#   bash scripts/tinyimagenet.sh
#   DRY_RUN=1 TRIALS=1 EPOCHS=2 bash scripts/tinyimagenet.sh
set -euo pipefail
DATASET=tinyimagenet
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

read -ra loss_pairs <<< "${PAIRS:-$ALL_PAIRS}"
read -ra table_pairs <<< "${PAIRS:-$TABLE_PAIRS}"
require_teachers "${TEACHERS[@]}"
s_test_loss_runs "${loss_pairs[@]}"
for teacher in "${TEACHERS[@]}"; do
  t_stddev "$teacher"
done
accuracy_runs "${LONG_FACTOR:-2}" "${table_pairs[@]}"
summarize
