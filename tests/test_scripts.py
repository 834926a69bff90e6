"""The reproduction scripts in scripts/: syntax, and the commands DRY_RUN=1 prints."""
import json
import os
import shlex
import subprocess
import sys
import time

import pytest

from conftest import SHARED_DATA

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "scripts")
SHELL_SCRIPTS = sorted(f for f in os.listdir(SCRIPTS) if f.endswith(".sh"))
REPRODUCTION = ["train_teachers.sh", "fetch_teachers.sh", "t_stddev_cifar100.sh", "s_test_loss_cifar100.sh",
                "accuracy_tables_cifar100.sh", "tinyimagenet.sh", "imagenet.sh", "quickstart.sh", "cpu_study.sh"]

DAS = ["identity", "flip", "crop+flip", "cutout", "autoaugment", "mixup", "cutmix", "cutmix_pick_S", "cutmix_pick_T"]
PAIRS = [("vgg13", "vgg8"), ("vgg13", "MobileNetV2"), ("resnet56", "resnet20"), ("resnet56", "ShuffleV2"),
         ("wrn_40_2", "wrn_16_2"), ("wrn_40_2", "vgg8"), ("resnet32x4", "resnet8x4"), ("ResNet50", "vgg8"),
         ("resnet32x4", "ShuffleV2")]
TABLE_PAIRS = [("vgg13", "vgg8"), ("vgg13", "MobileNetV2"), ("resnet56", "resnet20"), ("wrn_40_2", "wrn_16_2"),
               ("resnet32x4", "resnet8x4"), ("ResNet50", "vgg8"), ("resnet32x4", "ShuffleV2")]
TEACHERS = ["vgg13", "resnet56", "resnet32x4", "wrn_40_2", "ResNet50"]
SCALE_ENV = {"EPOCHS": "2", "TRAIN_SUBSET": "300", "TEST_SUBSET": "200", "DATA_FOLDER": "/data/here",
             "DEVICE": "cpu"}
SCALE_FLAGS = {"--epochs": "2", "--train_subset": "300", "--test_subset": "200", "--data_folder": "/data/here",
               "--device": "cpu"}


