# Shared by the reproduction scripts (source it, do not run it): the paper's settings, the
# environment knobs that scale a script down, and the commands the scripts run or, with DRY_RUN=1,
# print. Paths are relative to the repository root, where every script runs.
#
# Knobs (all optional):
#   PYTHON        interpreter (default: the `python` of the active environment)
#   LAUNCH        how training and T. stddev commands start (default: PYTHON), e.g.
#                 LAUNCH="torchrun --standalone --nproc_per_node=8" for 8 GPUs
#   DRY_RUN=1     print the commands instead of running them
#   EPOCHS        epochs of a standard run (the scripts' --epoch_factor still multiplies it)
#   TRIALS        trials per student setting (3, as the paper averages at least 3 runs)
#   TRAIN_SUBSET, TEST_SUBSET   train / evaluate on stratified subsets of this size
#   SUBSET_SEED   draw those subsets with this seed (--subset_seed): one subset for every seed and DA
#   N_GROUPS      groups of 5 batches per T. stddev estimate, a fixed pass (default: the paper's, --n_groups original)
#   DATA_FOLDER, DEVICE         passed on as --data_folder, --device
#   PAIRS, TEACHERS, DAS        space-separated subsets, e.g. PAIRS="vgg13:vgg8" DAS="cutmix mixup"
#   TEACHER_PATTERN   teacher checkpoint, {arch} replaced by the architecture
#                     (default: where fetch_teachers.sh puts the published teachers; on ImageNet
#                     "pretrained": torchvision's published weights, --model_t {arch} --pretrained)
#   SAVE_ROOT     where runs, T. stddev files and the summary go (save; save/scaled_<knobs> when
#                 a scale-down knob is set, so small runs never mix with the paper's)
#   PARALLEL      training runs at once (default: one per GPU; on the CPU one per core, each with
#                 one thread); each still writes its own folder, its output goes to
#                 SAVE_ROOT/logs/<run>.log, and a failed run fails the script once the others end

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python}"
read -ra LAUNCH_CMD <<< "${LAUNCH:-$PYTHON}"
DRY_RUN="${DRY_RUN:-0}"
TRIALS="${TRIALS:-3}"
DATASET="${DATASET:-cifar100}"

# The paper's experiments (Good-DA-in-KD scripts/S_test_loss_different_DA_cifar100.sh,
# T_stddev_different_DA_cifar100.sh).
# The paper's settings come from the code (helper/core/paper.py, which any python3 runs: it imports
# nothing): ALL_DAS (DAS takes any spec of the registry, e.g. DAS="identity cutmix(alpha=0.5)"), the
# loss weights KD_WEIGHTS (-r CE, -a KD, -b other) and CRD_WEIGHTS (CRD+KD keeps KD's and adds CRD's
# 0.8), and PAPER_LW_MIX.
paper_setting() { python3 -m helper.core.paper "$1"; }
ALL_DAS="$(paper_setting das)"
read -ra KD_WEIGHTS <<< "$(paper_setting kd_weights)"
read -ra CRD_WEIGHTS <<< "$(paper_setting crd_weights)"
PAPER_LW_MIX="$(paper_setting lw_mix)"
ALL_TEACHERS="vgg13 resnet56 resnet32x4 wrn_40_2 ResNet50"
ALL_PAIRS="vgg13:vgg8 vgg13:MobileNetV2 resnet56:resnet20 resnet56:ShuffleV2 wrn_40_2:wrn_16_2 wrn_40_2:vgg8 resnet32x4:resnet8x4 ResNet50:vgg8 resnet32x4:ShuffleV2"
# The CRD pairs among the nine, used for the accuracy tables.
TABLE_PAIRS="vgg13:vgg8 vgg13:MobileNetV2 resnet56:resnet20 wrn_40_2:wrn_16_2 resnet32x4:resnet8x4 ResNet50:vgg8 resnet32x4:ShuffleV2"
# The student whose entropy cutmix_pick_S uses when T. stddev is measured (the original's pairs).
declare -A REFERENCE_STUDENT=([vgg13]=vgg8 [resnet56]=resnet20 [resnet32x4]=resnet8x4 [wrn_40_2]=wrn_16_2 [ResNet50]=vgg8 [resnet34]=resnet18)

