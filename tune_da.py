"""Tune a stronger DA from the teacher alone: search the parameters of a DA, or a choice among
several, for the lowest T. stddev (optuna's TPE sampler; no student is trained).

    python tune_da.py --path_t save/models/resnet56_vanilla/ckpt_epoch_240.pth --mix_mode "pick(cutmix)" \\
        --n_trials 50 --n_groups 200 --out save/tune_da/resnet56
    python tune_da.py --dataset digits --path_t resnet14_last.pth --mix_mode cutmix mixup "randaugment(num_ops=2)" \\
        --n_trials 30 --n_groups 20 --timeout 600

Each template's parameters that it does not give are searched over their declared ranges; several
templates add the choice among them. Every trial is measured on the same paired originals, whose
teacher outputs are computed once. The study lives in an SQLite file (--study, default
OUT/study.db): running the same command again resumes it, without repeating finished trials;
--n_trials counts the study's finished trials, old and new.

It runs as one process (one process samples the study and writes its files): under torchrun it
stops with one line before opening anything; eval_da_goodness.py spreads T. stddev over processes.
"""
import csv
import os
import shlex

from tqdm import tqdm

from helper.augment import build_augmentation, da_record
from helper.cli.da_options import add_da_args, check_da_args, da_config
from helper.cli.goodness_options import add_goodness_args, settings_for, tune_compute_batch
from helper.cli.options import add_data_args, add_speed_args, add_teacher_args, check_teacher_args
from helper.cli.script import run_main, script_parser
from helper.core.errors import UsageError
from helper.core.processes import init_processes, refuse_several_processes
from helper.core.seeds import seed_everything
from helper.core.speed import autocast, configure_backend, prepare_model
from helper.data.device_data import load_device_data
from helper.engine.loop import evaluate
from helper.core.paper import kd_flags
from helper.engine.runtime import Runtime
from helper.goodness.measurement import measure_originals
from helper.storage.pretrained import load_teacher
from helper.storage.run_folder import write_json
from helper.tuning.objective import TStddevObjective
from helper.tuning.report import best_record, trial_rows, write_plots
from helper.tuning.search_space import dimensions, parse_templates, render
from helper.tuning.study import finished_trials, open_study, run_trials
from models.external import folder_label

DEFAULT_N_GROUPS = 200
ONE_PROCESS = ("tune_da.py runs as one process, since one process samples the study and writes its files: "
               "start it with python, not torchrun (eval_da_goodness.py is the script that spreads T. stddev "
               "over several processes)")


def parse_args(argv=None):
    parser = script_parser(__doc__)
    add_teacher_args(parser)
    group = parser.add_argument_group("search")
    group.add_argument("--mix_mode", nargs="+", default=["pick(cutmix)"], metavar="DA",
                       help="DA templates (specs whose parameters left out are searched; several: a choice "
                            "among them), e.g. cutmix 'randaugment(num_ops=2)' 'pick(fmix)'")
    group.add_argument("--n_trials", type=int, default=50, help="finished trials the study should hold")
    group.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    group.add_argument("--n_startup_trials", type=int, default=10, help="random trials before TPE models the space")
    group.add_argument("--prune_after", type=int, default=20,
                       help="groups after which a clearly worse trial is first checked (then 2x, 4x, ...); 0: never")
    group.add_argument("--study", default=None, metavar="FILE.db", help="SQLite study file (default OUT/study.db)")
    group.add_argument("--out", default=None, help="output folder (default save/tune_da/<teacher arch>_<dataset>)")
    group.add_argument("--model_s", default=None, help="student architecture for the printed train_student.py command")
    group = parser.add_argument_group("T. stddev (as eval_da_goodness.py)")
    add_goodness_args(group, DEFAULT_N_GROUPS, "groups per trial")
    add_da_args(group)
    add_data_args(parser)
    add_speed_args(parser)
    opt = check_teacher_args(parser.parse_args(argv))
    check_da_args(opt)
    opt.unpaired = False  # trials compare on common ground: the paired originals
    opt.templates = parse_templates(opt.mix_mode)
    opt.mix_mode = [t.canonical for t in opt.templates]
    if opt.n_trials < 1 or opt.n_startup_trials < 0 or opt.prune_after < 0 or opt.n_bootstrap < 1:
        raise UsageError("--n_trials and --n_bootstrap must be positive, --n_startup_trials and --prune_after >= 0")
    if opt.timeout is not None and opt.timeout <= 0:
        raise UsageError(f"--timeout must be positive seconds, got {opt.timeout}")
    return opt


def check_templates(templates, config):
    """Every template must be scorable by the teacher alone, and search something or be one of a choice."""
    for template in templates:
        augmentation = build_augmentation(render(template, lambda name, entry: None), config)
        if augmentation.scored_by == "student":
            raise UsageError(f"{template.canonical} picks by a student's entropy; tune_da.py scores from the "
                             "teacher alone: use by=teacher or cutmix_pick_T")
    if len(templates) == 1 and not dimensions(templates[0]):
        raise UsageError(f"{templates[0].canonical} has nothing to search: leave out a parameter, or give "
                         "several DAs to choose among")