def dry_run(script, tmp_path, **env):
    """The commands a script prints with DRY_RUN=1, each split as the shell would; PYTHON=None
    leaves the interpreter to the script's default."""
    full_env = {k: v for k, v in os.environ.items() if k not in SCALE_ENV and k not in
                ("TRIALS", "N_GROUPS", "PAIRS", "DAS", "TEACHERS", "TEACHER_PATTERN", "SAVE_ROOT", "DATASET", "PYTHON",
                 "SEEDS", "PILOT", "SETTING", "SUBSET_SEED", "TEACHER", "STUDENT", "TEACHER_EPOCHS")}
    full_env.update({"DRY_RUN": "1", "PYTHON": "py", "SAVE_ROOT": str(tmp_path / "save"), **env})
    if full_env["PYTHON"] is None:
        del full_env["PYTHON"]
    start = time.monotonic()
    done = subprocess.run(["bash", os.path.join(SCRIPTS, script)], env=full_env, cwd=str(tmp_path), check=False,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start < 20
    return [shlex.split(line) for line in done.stdout.splitlines() if line and not line.startswith("#")]


def flags(argv):
    """{--flag: value} of a command line: None for a switch, a list for several values (--mix_mode)."""
    collected, key = {}, None
    for token in argv:
        if token.startswith("-") and not token.lstrip("-").replace(".", "").isdigit():
            key = token
            collected[key] = []
        elif key is not None:
            collected[key].append(token)
    return {k: (v[0] if len(v) == 1 else v or None) for k, v in collected.items()}


def commands(lines, program):
    return [line for line in lines if len(line) > 1 and line[1] == program]


def pair_of(cmd):
    f = flags(cmd)
    return f["--path_t"].split("/")[-2].removesuffix("_vanilla"), f["--model_s"]


def da_of(cmd):
    f = flags(cmd)
    if f.get("--mix_mode") == "cutmix_pick":
        return {"student_entropy": "cutmix_pick_S", "teacher_entropy": "cutmix_pick_T"}[f["--cutmix_pick_criterion"]]
    return f.get("--mix_mode", "none")


@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_syntax(script):
    subprocess.run(["bash", "-n", os.path.join(SCRIPTS, script)], check=True)


@pytest.mark.parametrize("script", REPRODUCTION)
def test_every_script_is_strict_and_uses_common(script):
    with open(os.path.join(SCRIPTS, script)) as f:
        text = f.read()
    assert "set -euo pipefail" in text and "common.sh" in text


def test_s_test_loss_prints_81_runs_with_the_paper_flags(tmp_path):
    lines = dry_run("s_test_loss_cifar100.sh", tmp_path, TRIALS="1")
    runs = commands(lines, "train_student.py")
    assert len(runs) == 81
    assert sorted((pair_of(c), da_of(c)) for c in runs) == sorted((p, d) for p in PAIRS for d in DAS)
    for cmd in runs:
        f = flags(cmd)
        assert cmd[0] == "py"
        assert (f["-r"], f["-a"], f["-b"], f["--distill"]) == ("0.1", "0.9", "0", "kd")
        assert f["--lw_mix"] == "[1,0,1]" and "--t_output_as_target_for_input_mix" in f
        assert f["--path_t"] == f"save/models/{pair_of(cmd)[0]}_vanilla/ckpt_epoch_240.pth"
        assert f["--dataset"] == "cifar100" and f["--trial"] == f["--seed"] == "1"
        assert f["--model_path"] == str(tmp_path / "save" / "student_model")
        assert "--epoch_factor" not in f and "--epochs" not in f
        if da_of(cmd).startswith("cutmix_pick"):
            assert f["--mix_n_run"] == "2"
    pick_s = [c for c in runs if da_of(c) == "cutmix_pick_S"]
    assert len(pick_s) == 9 and all(shlex.join(c).count("--mix_mode cutmix_pick --mix_n_run 2 "
                                                        "--cutmix_pick_criterion student_entropy") for c in pick_s)
    assert lines[-1][1:] == ["scripts/summarize.py", "--runs", str(tmp_path / "save" / "student_model"),
                             "--goodness", str(tmp_path / "save" / "goodness"),
                             "--out", str(tmp_path / "save" / "summary")]


def test_scale_down_knobs_reach_every_command(tmp_path):
    lines = dry_run("s_test_loss_cifar100.sh", tmp_path, PAIRS="resnet56:resnet20", **SCALE_ENV)
    runs = commands(lines, "train_student.py")
    assert len(runs) == 9 * 3  # TRIALS defaults to the paper's 3
    assert sorted({(flags(c)["--trial"], flags(c)["--seed"]) for c in runs}) == [("1", "1"), ("2", "2"), ("3", "3")]
    for cmd in runs:
        f = flags(cmd)
        assert {k: f[k] for k in SCALE_FLAGS} == SCALE_FLAGS


def test_scaled_runs_default_to_their_own_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SAVE_ROOT"}
    done = subprocess.run(["bash", os.path.join(SCRIPTS, "s_test_loss_cifar100.sh")], capture_output=True, text=True,
                          env=dict(env, DRY_RUN="1", TRIALS="1", EPOCHS="2", TRAIN_SUBSET="300",
                                   PAIRS="resnet56:resnet20", DAS="cutmix"), timeout=60, check=True)
    run = shlex.split(done.stdout.splitlines()[0])
    assert flags(run)["--model_path"] == "save/scaled_ep2_tr300/student_model"


def test_finished_runs_are_skipped(tmp_path):
    folder = tmp_path / "save" / "student_model" / "kd__resnet56resnet20__cifar100__cutmix_trial_1"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"status": "finished"}, indent=2))
    lines = dry_run("s_test_loss_cifar100.sh", tmp_path, PAIRS="resnet56:resnet20", DAS="cutmix mixup")
    runs = commands(lines, "train_student.py")
    assert sorted((da_of(c), flags(c)["--trial"]) for c in runs) == [
        ("cutmix", "2"), ("cutmix", "3"), ("mixup", "1"), ("mixup", "2"), ("mixup", "3")]


