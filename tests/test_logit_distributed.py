"""Two gloo processes train each logit method with CutMixPick as one process does with the same global
batch: DIST's intra-class relation and MLKD's batch-level terms and median masks see the global batch."""
import json

import pytest
import torch

import train_student
import train_teacher
from conftest import ROOT
from helper.storage.checkpoint import load_checkpoint
from test_distributed import run
from test_logit_methods import METHODS

# DIST's correlations of near-uniform tau=4 softmaxes have steep gradients that magnify float rounding
# (batch 64 in one process against 2 x 32): at its authors' weight 2, rounding alone moved the weights
# 0.1% apart; at 0.05 it stays far below the gap that shard-local correlations open
CASES = {**METHODS, "dist": ["--distill", "dist", "-r", "1", "-a", "0", "-b", "0.05"]}
CASES["dist_views"] = ["--distill", "dist", "--method_as_kl", "-r", "1", "-a", "0.05", "--lw_mix", "[1,0,1]"]
# lr 0.01 as in test_distributed.py: at 0.05 float32 rounding itself drifts as far as shards would;
# the standard layout, whose rounding is ~1e-3 tighter than channels-last's, so that the tolerance
# below separates the coupled terms' sharding from rounding
STUDENT = ["--model_s", "resnet8", "--mix_mode", "cutmix_pick", "--dataset", "digits", "--epochs", "1",
           "--train_subset", "256", "--test_subset", "200", "--learning_rate", "0.01", "--no-channels_last"]
# one torchrun for every method: the processes start (and join their group) once. Its exit handler,
# registered first so that it runs after the scripts' own, writes which threads are left.
DRIVER = f"""import atexit, json, os, sys
sys.path.insert(0, {ROOT!r})
import train_student
def threads_at_exit():
    names = [open(f"/proc/self/task/{{t}}/comm").read().strip() for t in os.listdir("/proc/self/task")]
    with open(sys.argv[2] + os.environ["RANK"], "w") as f:
        f.write(" ".join(sorted(names)))
if os.path.isdir("/proc/self/task"):
    atexit.register(threads_at_exit)
for args in json.loads(sys.argv[1]):
    train_student.main(args)
"""


def weights(path):
    state = load_checkpoint(path)["model"]
    return torch.cat([t.flatten() for k, t in state.items() if t.is_floating_point() and "running" not in k])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each method trained by one process (in this one) and by two (torchrun); their folders."""
    root = tmp_path_factory.mktemp("ddp")
    train_teacher.main(["--dataset", "digits", "--model", "resnet8", "--epochs", "4", "--train_subset", "400",
                        "--model_path", str(root / "teacher")])
    teacher = str(root / "teacher" / "resnet8_digits_lr_0.05_decay_0.0005_trial_0" / "ckpt_epoch_4.pth")
    commands = {name: ["--path_t", teacher, *STUDENT, *flags, "--project", name] for name, flags in CASES.items()}
    for args in commands.values():
        train_student.main(args + ["--model_path", str(root / "one")])
    driver = root / "driver.py"
    driver.write_text(DRIVER)
    run([str(driver), json.dumps([args + ["--model_path", str(root / "two")] for args in commands.values()]),
         str(root / "threads_at_exit_rank")], processes=2)
    return root


def test_no_gloo_thread_is_left_for_interpreter_shutdown(runs):
    """Gloo threads that outlive the script abort a process in about 1 of 12 runs on loaded cores: one drops a
    collective's tensors during interpreter shutdown, which holds the GIL it needs."""
    if not (runs / "threads_at_exit_rank0").exists():
        pytest.skip("no /proc/self/task on this platform to list the threads")
    for rank in (0, 1):
        names = (runs / f"threads_at_exit_rank{rank}").read_text().split()
        assert names and not [n for n in names if "gloo" in n], names


@pytest.mark.parametrize("method", list(CASES))
def test_two_processes_train_like_one(method, runs):
    folders = [runs / n / f"{method}_trial_1" for n in ("one", "two")]
    one, two = (json.loads((f / "summary.json").read_text()) for f in folders)
    assert abs(one["last_test_loss"] - two["last_test_loss"]) < 1e-3 * one["last_test_loss"]
    torch.manual_seed(0)  # --seed 0 builds this initial student
    start = torch.cat([t.flatten() for k, t in train_student.build_model("resnet8", 10).state_dict().items()
                       if t.is_floating_point() and "running" not in k])
    w_one, w_two = (weights(str(f / "ckpt_epoch_1.pth")) for f in folders)
    # agreement to a small fraction of how far the epoch moved the weights. Measured: at most 9e-5 (DIST's
    # rounding); 1.1e-3 (DIST) to 2e-3 (MLKD) when each process computed the coupled terms on its own shard
    assert (w_two - w_one).norm() < 3e-4 * (w_one - start).norm()
