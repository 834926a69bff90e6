"""Exact resume: a run killed with SIGKILL in the middle of epoch 2 and resumed ends with the same
weights, bit for bit, as a run that was never interrupted, and logs each epoch once."""
import os
import signal
import subprocess
import sys
import time

import torch

import train_teacher
from conftest import ROOT, SINGLE_THREAD_ENV
from helper.checkpoint import load_checkpoint
from helper.run_log import read_metrics
from helper.training import STANDARD_STREAMS, make_generators, restore_rng_state, rng_state

TEACHER_RUN = "resnet8_digits_lr_0.05_decay_0.0005_trial_0"


def kill_during_epoch_2(command, folder, timeout=240):
    """Start `command`, wait until epoch 1's checkpoint exists, SIGKILL it during epoch 2."""
    process = subprocess.Popen(command, cwd=ROOT, env=SINGLE_THREAD_ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    last = os.path.join(folder, "last.pth")
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if os.path.isfile(last) and load_checkpoint(last)["epoch"] == 1:
            break
        time.sleep(0.05)
    # A tenth of epoch 1's time into epoch 2: past its first steps, well before its end.
    time.sleep(read_metrics(folder)[0]["seconds"] / 10)
    assert process.poll() is None, "the run ended before it could be killed in epoch 2"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert load_checkpoint(last)["epoch"] == 1
    return process


def assert_bitwise_equal(a, b, where):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_bitwise_equal(a[key], b[key], f"{where}.{key}")
    elif torch.is_tensor(a):
        assert torch.equal(a, b), f"{where} differs after resume"
    else:
        assert a == b, where


def assert_same_final_state(folder_a, folder_b, epochs=3):
    a = load_checkpoint(os.path.join(folder_a, f"ckpt_epoch_{epochs}.pth"))
    b = load_checkpoint(os.path.join(folder_b, f"ckpt_epoch_{epochs}.pth"))
    for key in ("model", "distiller", "optimizer", "rng"):
        if key in a:
            assert_bitwise_equal(a[key], b[key], key)
    assert [m["epoch"] for m in read_metrics(folder_b)] == list(range(1, epochs + 1))
    assert [m["test_loss"] for m in read_metrics(folder_a)] == [m["test_loss"] for m in read_metrics(folder_b)]


TEACHER_FLAGS = ["--dataset", "digits", "--model", "resnet8", "--epochs", "3", "--batch_size", "16",
                 "--train_subset", "600", "--test_subset", "100"]


def test_teacher_resumes_exactly_after_sigkill(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train_teacher.main(TEACHER_FLAGS + ["--model_path", str(straight)])
    command = [sys.executable, "train_teacher.py", *TEACHER_FLAGS, "--model_path", str(killed)]
    kill_during_epoch_2(command, str(killed / TEACHER_RUN))
    resumed = subprocess.run(command + ["--resume"], cwd=ROOT, env=SINGLE_THREAD_ENV, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout and "at epoch 2" in resumed.stdout
    assert_same_final_state(str(straight / TEACHER_RUN), str(killed / TEACHER_RUN))


def test_student_with_crd_and_cutmix_pick_resumes_exactly(tmp_path):
    teachers = tmp_path / "teachers"
    train_teacher.main(["--dataset", "digits", "--model", "resnet8", "--epochs", "1", "--train_subset", "200",
                        "--model_path", str(teachers)])
    flags = ["train_student.py", "--path_t", str(teachers / TEACHER_RUN / "ckpt_epoch_1.pth"),
             "--model_s", "resnet8", "--distill", "crd", "-r", "0.1", "-a", "0.9", "-b", "0.8", "--nce_k", "64",
             "--lw_mix", "[1,0,1]", "--mix_mode", "cutmix_pick",
             "--dataset", "digits", "--epochs", "3", "--batch_size", "16", "--train_subset", "480",
             "--test_subset", "100", "--project", "resume"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    done = subprocess.run([sys.executable, *flags, "--model_path", str(straight)], cwd=ROOT, env=SINGLE_THREAD_ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    command = [sys.executable, *flags, "--model_path", str(killed)]
    kill_during_epoch_2(command, str(killed / "resume_trial_1"))
    resumed = subprocess.run(command + ["--resume"], cwd=ROOT, env=SINGLE_THREAD_ENV, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_final_state(str(straight / "resume_trial_1"), str(killed / "resume_trial_1"))
    memory = load_checkpoint(str(killed / "resume_trial_1" / "last.pth"))["distiller"]
    assert any("memory" in key for key in memory), "CRD's memory bank is part of the checkpoint"


def test_finished_run_is_refused_without_resume_or_overwrite(tmp_path):
    flags = ["train_teacher.py", "--dataset", "digits", "--model", "resnet8", "--epochs", "1",
             "--train_subset", "100", "--model_path", str(tmp_path)]
    first = subprocess.run([sys.executable, *flags], cwd=ROOT, env=SINGLE_THREAD_ENV, capture_output=True, timeout=300)
    assert first.returncode == 0
    before = os.path.getmtime(tmp_path / TEACHER_RUN / "ckpt_epoch_1.pth")
    again = subprocess.run([sys.executable, *flags], cwd=ROOT, env=SINGLE_THREAD_ENV, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert "already holds a finished run" in again.stderr and "--overwrite" in again.stderr
    assert os.path.getmtime(tmp_path / TEACHER_RUN / "ckpt_epoch_1.pth") == before


def test_a_state_older_than_a_stream_restores_the_others_and_starts_it_from_the_seed():
    older = make_generators(0, STANDARD_STREAMS)
    for g in older.values():
        torch.rand(5, generator=g)
    generators = make_generators(0)
    assert restore_rng_state(rng_state(older), generators) == ["stronger_da"]
    assert all(torch.equal(generators[name].get_state(), older[name].get_state()) for name in STANDARD_STREAMS)
    assert torch.equal(generators["stronger_da"].get_state(), make_generators(0)["stronger_da"].get_state())
