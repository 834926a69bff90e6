#!/usr/bin/env bash
# Download the published teachers and check each on the test set with train_teacher.py --evaluate.
#   CIFAR-100 (default): CRD's teachers, as RepDistiller scripts/fetch_pretrained_teachers.sh,
#     http://shape2prog.csail.mit.edu/repo/<arch>_vanilla/ckpt_epoch_240.pth -> save/models/<arch>_vanilla/
#   DATASET=tinyimagenet: Good-DA-in-KD's teachers (scripts/set_up_pretrained_models.sh), one zip
#     unpacked under save/ -> save/models_tinyimagenet_v2/<arch>_vanilla/
# Knobs: TEACHERS, DATA_FOLDER, TEST_SUBSET, DEVICE, DRY_RUN, PYTHON (see scripts/common.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CRD_URL="http://shape2prog.csail.mit.edu/repo"
TINYIMAGENET_ZIP="https://github.com/MingSun-Tse/Good-DA-in-KD/releases/download/v0.1/teachers_tinyimagenet.zip"

# Download to a temporary name first, so an interrupted download never looks like a checkpoint.
download() {  # url destination
  run mkdir -p "$(dirname "$2")"
  run curl -fL --retry 3 -o "$2.part" "$1"
  run mv "$2.part" "$2"
}

missing=()
for teacher in "${TEACHERS[@]}"; do
  [[ -f "$(teacher_path "$teacher")" ]] || missing+=("$teacher")
done
if ((${#missing[@]})); then
  if [[ "$DATASET" == tinyimagenet ]]; then
    download "$TINYIMAGENET_ZIP" save/teachers_tinyimagenet.zip
    run unzip -o -q save/teachers_tinyimagenet.zip -d save
  else
    for teacher in "${missing[@]}"; do
      download "$CRD_URL/${teacher}_vanilla/ckpt_epoch_240.pth" "$(teacher_path "$teacher")"
    done
  fi
fi
for teacher in "${TEACHERS[@]}"; do
  require_file "$(teacher_path "$teacher")" "the download did not produce it"
  run "$PYTHON" train_teacher.py --evaluate "$(teacher_path "$teacher")" "${DATA_FLAGS[@]}"
done
# Teachers are not student runs: there is nothing for summarize.py yet.
