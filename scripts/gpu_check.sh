#!/usr/bin/env bash
# The checks a lent GPU is for, in one short call (about 8 minutes on one GPU), with every result
# in one JSON file: the tests that touch CUDA code paths, scripts/benchmark.py with and without
# --amp and --compile, and one real epoch of a teacher and of train_student.py with CutMixPick on
# CIFAR-100, then a T. stddev pass with the tuned compute batch.
#   bash scripts/gpu_check.sh                                   # on the GPU
#   DEVICE=cpu BENCH_REPEATS=1 TRAIN_SUBSET=256 bash scripts/gpu_check.sh   # the same path on a CPU
# CIFAR-100 comes from DATA_FOLDER (default: .devdata, then ../shared/data); where the full set
# cannot travel, make a subset first: python scripts/make_cifar_subset.py --data_folder ../shared/data --out .devdata
# Knobs: DEVICE (cuda), DATA_FOLDER, OUT (save/gpu_check), TRAIN_SUBSET (the whole folder), PAIR
# (resnet56:resnet20), BENCH_DAS, BENCH_REPEATS (5), COMPILE (1; 0 leaves out the --compile
# benchmarks, which take minutes to compile on a CPU), BENCH_FLAGS (more benchmark.py flags), PYTHON.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python}"
DEVICE="${DEVICE:-cuda}"
OUT="${OUT:-save/gpu_check}"
PAIR="${PAIR:-resnet56:resnet20}"
BENCH_DAS="${BENCH_DAS:-identity autoaugment randaugment cutmix_pick_T}"
BENCH_REPEATS="${BENCH_REPEATS:-5}"
COMPILE="${COMPILE:-1}"
if [[ -z "${DATA_FOLDER:-}" ]]; then
  DATA_FOLDER=.devdata
  [[ -f "$DATA_FOLDER/cifar-100-python/train" ]] || DATA_FOLDER=../shared/data
fi
mkdir -p "$OUT"
data=(--dataset cifar100 --data_folder "$DATA_FOLDER" --device "$DEVICE")
[[ -n "${TRAIN_SUBSET:-}" ]] && data+=(--train_subset "$TRAIN_SUBSET" --test_subset "$TRAIN_SUBSET")
started=$(date +%s)

step() {  # name command...: run it, its output into OUT/name.log, its status and seconds into OUT/steps.tsv
  local name="$1" start status
  shift
  start=$(date +%s)
  echo "+ $name: $*"
  "$@" > "$OUT/$name.log" 2>&1
  status=$?
  printf '%s\t%s\t%s\n' "$name" "$status" "$(($(date +%s) - start))" >> "$OUT/steps.tsv"
  tail -n 3 "$OUT/$name.log"
}

: > "$OUT/steps.tsv"
step cuda_tests "$PYTHON" -m pytest -q -k cuda tests
bench=(scripts/benchmark.py --device "$DEVICE" --pairs "$PAIR" --das $BENCH_DAS --warmup 2
       --repeats "$BENCH_REPEATS" --goodness_batches 20 --goodness_repeats 2 ${BENCH_FLAGS:-})
step bench "$PYTHON" "${bench[@]}" --out "$OUT/bench.json"
step bench_amp "$PYTHON" "${bench[@]}" --amp --out "$OUT/bench_amp.json"
if [[ "$COMPILE" == 1 ]]; then
  step bench_compile "$PYTHON" "${bench[@]}" --compile --out "$OUT/bench_compile.json"
  step bench_amp_compile "$PYTHON" "${bench[@]}" --amp --compile --out "$OUT/bench_amp_compile.json"
fi
teacher="${PAIR%%:*}" student="${PAIR#*:}"
step teacher "$PYTHON" train_teacher.py --model "$teacher" "${data[@]}" --epochs 1 --model_path "$OUT/models" --overwrite
ckpt="$OUT/models/${teacher}_cifar100_lr_0.05_decay_0.0005_trial_0/last.pth"
read -ra paper_kd <<< "$(python3 -m helper.core.paper kd_flags)"  # the paper's KD objective
step student "$PYTHON" train_student.py --path_t "$ckpt" --model_s "$student" --distill kd "${paper_kd[@]}" \
  --mix_mode cutmix_pick --mix_n_run 2 --cutmix_pick_criterion teacher_entropy "${data[@]}" \
  --epochs 1 --amp --project gpu_check --model_path "$OUT/students" --overwrite
step goodness "$PYTHON" eval_da_goodness.py --path_t "$ckpt" "${data[@]}" --n_groups 20 --out "$OUT/goodness.json"

"$PYTHON" - "$OUT" "$(($(date +%s) - started))" "$DEVICE" <<'PY'
import json, os, sys
out, seconds, device = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(path):
    path = os.path.join(out, path)
    return json.load(open(path)) if os.path.isfile(path) else None
steps = {}
for line in open(os.path.join(out, "steps.tsv")):
    name, status, secs = line.rstrip("\n").split("\t")
    log = open(os.path.join(out, f"{name}.log")).read().splitlines()
    steps[name] = {"status": int(status), "seconds": int(secs), "last_lines": log[-3:]}
record = {"device": device, "seconds": seconds, "steps": steps,
          "benchmarks": {n: load(f"{n}.json") for n in ("bench", "bench_amp", "bench_compile", "bench_amp_compile")},
          "student_summary": load("students/gpu_check_trial_1/summary.json"), "goodness": load("goodness.json")}
json.dump(record, open(os.path.join(out, "gpu_check.json"), "w"), indent=1, sort_keys=True)
failed = [n for n, s in steps.items() if s["status"] != 0]
print(f"{os.path.join(out, 'gpu_check.json')}: {len(steps) - len(failed)} of {len(steps)} steps passed in {seconds} s"
      + (f"; failed: {', '.join(failed)}" if failed else ""))
sys.exit(1 if failed else 0)
PY