def study_identity(opt, settings):
    """What makes two runs' trials comparable (the compute batch and the device only change speed)."""
    return {"path_t": opt.path_t if opt.pretrained else os.path.abspath(opt.path_t), "dataset": opt.dataset, "train_subset": opt.train_subset,
            "seed": opt.seed, "n_groups": settings.n_groups, "group_batches": settings.group_batches,
            "batch_size": settings.batch_size, "grouping": settings.grouping,
            "da_granularity": opt.da_granularity, "templates": opt.mix_mode, "prune_after": opt.prune_after,
            "n_bootstrap": opt.n_bootstrap, "n_startup_trials": opt.n_startup_trials,
            # only when set, so that studies recorded before the flag existed still resume
            **({} if opt.subset_seed is None else {"subset_seed": opt.subset_seed})}


def student_command(opt, spec):
    """The train_student.py command that distils with the winner (the paper's objective)."""
    words = ["python", "train_student.py", "--path_t", opt.path_t, "--model_s", opt.model_s or "MODEL_S",
             "--distill", "kd", *kd_flags(), "--mix_mode", spec, "--dataset", opt.dataset]
    if opt.train_subset is not None:
        # the subset the DA was tuned on, whatever seed the student then trains with
        subset_seed = opt.seed if opt.subset_seed is None else opt.subset_seed
        words += ["--train_subset", str(opt.train_subset), "--subset_seed", str(subset_seed)]
    if opt.data_folder != "./data":
        words += ["--data_folder", opt.data_folder]
    if opt.da_granularity != "sample":
        words += ["--da_granularity", opt.da_granularity]
    return " ".join(shlex.quote(w) for w in words)


def write_trials(path, rows):
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def main(argv=None):
    refuse_several_processes(ONE_PROCESS)
    opt = parse_args(argv)
    seed_everything(opt.seed)
    processes, device = init_processes(opt.device)
    configure_backend(device)
    data = load_device_data(opt, device, processes)
    config = da_config(opt, data.image_size, data.mean)
    check_templates(opt.templates, config)
    settings_for(opt, opt.n_groups)  # the T. stddev flags, checked before the teacher loads
    teacher, arch, _ = load_teacher(opt, data.num_classes, device, data.image_size)
    teacher = prepare_model(teacher, opt.channels_last, opt.compile)
    _, teacher_acc = evaluate(teacher, data.test, Runtime(data.normalize, opt.amp, processes))
    print(f"teacher {arch} ({opt.path_t}): test accuracy {teacher_acc:.2f}%")
    compute_batch, _ = tune_compute_batch(opt, teacher, data, processes)
    settings = settings_for(opt, opt.n_groups, compute_batch)

    out = opt.out or os.path.join("save", "tune_da", f"{folder_label(arch)}_{opt.dataset}")
    os.makedirs(out, exist_ok=True)
    study_path = opt.study or os.path.join(out, "study.db")
    study = open_study(study_path, study_identity(opt, settings))
    for template in opt.templates:
        print(f"searching {template.canonical}: " + ("; ".join(dimensions(template)) or "as it is"))

    with autocast(device, opt.amp):
        originals = measure_originals(teacher, data.train, data.normalize, settings, processes)
        objective = TStddevObjective(teacher, data.train, data.normalize, config, settings, opt.templates,
                                     originals, opt.prune_after, opt.n_bootstrap, processes)
        bar = tqdm(total=opt.n_trials, initial=len(finished_trials(study)), desc="trials", disable=None,
                   dynamic_ncols=True)

        def after_trial(s):
            t = s.trials[-1]
            state = t.state.name.lower()
            value = f"{t.value:.6f}" if t.value is not None else "-"
            bar.write(f"trial {t.number}: {t.user_attrs.get('spec', '?')} {value} ({state})")
            bar.update(1)
            if any(x.state.name == "COMPLETE" for x in s.trials):
                bar.set_postfix_str(f"best {s.best_value:.6f}")

        ran = run_trials(study, objective, opt.n_trials, opt.timeout, opt.seed, opt.n_startup_trials, after_trial)
        bar.close()

    rows = trial_rows(study)
    write_trials(os.path.join(out, "trials.csv"), rows)
    best = best_record(study)
    if best is None:
        raise UsageError(f"no trial of {study_path} has finished: raise --n_trials or --timeout")
    best.update(teacher_arch=arch, teacher_test_acc=teacher_acc, study=study_path, settings=study_identity(opt, settings),
                da_spec=da_record(best["spec"]), command=student_command(opt, best["spec"]), trials_this_run=ran)
    write_json(os.path.join(out, "best.json"), best)
    plots = write_plots(study, out)
    print(f"{len(rows)} trials ({ran} this run); best {best['spec']}: T. stddev {best['t_stddev']:.6f}, "
          f"95% CI [{best['ci95'][0]:.6f}, {best['ci95'][1]:.6f}] (trial {best['trial']})")
    print(f"wrote {out}/best.json, trials.csv" + "".join(f", {os.path.basename(p)}" for p in plots))
    print("distil with it:\n  " + best["command"])
    return best


if __name__ == "__main__":
    run_main(main)
