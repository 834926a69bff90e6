#!/usr/bin/env bash
# T. stddev (the teacher-only goodness of a DA) of the five CIFAR-100 teachers for the nine DAs,
# as Good-DA-in-KD scripts/T_stddev_different_DA_cifar100.sh, with eval_da_goodness.py; one JSON
# per teacher under $SAVE_ROOT/goodness. cutmix_pick_S scores images with a trained student: the
# teacher's reference student distilled with cutmix_pick_S by s_test_loss_cifar100.sh (vgg13:vgg8,
# resnet56:resnet20, resnet32x4:resnet8x4, wrn_40_2:wrn_16_2, ResNet50:vgg8); until that run exists
# it is skipped with a note, and a rerun of this script fills it in.
#   bash scripts/t_stddev_cifar100.sh
#   DRY_RUN=1 N_GROUPS=50 TEACHERS="vgg13 resnet56" bash scripts/t_stddev_cifar100.sh
set -euo pipefail
DATASET=cifar100
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_teachers "${TEACHERS[@]}"
for teacher in "${TEACHERS[@]}"; do
  t_stddev "$teacher"
done
summarize