def test_t_stddev_measures_five_teachers_with_a_student_for_cutmix_pick_s(tmp_path):
    lines = dry_run("t_stddev_cifar100.sh", tmp_path, N_GROUPS="50", TEST_SUBSET="200")
    evals = commands(lines, "eval_da_goodness.py")
    assert len(evals) == 10
    teacher_only = [c for c in evals if "--path_s" not in c]
    assert [flags(c)["--path_t"] for c in teacher_only] == [f"save/models/{t}_vanilla/ckpt_epoch_240.pth"
                                                            for t in TEACHERS]
    for cmd in teacher_only:
        assert flags(cmd)["--mix_mode"] == [d for d in DAS if d != "cutmix_pick_S"]
    students = {flags(c)["--path_t"].split("/")[-2]: flags(c)["--path_s"] for c in evals if "--path_s" in c}
    assert students["resnet56_vanilla"].endswith("kd__resnet56resnet20__cifar100__cutmix_pick_Sentropy_trial_1/last.pth")
    assert students["ResNet50_vanilla"].endswith("kd__ResNet50vgg8__cifar100__cutmix_pick_Sentropy_trial_1/last.pth")
    for cmd in evals:
        f = flags(cmd)
        assert f["--n_groups"] == "50" and f["--test_subset"] == "200" and f["--dataset"] == "cifar100"
        assert f["--out"].startswith(str(tmp_path / "save" / "goodness"))
    assert lines[-1][1] == "scripts/summarize.py"
    # unscaled, the paper's fixed pass: its groups passed explicitly, never the pass that stops by itself
    paper = commands(dry_run("t_stddev_cifar100.sh", tmp_path, TEACHERS="vgg13"), "eval_da_goodness.py")
    assert paper and all(flags(c)["--n_groups"] == "original" for c in paper)


def test_accuracy_tables_print_eight_settings_on_seven_pairs(tmp_path):
    lines = dry_run("accuracy_tables_cifar100.sh", tmp_path, TRIALS="1", EPOCHS="3")
    runs = commands(lines, "train_student.py")
    assert len(runs) == 7 * 8
    assert {pair_of(c) for c in runs} == set(TABLE_PAIRS)

    def setting(cmd):
        f = flags(cmd)
        return f["--distill"], da_of(cmd), f.get("--epoch_factor", "1"), f["-b"]
    assert sorted({setting(c) for c in runs}) == sorted([
        ("kd", "none", "1", "0"), ("kd", "cutmix", "1", "0"), ("kd", "cutmix_pick_T", "1", "0"),
        ("kd", "none", "4", "0"), ("kd", "cutmix_pick_T", "4", "0"), ("crd", "none", "1", "0.8"),
        ("crd", "cutmix_pick_T", "1", "0.8"), ("crd", "cutmix_pick_T", "4", "0.8")])
    for cmd in runs:
        f = flags(cmd)
        assert (f["-r"], f["-a"], f["--epochs"]) == ("0.1", "0.9", "3")
        assert f["--lw_mix"] == ("[1,0,0]" if da_of(cmd) == "none" else "[1,0,1]")
    # shared with the S. test loss runs: same run names, so they are trained once
    names = {flags(c)["--project"] for c in runs}
    assert "kd__vgg13vgg8__cifar100__cutmix" in names and "kd__vgg13vgg8__cifar100__cutmix_pick_Tentropy" in names


def test_tinyimagenet_uses_its_teachers_and_480_epoch_runs(tmp_path):
    lines = dry_run("tinyimagenet.sh", tmp_path, TRIALS="1")
    runs = commands(lines, "train_student.py")
    assert len(runs) == 81 + 7 * 8
    assert all(flags(c)["--dataset"] == "tinyimagenet" for c in runs)
    assert all(flags(c)["--path_t"].startswith("save/models_tinyimagenet_v2/") for c in runs)
    assert {flags(c).get("--epoch_factor", "1") for c in runs} == {"1", "2"}
    assert len(commands(lines, "eval_da_goodness.py")) == 10


def test_imagenet_runs_resnet34_to_resnet18_on_both_sets_with_torchvisions_teacher(tmp_path):
    lines = dry_run("imagenet.sh", tmp_path, TRIALS="1", LAUNCH="torchrun --nproc_per_node=8")
    runs = commands(lines, "--nproc_per_node=8")
    students = [c for c in runs if c[2] == "train_student.py"]
    teachers = [c for c in runs if c[2] == "train_teacher.py"]
    goodness = [c for c in runs if c[2] == "eval_da_goodness.py"]
    assert [flags(c)["--dataset"] for c in teachers] == ["imagenet100"]
    assert sorted(flags(c)["--dataset"] for c in students) == ["imagenet"] * 9 + ["imagenet100"] * 9
    assert {da_of(c) for c in students} == set(DAS) and {flags(c)["--model_s"] for c in students} == {"resnet18"}
    for c in students + goodness:
        f = flags(c)
        if f["--dataset"] == "imagenet":
            assert f["--model_t"] == "resnet34" and "--pretrained" in f and "--path_t" not in f
        else:
            assert f["--path_t"].endswith("resnet34_imagenet100_lr_0.1_decay_0.0001_trial_0/last.pth")
    assert all(flags(c)["--batch_size"] == "256" and flags(c)["--lr_decay_epochs"] == "30,60,90"
               for c in students + teachers)
    assert len(goodness) == 4 and len(commands(lines, "scripts/summarize.py")) == 2


