"""Exact resume: a run killed with SIGKILL in the middle of epoch 2 and resumed ends with the same
weights, bit for bit, as a run that was never interrupted, and logs each epoch once."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

import train_student
import train_teacher
from conftest import ROOT, SINGLE_THREAD_ENV, one_line_error
from helper.core.seeds import STANDARD_STREAMS, make_generators, restore_rng_state, rng_state
from helper.storage.checkpoint import load_checkpoint, save_checkpoint
from helper.storage.run_folder import read_metrics

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


def interrupt_in_epoch_2(monkeypatch, script, argv):
    """Run `script`'s main until epoch 2 starts, as a Ctrl-C there would stop it."""
    real_epoch = script.run_epoch

    def stop_at_epoch_2(step, split, batch_size, generators, epoch, *rest, **options):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_epoch(step, split, batch_size, generators, epoch, *rest, **options)

    with monkeypatch.context() as patch:
        patch.setattr(script, "run_epoch", stop_at_epoch_2)
        with pytest.raises(KeyboardInterrupt):
            script.main(argv)


def folder_bytes(folder):
    return {os.path.relpath(os.path.join(parent, name), folder): open(os.path.join(parent, name), "rb").read()
            for parent, _, names in os.walk(folder) for name in names}


def student_argv(path_t, model_path):
    # --lr_decay_epochs: the scaled default of 2 epochs would add a note to the one line of stderr
    return ["--path_t", path_t, "--model_s", "resnet8", "-r", "0.1", "-a", "0.9", "-b", "0", "--lw_mix", "[1,0,1]",
            "--mix_mode", "cutmix", "--dataset", "digits", "--epochs", "2", "--lr_decay_epochs", "1",
            "--batch_size", "16", "--train_subset", "96", "--test_subset", "60", "--project", "kd",
            "--model_path", str(model_path)]


def test_a_changed_run_is_refused_before_anything_is_written(tmp_path, capsys, monkeypatch):
    """KD + CutMix stopped in epoch 2: resumed with another --kd_T it is refused in one line and its
    folder stays byte for byte as it was; resumed as it started it ends as an uninterrupted run, bit
    for bit; another speed flag or another spelling of the same --lw_mix is no change."""
    teachers = tmp_path / "teachers"
    train_teacher.main(["--dataset", "digits", "--model", "resnet8", "--epochs", "1", "--train_subset", "100",
                        "--model_path", str(teachers)])
    path_t = str(teachers / TEACHER_RUN / "ckpt_epoch_1.pth")
    straight = train_student.main(student_argv(path_t, tmp_path / "straight"))
    interrupt_in_epoch_2(monkeypatch, train_student, student_argv(path_t, tmp_path / "killed"))
    folder = tmp_path / "killed" / "kd_trial_1"
    shutil.copytree(folder, tmp_path / "speed" / "kd_trial_1")
    before = folder_bytes(folder)
    capsys.readouterr()

    line = one_line_error(capsys, train_student.main,
                          student_argv(path_t, tmp_path / "killed") + ["--resume", "--kd_T", "2", "--lw_mix", "1,0,0.5"])
    assert line == (f"error: cannot resume {folder / 'last.pth'}: it was started with kd_T=4 (now 2.0), "
                    "lw_mix=[1.0, 0.0, 1.0] (now [1.0, 0.0, 0.5]); resume with the same flags, or start a new "
                    "run (--trial)")
    assert folder_bytes(folder) == before

    resumed = train_student.main(student_argv(path_t, tmp_path / "killed") + ["--resume"])
    assert_same_final_state(str(tmp_path / "straight" / "kd_trial_1"), str(folder), epochs=2)
    assert resumed["last_test_loss"] == straight["last_test_loss"]

    speed = train_student.main(student_argv(path_t, tmp_path / "speed") + ["--resume", "--no-channels_last",
                                                                          "--lw_mix", "1,0,1", "--device", "cpu"])
    assert "resuming" in capsys.readouterr().out
    assert [m["epoch"] for m in read_metrics(str(tmp_path / "speed" / "kd_trial_1"))] == [1, 2]
    assert speed["last_test_loss"] == pytest.approx(straight["last_test_loss"], rel=1e-4)  # rounding only


def test_a_teacher_resumed_with_another_seed_is_refused(tmp_path, capsys, monkeypatch):
    argv = TEACHER_FLAGS[:4] + ["--epochs", "2", "--lr_decay_epochs", "1", "--train_subset", "100",
                                "--model_path", str(tmp_path)]
    interrupt_in_epoch_2(monkeypatch, train_teacher, argv)
    folder = tmp_path / TEACHER_RUN
    before = folder_bytes(folder)
    capsys.readouterr()
    line = one_line_error(capsys, train_teacher.main, argv + ["--resume", "--seed", "1", "--momentum", "0.8"])
    assert line == (f"error: cannot resume {folder / 'last.pth'}: it was started with momentum=0.9 (now 0.8), "
                    "seed=0 (now 1); resume with the same flags, or start a new run (--trial)")
    assert folder_bytes(folder) == before


def test_a_checkpoint_without_settings_resumes_with_a_note(tmp_path, capsys, monkeypatch):
    argv = TEACHER_FLAGS[:4] + ["--epochs", "2", "--lr_decay_epochs", "1", "--train_subset", "100",
                                "--model_path", str(tmp_path)]
    interrupt_in_epoch_2(monkeypatch, train_teacher, argv)
    last = str(tmp_path / TEACHER_RUN / "last.pth")
    older = load_checkpoint(last)
    del older["settings"]
    save_checkpoint(older, last)
    capsys.readouterr()
    train_teacher.main(argv + ["--resume", "--seed", "1"])
    assert capsys.readouterr().err.strip() == (f"note: {last} records no settings (it is older): the flags could "
                                               "not be checked against those the run started with")
    assert [m["epoch"] for m in read_metrics(str(tmp_path / TEACHER_RUN))] == [1, 2]


def test_a_state_older_than_a_stream_restores_the_others_and_starts_it_from_the_seed():
    older = make_generators(0, STANDARD_STREAMS)
    for g in older.values():
        torch.rand(5, generator=g)
    generators = make_generators(0)
    assert restore_rng_state(rng_state(older), generators) == ["stronger_da"]
    assert all(torch.equal(generators[name].get_state(), older[name].get_state()) for name in STANDARD_STREAMS)
    assert torch.equal(generators["stronger_da"].get_state(), make_generators(0)["stronger_da"].get_state())
