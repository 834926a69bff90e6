#!/usr/bin/env bash
# The paper's experiment in miniature, offline on the bundled digits data set, on a CPU: train a
# teacher, distil a student with each of the nine DAs, measure the teacher's T. stddev of each DA,
# then correlate the students' test loss with T. stddev (tables and a scatter plot).
#   bash scripts/quickstart.sh                    # about 7 minutes on 2 quiet CPU cores
# Three seeds per DA, so that the correlation comes with a 95% interval from resampling the seeds
# and the S. test loss spread between DAs is printed against its seed noise: the output says by
# itself whether the correlation means anything. At this scale (students trained 8 epochs) it shows
# the pipeline and its outputs; scripts/cpu_study.sh asks the paper's question on real CIFAR-100.
#   TEACHER_EPOCHS=1 EPOCHS=1 TRAIN_SUBSET=128 TEST_SUBSET=100 N_GROUPS=3 bash scripts/quickstart.sh
# Knobs: TEACHER, STUDENT, TEACHER_EPOCHS, EPOCHS (students), TRAIN_SUBSET (students), TEST_SUBSET,
# N_GROUPS, TRIALS, SAVE_ROOT (save/quickstart), DEVICE, PYTHON, DRY_RUN (see scripts/common.sh).
set -euo pipefail
DATASET=digits
TEACHER="${TEACHER:-resnet14}"
STUDENT="${STUDENT:-resnet8}"
TEACHER_EPOCHS="${TEACHER_EPOCHS:-10}"
EPOCHS="${EPOCHS:-8}"
TRAIN_SUBSET="${TRAIN_SUBSET:-1000}"
N_GROUPS="${N_GROUPS:-20}"
TRIALS="${TRIALS:-3}"
SAVE_ROOT="${SAVE_ROOT:-save/quickstart}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# The teacher sees the whole training set (1437 images); the students a subset of it.
train_own_teacher "$TEACHER" "$TEACHER_EPOCHS" "$SAVE_ROOT/models"
REFERENCE_STUDENT[$TEACHER]="$STUDENT"

s_test_loss_runs "$TEACHER:$STUDENT"
t_stddev "$TEACHER"  # after the students: cutmix_pick_S scores by the cutmix_pick_S student
summarize
echo "plot: $SUMMARY_DIR/digits_${TEACHER,,}_${STUDENT,,}_kd.png"
