"""tune_da.py: the search space from the declarations, the study finding the region it should, exact
resumption after an interruption, pruning, the cached originals, the script on digits, and its
refusal of several processes."""
import json
import os
import re
import subprocess
import sys

import optuna
import pytest

import eval_da_goodness
import tune_da
from conftest import ROOT, SINGLE_THREAD_ENV
from helper.augment import DAConfig, parse_da
from helper.core.errors import UsageError
from helper.goodness.measurement import measure_goodness, measure_originals, measure_views
from helper.goodness.plan import GoodnessSettings
from helper.goodness.report import summarize
from helper.goodness.schemes import build_schemes
from helper.goodness.statistic import t_stddev
from helper.tuning.objective import TStddevObjective, check_steps
from helper.tuning.search_space import dimensions, optuna_suggest, render, trial_spec
from helper.tuning.study import open_study, run_trials
from test_goodness import IDENTITY_NORMALIZE, MeanTeacher, random_images, save_random_resnet8, split_of


# ----------------------------------------------------------------------------- the space

def test_dimensions_come_from_the_declarations_and_given_parameters_stay_fixed():
    assert dimensions(parse_da("cutmix")) == ["cutmix.alpha: float in [0.1, 2.0]"]
    assert dimensions(parse_da("randaugment(num_ops=2)")) == ["randaugment.magnitude: int in [0, 30]"]
    # pick's `by` is searched over the teacher alone (its declared search choices): fixed, not listed
    assert dimensions(parse_da("pick(cutmix)")) == ["pick/cutmix.alpha: float in [0.1, 2.0]",
                                                    "pick.n_run: int in [2, 4]"]
    assert dimensions(parse_da("cutout+cutout")) == ["cutout.size: int in [2, 24]", "cutout#2.size: int in [2, 24]"]
    # gridmask's d_min/d_max have no upper bound: they keep their derived defaults
    assert [d.split(":")[0] for d in dimensions(parse_da("gridmask"))] == ["gridmask.ratio", "gridmask.p",
                                                                           "gridmask.fill"]
    values = {"pick/cutmix.alpha": 0.25, "pick.n_run": 3}
    spec = render(parse_da("pick(cutmix)"), lambda name, entry: values.get(name, entry.get("choices", [None])[0]))
    assert parse_da(spec).canonical == "pick(cutmix(alpha=0.25),n_run=3)"


# ----------------------------------------------------------------------------- the study

def synthetic(templates, target, calls):
    """An objective whose optimum is known: the distance of a trial's values to ``target``."""
    def objective(trial):
        spec = trial_spec(templates, optuna_suggest(trial), trial.suggest_categorical)
        trial.set_user_attr("spec", spec)
        calls.append(spec)
        return target(trial.params)
    return objective


def test_tpe_finds_the_optimum_of_a_synthetic_objective(tmp_path):
    templates = [parse_da(t) for t in ("cutmix", "mixup", "randaugment")]
    study = open_study(str(tmp_path / "s.db"), {"test": 1})
    calls = []

    def target(params):  # best: randaugment with magnitude 20; mixing DAs are far worse
        if params["da"] != "randaugment":
            return 10.0 + abs(params[f"{params['da']}.alpha"] - 1.0)
        return abs(params["randaugment.magnitude"] - 20) / 10 + abs(params["randaugment.num_ops"] - 2)
    run_trials(study, synthetic(templates, target, calls), 40, None, seed=0, n_startup_trials=8)
    best = study.best_trial
    assert best.params["da"] == "randaugment" and abs(best.params["randaugment.magnitude"] - 20) <= 3
    late = [t.params["da"] for t in study.trials[20:]]
    assert late.count("randaugment") >= 15  # TPE concentrates where the objective is low


