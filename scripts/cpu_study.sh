#!/usr/bin/env bash
# The paper's study at a scale two CPU cores run: does T. stddev, from the teacher alone, order the
# nine DAs as the students' test loss does? Real CIFAR-100; a teacher trained here on the whole
# training set; resnet8 students distilled with KD (-r 0.1 -a 0.9 -b 0, the teacher's output as the
# target of the augmented view) on ONE stratified subset, SEEDS seeds per DA; then T. stddev of every
# DA on the students' subset and summarize.py's statistics (per-DA means over seeds, the seed-blocked
# test of the DA effect, three correlations with p-values and intervals over resamples of whole
# seeds, a CSV of every run).
#
# Two settings (docs/studies.md), each in its own folder so that their runs never mix:
#   SETTING=overfit (default), the paper's regime: students that overfit their subset without a
#     stronger DA (train accuracy well above test accuracy). Teacher resnet20, 30 epochs; students
#     resnet8, 120 epochs on 2,000 images (20 per class) drawn once by SUBSET_SEED, the same for
#     every seed and DA; every epoch evaluated on a fixed 2,000-image test subset (TEST_SUBSET).
#     Why 2,000: on one thread the whole test set (10,000 images) took 8 of a 17-second student
#     epoch; 2,000 images cost 2 s. The subset is the same for every run, so it adds no noise between
#     DAs or seeds; it measures each student's test loss less precisely (20 images per class), the
#     price of a study that fits the budget. TEST_SUBSET= (empty) evaluates on the whole test set.
#   SETTING=underfit, the first attempt (docs/studies.md): teacher resnet8, 8 epochs; students
#     resnet8, 30 epochs on 5,000 images whose subset followed each run's seed, as recorded then.
# The protocol of each setting is fixed from its pilot before its study runs; the pilot is judged by
# the seed-blocked test of the DA effect only (summarize.py --spread_only), never by a correlation.
#   DATA_FOLDER=../shared/data bash scripts/cpu_study.sh             # the study (skips the pilot's runs)
#   PILOT=1 DATA_FOLDER=../shared/data bash scripts/cpu_study.sh     # the pilot: students only
#   SETTING=underfit DATA_FOLDER=../shared/data bash scripts/cpu_study.sh   # the first attempt
#   DRY_RUN=1 bash scripts/cpu_study.sh
# Knobs: SETTING, TEACHER, STUDENT, TEACHER_EPOCHS, EPOCHS (students), TRAIN_SUBSET (students),
# SUBSET_SEED, TEST_SUBSET, SEEDS, DAS, N_GROUPS, PILOT, SAVE_ROOT (save/cpu_study), DATA_FOLDER,
# DEVICE, PARALLEL, PYTHON, DRY_RUN (see scripts/common.sh). Finished runs are skipped and
# interrupted ones resumed, so the study can span several sittings. When the study is done, copy
# its summary's <pair>_runs.csv and <pair>.png to docs/ (docs/cpu_study_overfit.csv and .png).
set -euo pipefail
DATASET=cifar100
SETTING="${SETTING:-overfit}"
STUDENT="${STUDENT:-resnet8}"
STUDY_ROOT="${SAVE_ROOT:-save/cpu_study}"
case "$SETTING" in
  overfit)
    TEACHER="${TEACHER:-resnet20}"
    TEACHER_EPOCHS="${TEACHER_EPOCHS:-30}"
    EPOCHS="${EPOCHS:-120}"
    TRAIN_SUBSET="${TRAIN_SUBSET:-2000}"
    SUBSET_SEED="${SUBSET_SEED:-0}"
    TEST_SUBSET="${TEST_SUBSET-2000}"
    PILOT_DAS="identity cutmix cutmix_pick_T"
    TEACHER_ROOT="$STUDY_ROOT/overfit/models_ep$TEACHER_EPOCHS"
    SETTING_DIR="$STUDY_ROOT/overfit/${TEACHER}_${STUDENT}_tr${TRAIN_SUBSET}s${SUBSET_SEED}_te${TEST_SUBSET:-all}_ep${EPOCHS}"
    ;;
  underfit)
    TEACHER="${TEACHER:-resnet8}"
    TEACHER_EPOCHS="${TEACHER_EPOCHS:-8}"
    EPOCHS="${EPOCHS:-30}"
    TRAIN_SUBSET="${TRAIN_SUBSET:-5000}"
    SUBSET_SEED=""  # as it ran: each student's subset followed its seed (T. stddev's, seed 0)
    PILOT_DAS="identity mixup cutmix_pick_T"
    TEACHER_ROOT="$STUDY_ROOT/models"
    SETTING_DIR="$STUDY_ROOT/${STUDENT}_tr${TRAIN_SUBSET}_ep${EPOCHS}"
    ;;
  *)
    echo "error: SETTING must be overfit or underfit, got '$SETTING'" >&2
    exit 2
    ;;
esac
STUDENT="${STUDENT:-resnet8}"
SEEDS="${SEEDS:-3}"
N_GROUPS="${N_GROUPS:-100}"
PILOT="${PILOT:-0}"
TRIALS="$SEEDS"
# The pilot's runs are the study's first runs: the study skips them when the setting is the same.
SAVE_ROOT="$SETTING_DIR"
[[ "$PILOT" == 1 ]] && DAS="${DAS:-$PILOT_DAS}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# One teacher for the pilot and the study, trained on the whole training set and evaluated on the
# whole test set (TEST_SUBSET is the students'); the students see the subset (DATA_FLAGS carries it).
TEST_SUBSET='' train_own_teacher "$TEACHER" "$TEACHER_EPOCHS" "$TEACHER_ROOT"
REFERENCE_STUDENT[$TEACHER]="$STUDENT"

s_test_loss_runs "$TEACHER:$STUDENT"
if [[ "$PILOT" == 1 ]]; then
  # The pilot's only question: does the DA move S. test loss beyond the seed noise (seed-blocked test)?
  run "$PYTHON" scripts/summarize.py --runs "$RUNS_DIR" --out "$SUMMARY_DIR" --spread_only
  exit 0
fi
t_stddev "$TEACHER"  # after the students: cutmix_pick_S scores by the cutmix_pick_S student
summarize
echo "per-run CSV and plot: $SUMMARY_DIR/cifar100_${TEACHER,,}_${STUDENT,,}_kd_runs.csv, .png"