read -ra DAS <<< "${DAS:-$ALL_DAS}"
read -ra TEACHERS <<< "${TEACHERS:-$ALL_TEACHERS}"
# Where fetch_teachers.sh puts the published teachers: CRD's CIFAR-100 ones, Good-DA-in-KD's Tiny ImageNet ones.
case "$DATASET" in
  tinyimagenet) published_teachers='save/models_tinyimagenet_v2/{arch}_vanilla/ckpt_epoch_240.pth' ;;
  imagenet) published_teachers=pretrained ;;
  *) published_teachers='save/models/{arch}_vanilla/ckpt_epoch_240.pth' ;;
esac
TEACHER_PATTERN="${TEACHER_PATTERN:-$published_teachers}"

# Flags every training or evaluation command gets when its knob is set.
DATA_FLAGS=(--dataset "$DATASET")
[[ -n "${DATA_FOLDER:-}" ]] && DATA_FLAGS+=(--data_folder "$DATA_FOLDER")
[[ -n "${TRAIN_SUBSET:-}" ]] && DATA_FLAGS+=(--train_subset "$TRAIN_SUBSET")
[[ -n "${TEST_SUBSET:-}" ]] && DATA_FLAGS+=(--test_subset "$TEST_SUBSET")
[[ -n "${SUBSET_SEED:-}" ]] && DATA_FLAGS+=(--subset_seed "$SUBSET_SEED")
[[ -n "${DEVICE:-}" ]] && DATA_FLAGS+=(--device "$DEVICE")
EPOCH_FLAGS=()
[[ -n "${EPOCHS:-}" ]] && EPOCH_FLAGS=(--epochs "$EPOCHS")
GROUP_FLAGS=(--n_groups "${N_GROUPS:-original}")  # a fixed pass: the paper's groups unless scaled down
# Schedule flags a script adds to every train_student.py command (the ImageNet schedule).
TRAIN_FLAGS=()

SCALE_TAG="${EPOCHS:+_ep$EPOCHS}${TRAIN_SUBSET:+_tr$TRAIN_SUBSET}${TEST_SUBSET:+_te$TEST_SUBSET}${N_GROUPS:+_g$N_GROUPS}"
SAVE_ROOT="${SAVE_ROOT:-save${SCALE_TAG:+/scaled$SCALE_TAG}}"
RUNS_DIR="$SAVE_ROOT/student_model"
GOODNESS_DIR="$SAVE_ROOT/goodness"
SUMMARY_DIR="$SAVE_ROOT/summary"

# Print a command so that it can be pasted into a shell.
print_command() {
  local arg out=()
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=+,@%-]+$ ]]; then
      out+=("$arg")
    else
      out+=("'${arg//\'/\'\\\'\'}'")
    fi
  done
  echo "${out[*]}"
}

# Run a command, or print it when DRY_RUN=1.
run() {
  if [[ "$DRY_RUN" == 1 ]]; then
    print_command "$@"
  else
    echo "+ $(print_command "$@")"
    "$@"
  fi
}

note() {
  echo "# $*"
}

# Runs at once: one per GPU, else one per core (each with one thread, which on a small CPU beats
# one run with all the threads: convolutions of a CIFAR batch do not scale across cores).
GPUS="$(if [[ "${DEVICE:-auto}" != cpu ]]; then nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true; fi)"
GPUS="${GPUS:-0}"
if ((GPUS > 0)); then PARALLEL="${PARALLEL:-$GPUS}"; else PARALLEL="${PARALLEL:-$(nproc)}"; fi
THREADS_PER_RUN=$(( $(nproc) / PARALLEL > 0 ? $(nproc) / PARALLEL : 1 ))
SLOT_PIDS=()
PARALLEL_FAILED=0