def test_train_teachers_prints_the_five_teachers(tmp_path):
    lines = dry_run("train_teachers.sh", tmp_path, EPOCHS="2")
    runs = commands(lines, "train_teacher.py")
    assert [flags(c)["--model"] for c in runs] == TEACHERS
    assert all(flags(c)["--epochs"] == "2" and flags(c)["--dataset"] == "cifar100" for c in runs)


def test_quickstart_plans_the_whole_miniature_experiment(tmp_path):
    lines = dry_run("quickstart.sh", tmp_path)
    assert len(commands(lines, "train_teacher.py")) == 1
    runs = commands(lines, "train_student.py")
    assert sorted((da_of(c), flags(c)["--seed"]) for c in runs) == sorted((d, s) for d in DAS for s in "123")
    assert all(flags(c)["--dataset"] == "digits" for c in runs)
    assert len(commands(lines, "eval_da_goodness.py")) == 2
    assert lines[-2][1] == "scripts/summarize.py"


def test_cpu_study_plans_the_overfit_setting_on_one_subset(tmp_path):
    lines = dry_run("cpu_study.sh", tmp_path, DATA_FOLDER="../shared/data")
    save = tmp_path / "save"
    teacher, = commands(lines, "train_teacher.py")
    f = flags(teacher)
    assert (f["--model"], f["--epochs"], f["--seed"], f["--trial"]) == ("resnet20", "30", "0", "0")
    # the whole training set, evaluated on the whole test set
    assert f["--data_folder"] == "../shared/data" and "--train_subset" not in f and "--test_subset" not in f
    assert f["--model_path"] == str(save / "overfit" / "models_ep30")
    runs = commands(lines, "train_student.py")
    assert len(runs) == 27
    assert sorted((da_of(c), flags(c)["--seed"]) for c in runs) == sorted((d, str(s)) for d in DAS for s in (1, 2, 3))
    study = save / "overfit" / "resnet20_resnet8_tr2000s0_te2000_ep120"
    subsets = set()
    for cmd in runs:
        f = flags(cmd)
        assert (f["--model_s"], f["--epochs"], f["--trial"]) == ("resnet8", "120", f["--seed"])
        assert (f["-r"], f["-a"], f["-b"], f["--lw_mix"]) == ("0.1", "0.9", "0", "[1,0,1]")
        assert f["--path_t"] == str(save / "overfit" / "models_ep30" / "resnet20_cifar100_lr_0.05_decay_0.0005_trial_0"
                                    / "last.pth")
        assert f["--model_path"] == str(study / "student_model")
        subsets.add((f["--train_subset"], f["--test_subset"], f["--subset_seed"]))
    assert subsets == {("2000", "2000", "0")}  # one subset for every seed and DA
    goodness = commands(lines, "eval_da_goodness.py")
    assert len(goodness) == 2
    assert {(flags(c)["--n_groups"], flags(c)["--train_subset"], flags(c)["--subset_seed"]) for c in goodness} == {
        ("100", "2000", "0")}  # T. stddev on the students' subset
    assert lines[-2][1:] == ["scripts/summarize.py", "--runs", str(study / "student_model"),
                             "--goodness", str(study / "goodness"), "--out", str(study / "summary")]