def test_an_interrupted_study_resumes_exactly_without_repeating_trials(tmp_path):
    templates = [parse_da("cutmix")]

    def target(params):
        return (params["cutmix.alpha"] - 0.5) ** 2
    whole = open_study(str(tmp_path / "whole.db"), {"test": 1})
    run_trials(whole, synthetic(templates, target, []), 12, None, seed=5, n_startup_trials=4)

    path = str(tmp_path / "cut.db")
    calls = []
    run_trials(open_study(path, {"test": 1}), synthetic(templates, target, calls), 5, None, 5, 4)

    def interrupted(trial):  # Ctrl-C in the middle of trial 5
        trial_spec(templates, optuna_suggest(trial))
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        run_trials(open_study(path, {"test": 1}), interrupted, 12, None, 5, 4)
    killed = open_study(path, {"test": 1})  # a kill -9 leaves a trial RUNNING
    killed.sampler = optuna.samplers.RandomSampler(seed=1)
    killed.ask().suggest_float("cutmix.alpha", 0.1, 2.0)
    resumed = open_study(path, {"test": 1})
    assert [t.state.name for t in resumed.trials[5:]] == ["FAIL", "FAIL"]
    run_trials(resumed, synthetic(templates, target, calls), 12, None, 5, 4)

    done = [t for t in resumed.trials if t.state.name == "COMPLETE"]
    expected = [t for t in whole.trials if t.state.name == "COMPLETE"]
    assert [t.params for t in done] == [t.params for t in expected]
    assert [t.value for t in done] == [t.value for t in expected]
    assert len(calls) == 12 == len(set(calls))  # every finished trial ran once
    with pytest.raises(UsageError, match="made with other settings \\(test differ\\)"):
        open_study(path, {"test": 2})


# ----------------------------------------------------------------------------- the objective

SETTINGS = GoodnessSettings(n_groups=12, group_batches=2, batch_size=8, compute_batch=16, seed=1)


def test_views_against_cached_originals_equal_a_paired_pass_and_skip_the_teacher_on_x():
    images, teacher = random_images(60), MeanTeacher()
    split, config = split_of(images), DAConfig(8, mean=(0.5, 0.5, 0.5))
    schemes = build_schemes(["cutmix(alpha=0.5)", "pick(mixup)"], config)
    paired = summarize(measure_goodness(teacher, split, IDENTITY_NORMALIZE, schemes, SETTINGS), SETTINGS, 50)
    originals = measure_originals(teacher, split, IDENTITY_NORMALIZE, SETTINGS)
    for scheme in schemes:
        teacher.images_seen = 0
        alone = measure_views(teacher, split, IDENTITY_NORMALIZE, scheme, SETTINGS, originals)
        views = SETTINGS.n_batches * 8 * (2 if scheme.name == "pick(mixup)" else 1)
        assert teacher.images_seen == views  # the views only: x comes from the cache
        assert t_stddev(alone.group_means(2)) == paired[scheme.name]["t_stddev"]


def test_clearly_worse_trials_are_pruned_after_a_few_groups(tmp_path):
    # Cutout of the whole 8x8 image makes every view the same grey: its group means vary half as
    # much as identity's, whose views are the originals.
    images = random_images(60)
    split, config = split_of(images), DAConfig(8, mean=(0.5, 0.5, 0.5))
    settings = GoodnessSettings(n_groups=40, group_batches=2, batch_size=8, compute_batch=16, seed=1)
    teacher = MeanTeacher()
    originals = measure_originals(teacher, split, IDENTITY_NORMALIZE, settings)
    templates = [parse_da("cutout"), parse_da("identity")]
    objective = TStddevObjective(teacher, split, IDENTITY_NORMALIZE, config, settings, templates, originals,
                                 prune_after=10, n_bootstrap=50)
    assert objective.steps == check_steps(10, 40) == [10, 20]
    study = open_study(str(tmp_path / "p.db"), {"test": 1})
    study.enqueue_trial({"da": "cutout", "cutout.size": 24})
    study.enqueue_trial({"da": "identity"})
    study.enqueue_trial({"da": "cutout", "cutout.size": 24})
    run_trials(study, objective, 3, None, 0, 10)
    good, bad, again = study.trials
    assert (good.state.name, bad.state.name) == ("COMPLETE", "PRUNED")
    assert bad.user_attrs["pruned_at_groups"] == 10 and bad.intermediate_values[10] > 1.5 * good.intermediate_values[10]
    assert again.user_attrs["repeat_of"] == 0 and again.value == good.value  # not measured again


# ----------------------------------------------------------------------------- the script