# The first free slot into SLOT (waiting for a run to end when all are busy); a run that ended
# badly is remembered, so that wait_runs can fail the script.
take_slot() {
  local i pid
  while true; do
    for ((i = 0; i < PARALLEL; i++)); do
      pid="${SLOT_PIDS[i]:-}"
      if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
        if [[ -n "$pid" ]] && ! wait "$pid"; then PARALLEL_FAILED=1; fi
        SLOT=$i
        return
      fi
    done
    sleep 1
  done
}

# Run a training command in a free slot, in the background (in the foreground with PARALLEL=1),
# or print it when DRY_RUN=1. On a GPU machine slot i uses GPU i mod GPUS.
launch() {  # name command...
  local name="$1" log
  shift
  if [[ "$DRY_RUN" == 1 || "$PARALLEL" -le 1 ]]; then
    run "$@"
    return
  fi
  take_slot
  log="$SAVE_ROOT/logs/$name.log"
  mkdir -p "$(dirname "$log")"
  echo "+ [slot $SLOT] $(print_command "$@")  > $log"
  if ((GPUS > 0)); then
    CUDA_VISIBLE_DEVICES=$((SLOT % GPUS)) "$@" > "$log" 2>&1 &
  else
    OMP_NUM_THREADS=$THREADS_PER_RUN MKL_NUM_THREADS=$THREADS_PER_RUN "$@" > "$log" 2>&1 &
  fi
  SLOT_PIDS[SLOT]=$!
}

# Wait for every launched run; fail if any failed (its log says why). Runs that finished are kept
# whatever happens to the others: each one's folder is complete when its summary.json exists.
wait_runs() {
  local i pid
  for ((i = 0; i < ${#SLOT_PIDS[@]}; i++)); do
    pid="${SLOT_PIDS[i]:-}"
    if [[ -n "$pid" ]] && ! wait "$pid"; then PARALLEL_FAILED=1; fi
  done
  SLOT_PIDS=()
  if ((PARALLEL_FAILED)); then
    echo "error: a run failed; see its log under $SAVE_ROOT/logs (rerun the script: finished runs are skipped)" >&2
    exit 1
  fi
}
# An interrupted script stops its runs too; each keeps its last completed epoch for --resume.
trap 'kill ${SLOT_PIDS[*]} 2>/dev/null; exit 130' INT TERM

# Whether a run folder holds a finished run (so a rerun of a script skips it).
finished() {
  [[ -f "$1/summary.json" ]] && grep -Eq '"status": *"finished"' "$1/summary.json"
}

# Stop early, before hours of runs, when an input is missing (not checked in a dry run).
require_file() {
  if [[ "$DRY_RUN" != 1 && ! -f "$1" ]]; then
    echo "error: $1 not found; $2" >&2
    exit 1
  fi
}

# The run folder train_teacher.py names for a teacher trained here (lr 0.01 for the small models, as CRD).
teacher_run_folder() {  # model_path arch
  local lr=0.05
  case "$2" in MobileNetV2 | ShuffleV1 | ShuffleV2) lr=0.01 ;; esac
  echo "$1/${2}_${DATASET}_lr_${lr}_decay_0.0005_trial_0"
}

# A script's own teacher (quickstart, CPU study), trained on the whole training set (the students
# may see a subset) unless its folder holds a finished run; sets TEACHER_PATTERN to its checkpoint.
train_own_teacher() {  # arch epochs model_path
  local flags=(--dataset "$DATASET")
  TEACHER_PATTERN="$(teacher_run_folder "$3" "$1")/last.pth"
  [[ -n "${DATA_FOLDER:-}" ]] && flags+=(--data_folder "$DATA_FOLDER")
  [[ -n "${TEST_SUBSET:-}" ]] && flags+=(--test_subset "$TEST_SUBSET")
  [[ -n "${DEVICE:-}" ]] && flags+=(--device "$DEVICE")
  if finished "$(dirname "$TEACHER_PATTERN")"; then
    note "finished, skipped: teacher $TEACHER_PATTERN"
  else
    run "$PYTHON" train_teacher.py --model "$1" "${flags[@]}" --epochs "$2" --model_path "$3" --trial 0 --seed 0 --resume
  fi
}

teacher_path() {
  echo "${TEACHER_PATTERN//\{arch\}/$1}"
}

# The teacher's flags in TEACHER_FLAGS: its checkpoint, or torchvision's published weights.
set_teacher_flags() {  # arch
  if [[ "$TEACHER_PATTERN" == pretrained ]]; then
    TEACHER_FLAGS=(--model_t "$1" --pretrained)
  else
    TEACHER_FLAGS=(--path_t "$(teacher_path "$1")")
  fi
}

# The DA's part of a run name, as the original project names spell it.
da_tag() {
  case "$1" in
    crop+flip) echo cropflip ;;
    cutmix_pick_S | cutmix_pick_T) echo "${1}entropy" ;;
    *) echo "$1" ;;
  esac
}