def test_cpu_study_keeps_the_first_attempt_as_setting_underfit(tmp_path):
    lines = dry_run("cpu_study.sh", tmp_path, DATA_FOLDER="../shared/data", SETTING="underfit")
    save = tmp_path / "save"
    teacher, = commands(lines, "train_teacher.py")
    f = flags(teacher)
    assert (f["--model"], f["--epochs"], f["--model_path"]) == ("resnet8", "8", str(save / "models"))
    runs = commands(lines, "train_student.py")
    assert sorted((da_of(c), flags(c)["--seed"]) for c in runs) == sorted((d, str(s)) for d in DAS for s in (1, 2, 3))
    study = save / "resnet8_tr5000_ep30"
    for cmd in runs:
        f = flags(cmd)
        assert (f["--model_s"], f["--train_subset"], f["--epochs"], f["--trial"]) == ("resnet8", "5000", "30", f["--seed"])
        # as it ran: each student's subset followed its seed, and every test loss is over the whole test set
        assert "--subset_seed" not in f and "--test_subset" not in f
        assert f["--path_t"] == str(save / "models" / "resnet8_cifar100_lr_0.05_decay_0.0005_trial_0" / "last.pth")
        assert f["--model_path"] == str(study / "student_model")
    goodness = commands(lines, "eval_da_goodness.py")
    assert len(goodness) == 2 and all(flags(c)["--n_groups"] == "100" and flags(c)["--train_subset"] == "5000"
                                      for c in goodness)
    assert lines[-2][1:] == ["scripts/summarize.py", "--runs", str(study / "student_model"),
                             "--goodness", str(study / "goodness"), "--out", str(study / "summary")]


def test_cpu_study_pilot_runs_the_studys_first_runs_and_no_t_stddev(tmp_path):
    lines = dry_run("cpu_study.sh", tmp_path, PILOT="1")
    runs = commands(lines, "train_student.py")
    assert sorted((da_of(c), flags(c)["--seed"]) for c in runs) == sorted(
        (d, s) for d in ("identity", "cutmix", "cutmix_pick_T") for s in "123")
    study = tmp_path / "save" / "overfit" / "resnet20_resnet8_tr2000s0_te2000_ep120"
    assert {flags(c)["--model_path"] for c in runs} == {str(study / "student_model")}
    assert not commands(lines, "eval_da_goodness.py")
    assert lines[-1][1:] == ["scripts/summarize.py", "--runs", str(study / "student_model"),
                             "--out", str(study / "summary"), "--spread_only"]
    # the knobs that change the setting change its folder, so runs of two settings never mix
    other = dry_run("cpu_study.sh", tmp_path, PILOT="1", EPOCHS="80", TRAIN_SUBSET="1000", SUBSET_SEED="3",
                    TEST_SUBSET="")
    assert {flags(c)["--model_path"] for c in commands(other, "train_student.py")} == {
        str(tmp_path / "save" / "overfit" / "resnet20_resnet8_tr1000s3_teall_ep80" / "student_model")}
    assert all("--test_subset" not in flags(c) for c in commands(other, "train_student.py"))


def test_cpu_study_rejects_an_unknown_setting(tmp_path):
    done = subprocess.run(["bash", os.path.join(SCRIPTS, "cpu_study.sh")], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=60, check=False,
                          env=dict(os.environ, DRY_RUN="1", SETTING="huge", SAVE_ROOT=str(tmp_path)))
    assert done.returncode == 2
    assert done.stderr == "error: SETTING must be overfit or underfit, got 'huge'\n"


