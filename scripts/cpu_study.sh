#!/usr/bin/env bash
# The paper's study at a scale two CPU cores run in about two hours: does T. stddev, from the teacher
# alone, order the nine DAs as the students' test loss does? Real CIFAR-100; a resnet8 teacher trained
# here on the whole training set; resnet8 students distilled with KD (-r 0.1 -a 0.9 -b 0, the
# teacher's output as the target of the augmented view) on a stratified subset, SEEDS seeds per DA;
# then T. stddev of every DA and summarize.py's statistics (per-DA means and standard deviations over
# seeds, three correlations with p-values, bootstrap intervals that resample seeds within each DA).
# The protocol (docs/studies.md, "The CPU study") was fixed from pilot runs before the study was run.
#   DATA_FOLDER=../shared/data bash scripts/cpu_study.sh
#   PILOT=1 SEEDS=2 DATA_FOLDER=../shared/data bash scripts/cpu_study.sh   # the pilot: students only
#   DRY_RUN=1 bash scripts/cpu_study.sh
# Knobs: TEACHER, STUDENT, TEACHER_EPOCHS, EPOCHS (students), TRAIN_SUBSET (students), SEEDS, DAS,
# N_GROUPS, PILOT, SAVE_ROOT (save/cpu_study), DATA_FOLDER, DEVICE, PARALLEL, PYTHON, DRY_RUN
# (see scripts/common.sh). Finished runs are skipped and interrupted ones resumed.
set -euo pipefail
DATASET=cifar100
TEACHER="${TEACHER:-resnet8}"
STUDENT="${STUDENT:-resnet8}"
TEACHER_EPOCHS="${TEACHER_EPOCHS:-8}"
EPOCHS="${EPOCHS:-30}"
TRAIN_SUBSET="${TRAIN_SUBSET:-5000}"
SEEDS="${SEEDS:-3}"
N_GROUPS="${N_GROUPS:-100}"
PILOT="${PILOT:-0}"
TRIALS="$SEEDS"
STUDY_ROOT="${SAVE_ROOT:-save/cpu_study}"
# The pilot's runs are the study's first runs: the study skips them when the setting is the same.
SAVE_ROOT="$STUDY_ROOT/${STUDENT}_tr${TRAIN_SUBSET}_ep${EPOCHS}"
[[ "$PILOT" == 1 ]] && DAS="${DAS:-identity mixup cutmix_pick_T}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# One teacher for the pilot and the study, trained on the whole training set; the students see the
# subset (DATA_FLAGS carries it).
train_own_teacher "$TEACHER" "$TEACHER_EPOCHS" "$STUDY_ROOT/models"
REFERENCE_STUDENT[$TEACHER]="$STUDENT"

s_test_loss_runs "$TEACHER:$STUDENT"
if [[ "$PILOT" == 1 ]]; then
  # The pilot's only question: is the S. test loss spread between DAs above its seed noise?
  run "$PYTHON" scripts/summarize.py --runs "$RUNS_DIR" --out "$SUMMARY_DIR" --spread_only
  exit 0
fi
t_stddev "$TEACHER"  # after the students: cutmix_pick_S scores by the cutmix_pick_S student
summarize
echo "plot: $SUMMARY_DIR/cifar100_${TEACHER,,}_${STUDENT,,}_kd.png"