# Run name of a student: <method>__<teacher><student>__<dataset>__<DA>[__x<epoch factor>].
project_name() {  # method teacher student da factor
  local name="${1}__${2}${3}__${DATASET}__$(da_tag "$4")"
  [[ "$5" == 1 ]] || name+="__x$5"
  echo "$name"
}

# train_student.py flags that select a DA on top of the standard one; "none" is plain KD,
# where no stronger-DA view enters the loss.
da_flags() {
  case "$1" in
    none) echo "--lw_mix [1,0,0]" ;;
    cutmix_pick_S) echo "--t_output_as_target_for_input_mix --lw_mix $PAPER_LW_MIX --mix_mode cutmix_pick --mix_n_run 2 --cutmix_pick_criterion student_entropy" ;;
    cutmix_pick_T) echo "--t_output_as_target_for_input_mix --lw_mix $PAPER_LW_MIX --mix_mode cutmix_pick --mix_n_run 2 --cutmix_pick_criterion teacher_entropy" ;;
    *) echo "--t_output_as_target_for_input_mix --lw_mix $PAPER_LW_MIX --mix_mode $1" ;;
  esac
}

# Distil one student for trials 1..TRIALS (trial t uses seed t); finished trials are skipped,
# interrupted ones resumed.
distill_student() {  # method(kd|crd) teacher student da factor
  local method="$1" teacher="$2" student="$3" da="$4" factor="$5" trial project weights flags
  project="$(project_name "$method" "$teacher" "$student" "$da" "$factor")"
  if [[ "$method" == crd ]]; then weights=("${CRD_WEIGHTS[@]}"); else weights=("${KD_WEIGHTS[@]}"); fi
  read -ra flags <<< "$(da_flags "$da")"
  [[ "$factor" == 1 ]] || flags+=(--epoch_factor "$factor")
  set_teacher_flags "$teacher"
  for ((trial = 1; trial <= TRIALS; trial++)); do
    if finished "$RUNS_DIR/${project}_trial_$trial"; then
      note "finished, skipped: $RUNS_DIR/${project}_trial_$trial"
      continue
    fi
    launch "${project}_trial_$trial" "${LAUNCH_CMD[@]}" train_student.py "${TEACHER_FLAGS[@]}" \
      --model_s "$student" --distill "$method" "${weights[@]}" "${flags[@]}" "${DATA_FLAGS[@]}" "${TRAIN_FLAGS[@]}" \
      "${EPOCH_FLAGS[@]}" --project "$project" --model_path "$RUNS_DIR" --trial "$trial" --seed "$trial" --resume
  done
}

require_teachers() {  # teacher archs
  local teacher
  [[ "$TEACHER_PATTERN" != pretrained ]] || return 0
  for teacher in "$@"; do
    require_file "$(teacher_path "$teacher")" "fetch the teachers (scripts/fetch_teachers.sh), train them (scripts/train_teachers.sh), or set TEACHER_PATTERN"
  done
}