def test_script_on_digits_resumes_and_matches_eval_da_goodness(tmp_path, capsys):
    ckpt = save_random_resnet8(tmp_path / "resnet8.pth")
    out = tmp_path / "tune"
    args = ["--dataset", "digits", "--train_subset", "80", "--test_subset", "30", "--path_t", ckpt,
            "--n_groups", "4", "--group_batches", "2", "--batch_size", "8", "--compute_batch", "16",
            "--n_bootstrap", "20", "--device", "cpu", "--mix_mode", "cutmix", "--n_startup_trials", "2",
            "--prune_after", "0", "--model_s", "resnet8", "--out", str(out)]
    best = tune_da.main(args + ["--n_trials", "3"])
    for name in ("best.json", "trials.csv", "study.db", "optimization_history.png", "param_importances.png"):
        assert os.path.exists(out / name), name
    with open(out / "best.json") as f:
        assert json.load(f)["spec"] == best["spec"]
    printed = capsys.readouterr().out
    assert f"--mix_mode '{best['spec']}'" in printed and "--model_s resnet8" in printed
    assert "--train_subset 80 --subset_seed 0" in printed  # the student trains on the subset tuned on
    again = tune_da.main(args + ["--n_trials", "4"])
    assert again["trials_this_run"] == 1 and again["n_complete"] == 4
    # the winner's T. stddev is what eval_da_goodness.py measures for it with the same settings
    record = eval_da_goodness.main(args[:20] + ["--mix_mode", again["spec"]])
    assert record["results"][again["spec"]]["t_stddev"] == pytest.approx(again["t_stddev"], rel=1e-12)
    with pytest.raises(UsageError, match="other settings \\(n_groups differ\\)"):
        tune_da.main(args + ["--n_trials", "5", "--n_groups", "5"])
    with pytest.raises(UsageError, match="picks by a student's entropy"):
        tune_da.main(args + ["--mix_mode", "pick(cutmix,by=student)"])
    with pytest.raises(UsageError, match="nothing to search"):
        tune_da.main(args + ["--mix_mode", "cutmix(alpha=0.5)"])


def test_a_trial_as_good_as_the_incumbent_is_never_pruned(tmp_path):
    # The stub teacher sees only each image's mean pixel, which a flip keeps: flip's group means
    # are identity's (up to float32 rounding), so their paired difference is 0 at every check.
    images = random_images(60)
    split, config = split_of(images), DAConfig(8, mean=(0.5, 0.5, 0.5))
    settings = GoodnessSettings(n_groups=40, group_batches=2, batch_size=8, compute_batch=16, seed=1)
    teacher = MeanTeacher()
    originals = measure_originals(teacher, split, IDENTITY_NORMALIZE, settings)
    objective = TStddevObjective(teacher, split, IDENTITY_NORMALIZE, config, settings,
                                 [parse_da("identity"), parse_da("flip")], originals, prune_after=10, n_bootstrap=50)
    assert objective.control.level == pytest.approx(0.05 / 2)  # two checks, one pair
    study = open_study(str(tmp_path / "p.db"), {"test": 1})
    study.enqueue_trial({"da": "identity"})
    study.enqueue_trial({"da": "flip"})
    run_trials(study, objective, 2, None, 0, 10)
    incumbent, same = study.trials
    assert (incumbent.state.name, same.state.name) == ("COMPLETE", "COMPLETE") and same.value == pytest.approx(incumbent.value, rel=1e-6)
    means = objective.finished_means[0]
    assert objective.paired_difference(means, means)["verdict"] == "unresolved"
    worse = objective.paired_difference(means * 2 - means.mean(axis=0), means)  # twice the spread: far worse
    assert worse["verdict"] == "lower" and worse["interval"][0] > 0


def test_torchrun_is_refused_in_one_line_before_any_file_is_written(tmp_path):
    """Two processes would each sample and write the same study: the main one says so in one line and
    fails with status 2, the other leaves without a word, and nothing is created (torchrun then adds its
    own report of the failure)."""
    ckpt = save_random_resnet8(tmp_path / "resnet8.pth")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    args = ["tune_da.py", "--dataset", "digits", "--train_subset", "80", "--path_t", ckpt, "--n_groups", "4",
            "--mix_mode", "cutmix", "--n_trials", "2", "--device", "cpu", "--out", str(tmp_path / "tune"),
            "--study", str(tmp_path / "study.db")]
    done = subprocess.run(launcher + args, cwd=ROOT, env=SINGLE_THREAD_ENV, capture_output=True, text=True,
                          timeout=120)
    printed = (done.stdout + done.stderr).splitlines()
    assert [line for line in printed if line.startswith("error:")] == [f"error: {tune_da.ONE_PROCESS}"]
    assert done.returncode != 0
    exits = re.findall(r"rank\s*: (\d) \(local_rank: \d\)\s*exitcode\s*: (\d+)", done.stderr)
    assert exits == [("0", "2")], done.stderr  # torchrun's report: the main process failed, alone
    assert "tune_da.py\", line" not in done.stderr  # no traceback from the script itself
    assert sorted(os.listdir(tmp_path)) == ["resnet8.pth"]
