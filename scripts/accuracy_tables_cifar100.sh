#!/usr/bin/env bash
# The paper's CIFAR-100 accuracy tables: KD, KD+CutMix, KD+CutMixPick, KD and KD+CutMixPick for
# 960 epochs (--epoch_factor 4, decay epochs scaled alike), CRD+KD, CRD+KD+CutMixPick and
# CRD+KD+CutMixPick for 960 epochs, on seven pairs, TRIALS trials each. KD is plain KD
# (-r 0.1 -a 0.9 -b 0, no augmented view: --lw_mix [1,0,0]); CRD+KD adds CRD with -b 0.8.
# CutMixPick picks by the teacher's entropy (PICK_DA=cutmix_pick_S for the student's).
# Runs shared with s_test_loss_cifar100.sh (KD+CutMix, KD+CutMixPick) are trained once.
#   bash scripts/accuracy_tables_cifar100.sh
#   DRY_RUN=1 TRIALS=1 EPOCHS=2 PAIRS=resnet56:resnet20 bash scripts/accuracy_tables_cifar100.sh
set -euo pipefail
DATASET=cifar100
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

read -ra pairs <<< "${PAIRS:-$TABLE_PAIRS}"
mapfile -t teachers < <(pair_teachers "${pairs[@]}")
require_teachers "${teachers[@]}"
accuracy_runs "${LONG_FACTOR:-4}" "${pairs[@]}"
summarize