# The teachers of a list of teacher:student pairs, each once.
pair_teachers() {
  local pair
  for pair in "$@"; do echo "${pair%%:*}"; done | sort -u
}

# T. stddev of one teacher for every DA in DAS. cutmix_pick_S needs a trained student: the
# reference student distilled with cutmix_pick_S (trial 1), kept in a file of its own.
t_stddev() {  # teacher
  local teacher="$1" das=() da out student ckpt
  for da in "${DAS[@]}"; do [[ "$da" == cutmix_pick_S ]] || das+=("$da"); done
  [[ "$DRY_RUN" == 1 ]] || mkdir -p "$GOODNESS_DIR"
  out="$GOODNESS_DIR/${teacher}_${DATASET}.json"
  set_teacher_flags "$teacher"
  if [[ -f "$out" ]]; then
    note "exists, skipped: $out"
  elif ((${#das[@]})); then
    run "${LAUNCH_CMD[@]}" eval_da_goodness.py "${TEACHER_FLAGS[@]}" "${DATA_FLAGS[@]}" \
      --mix_mode "${das[@]}" "${GROUP_FLAGS[@]}" --out "$out"
  fi
  [[ " ${DAS[*]} " == *" cutmix_pick_S "* ]] || return 0
  student="${REFERENCE_STUDENT[$teacher]:-}"
  out="$GOODNESS_DIR/${teacher}_${DATASET}_cutmix_pick_S.json"
  ckpt="$RUNS_DIR/$(project_name kd "$teacher" "$student" cutmix_pick_S 1)_trial_1/last.pth"
  if [[ -f "$out" ]]; then
    note "exists, skipped: $out"
  elif [[ -z "$student" ]]; then
    note "no reference student for $teacher: cutmix_pick_S skipped"
  elif [[ "$DRY_RUN" != 1 && ! -f "$ckpt" ]]; then
    note "cutmix_pick_S of $teacher needs the student $ckpt (s_test_loss script): skipped for now"
  else
    run "${LAUNCH_CMD[@]}" eval_da_goodness.py "${TEACHER_FLAGS[@]}" "${DATA_FLAGS[@]}" \
      --mix_mode cutmix_pick_S --path_s "$ckpt" "${GROUP_FLAGS[@]}" --out "$out"
  fi
}

# S. test loss: every pair distilled with KD and every DA in DAS.
s_test_loss_runs() {  # pairs...
  local pair da
  for pair in "$@"; do
    for da in "${DAS[@]}"; do
      distill_student kd "${pair%%:*}" "${pair#*:}" "$da" 1
    done
  done
  wait_runs
}

# The accuracy tables' settings: KD, KD+CutMix, KD+CutMixPick, KD and KD+CutMixPick prolonged,
# CRD+KD, CRD+KD+CutMixPick, CRD+KD+CutMixPick prolonged. CutMixPick picks by PICK_DA.
accuracy_runs() {  # long_factor pairs...
  local long="$1" pair teacher student pick="${PICK_DA:-cutmix_pick_T}"
  shift
  for pair in "$@"; do
    teacher="${pair%%:*}" student="${pair#*:}"
    distill_student kd "$teacher" "$student" none 1
    distill_student kd "$teacher" "$student" cutmix 1
    distill_student kd "$teacher" "$student" "$pick" 1
    distill_student kd "$teacher" "$student" none "$long"
    distill_student kd "$teacher" "$student" "$pick" "$long"
    distill_student crd "$teacher" "$student" none 1
    distill_student crd "$teacher" "$student" "$pick" 1
    distill_student crd "$teacher" "$student" "$pick" "$long"
  done
  wait_runs
}

summarize() {
  run "$PYTHON" scripts/summarize.py --runs "$RUNS_DIR" --goodness "$GOODNESS_DIR" --out "$SUMMARY_DIR"
}