# END-TO-END (slow): runs scripts/quickstart.sh for real, reduced to a 1-epoch teacher and four
# DAs x two seeds of 1-epoch students on digits: about 90 s on a 2-core CPU, several minutes on a busy one.
# SKIP_QUICKSTART=1 leaves it out.
@pytest.mark.skipif(os.environ.get("SKIP_QUICKSTART") == "1", reason="SKIP_QUICKSTART=1")
def test_quickstart_end_to_end_reduced(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, SAVE_ROOT=str(tmp_path / "qs"), TEACHER_EPOCHS="1", EPOCHS="1",
               TRAIN_SUBSET="128",
               TEST_SUBSET="100", N_GROUPS="3", DAS="identity mixup cutmix cutmix_pick_S", DEVICE="cpu", TRIALS="2")
    env.pop("DRY_RUN", None)
    done = subprocess.run(["bash", os.path.join(SCRIPTS, "quickstart.sh")], env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Pearson r (p) [95% CI, whole seeds]" in done.stdout
    assert "in brackets the 95% interval over 2000 resamples of whole seeds" in done.stdout
    assert "resampling the seeds within each DA instead: " in done.stdout
    plot = tmp_path / "qs" / "summary" / "digits_resnet14_resnet8_kd.png"
    assert f"plot: {plot}" in done.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(tmp_path / "qs" / "summary" / "correlations.json") as f:
        assert json.load(f)[0]["correlation"]["n"] == 4


@pytest.mark.parametrize("python, expected", [(None, "python"), ("/venv/bin/python", "/venv/bin/python")])
def test_scripts_run_the_interpreter_of_the_environment(tmp_path, python, expected):
    # unset: the `python` of the active environment (not python3, which may be another one)
    lines = dry_run("s_test_loss_cifar100.sh", tmp_path, PYTHON=python, PAIRS="vgg13:vgg8", DAS="cutmix", TRIALS="1")
    assert lines and all(line[0] == expected for line in lines)


FAKE_PYTHON = """#!/usr/bin/env bash
# stands in for python: logs when each run starts and ends, and with how many threads
echo "start $OMP_NUM_THREADS $*" >> "$CALLS"
case "$*" in *summarize.py*) exit 0 ;; esac
sleep 1
case "$*" in *__flip*) exit 3 ;; esac
echo "end $*" >> "$CALLS"
"""


def parallel_run(tmp_path, das, parallel):
    fake = tmp_path / "fakepy"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    teacher = tmp_path / "teacher.pth"
    teacher.write_bytes(b"")
    env = {k: v for k, v in os.environ.items() if k not in ("DRY_RUN", "OMP_NUM_THREADS")}
    env.update(PYTHON=str(fake), CALLS=str(tmp_path / "calls"), SAVE_ROOT=str(tmp_path / "save"), TRIALS="1",
               PAIRS="vgg13:vgg8", DAS=das, TEACHER_PATTERN=str(teacher), PARALLEL=str(parallel), DEVICE="cpu")
    done = subprocess.run(["bash", os.path.join(SCRIPTS, "s_test_loss_cifar100.sh")], env=env, capture_output=True,
                          text=True, timeout=60)
    return done, (tmp_path / "calls").read_text().splitlines()


def test_parallel_runs_overlap_each_with_its_share_of_the_threads(tmp_path):
    done, calls = parallel_run(tmp_path, "identity cutmix", 2)
    assert done.returncode == 0, done.stderr
    starts = [c for c in calls if c.startswith("start") and "train_student.py" in c]
    assert len(starts) == 2 and calls[:2] == starts, "both runs start before either ends"
    assert all(c.split()[1] == str(max(1, os.cpu_count() // 2)) for c in starts)
    assert calls[-1].startswith("start") and "summarize.py" in calls[-1], "the summary waits for every run"
    logs = sorted(os.listdir(tmp_path / "save" / "logs"))
    assert logs == ["kd__vgg13vgg8__cifar100__cutmix_trial_1.log", "kd__vgg13vgg8__cifar100__identity_trial_1.log"]


def test_a_failed_parallel_run_fails_the_script_and_keeps_the_others(tmp_path):
    done, calls = parallel_run(tmp_path, "identity flip cutmix", 2)
    assert done.returncode == 1 and "a run failed" in done.stderr
    ended = sorted(c.split("--project ")[1].split()[0] for c in calls if c.startswith("end"))
    assert ended == ["kd__vgg13vgg8__cifar100__cutmix", "kd__vgg13vgg8__cifar100__identity"]
    assert not any("summarize.py" in c for c in calls)


# END-TO-END (slow, ~1 min): scripts/gpu_check.sh's whole path on the CPU, scaled down.
@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, "cifar-100-python")), reason="needs CIFAR-100")
def test_gpu_check_runs_on_the_cpu(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, DEVICE="cpu", COMPILE="0", TRAIN_SUBSET="200", PAIR="resnet8:resnet8",
               BENCH_DAS="identity", BENCH_REPEATS="1", BENCH_FLAGS="--train_size 256 --goodness_batches 10 --reference_max_batch 32",
               DATA_FOLDER=SHARED_DATA, OUT=str(tmp_path / "gc"))
    done = subprocess.run(["bash", os.path.join(SCRIPTS, "gpu_check.sh")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    with open(tmp_path / "gc" / "gpu_check.json") as f:
        record = json.load(f)
    assert sorted(record["steps"]) == ["bench", "bench_amp", "cuda_tests", "goodness", "student", "teacher"]
    assert all(step["status"] == 0 for step in record["steps"].values())
    assert record["student_summary"]["da"] == "cutmix_pick_T" and record["student_summary"]["epochs"] == 1
    assert record["benchmarks"]["bench"]["pairs"]["resnet8->resnet8"]["das"]["identity"]["step_ms"] > 0
    assert record["benchmarks"]["bench_compile"] is None
    assert set(record["goodness"]["results"]) >= {"identity", "cutmix_pick_T"}
