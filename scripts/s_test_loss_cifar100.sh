#!/usr/bin/env bash
# S. test loss of the nine CIFAR-100 pairs x nine DAs, as Good-DA-in-KD
# scripts/S_test_loss_different_DA_cifar100.sh: KD (-r 0.1 -a 0.9 -b 0), the teacher's output as
# the target of the augmented view (--t_output_as_target_for_input_mix --lw_mix [1,0,1]), CRD's
# 240-epoch schedule, TRIALS trials each (seed = trial). Ends with the tables, correlations and plots.
#   bash scripts/s_test_loss_cifar100.sh
#   DRY_RUN=1 TRIALS=1 EPOCHS=2 TRAIN_SUBSET=1000 bash scripts/s_test_loss_cifar100.sh
set -euo pipefail
DATASET=cifar100
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

read -ra pairs <<< "${PAIRS:-$ALL_PAIRS}"
mapfile -t teachers < <(pair_teachers "${pairs[@]}")
require_teachers "${teachers[@]}"
s_test_loss_runs "${pairs[@]}"
summarize
