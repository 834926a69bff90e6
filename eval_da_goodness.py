"""Score stronger DAs without training a student: the paper's T. stddev (lower is better), the
standard deviation across groups of samples of the teacher's mean probability.

    python eval_da_goodness.py --path_t save/models/resnet56_vanilla/ckpt_epoch_240.pth --out t_stddev.json
    python eval_da_goodness.py --path_t save/models/vgg13_vanilla/ckpt_epoch_240.pth \\
        --path_s save/student_model/vgg8/vgg8_best.pth --mix_mode identity cutmix cutmix_pick_S
    python eval_da_goodness.py --dataset digits --path_t resnet8_best.pth --n_groups 20  # offline, CPU

Every DA is measured on the same batches (paired), and the paired differences between the DAs
say which is lower, which are a tie and which are not yet known. By default the groups come in
rounds and the pass stops as soon as the order is known (every two neighbours lower or a tie), at
most after --max_groups: as many groups as the original code's 10 epochs gave
(helper.goodness.statistic.PAPER_GROUPS on CIFAR-100). --n_groups N measures exactly N groups, as
the paper did (--n_groups original: the paper's count); docs/t-stddev.md says which to choose.
"""
import argparse
import os
from dataclasses import replace

from helper.augment import da_help, da_record
from helper.cli.da_options import add_da_args, check_da_args, da_config
from helper.cli.goodness_options import add_goodness_args, settings_for, tune_compute_batch
from helper.cli.options import add_data_args, add_speed_args, add_teacher_args, check_teacher_args
from helper.cli.script import run_main, script_parser
from helper.core.errors import UsageError
from helper.core.processes import init_processes
from helper.core.seeds import seed_everything
from helper.core.speed import autocast, configure_backend, prepare_model
from helper.data.device_data import load_device_data
from helper.engine.loop import evaluate_metrics
from helper.engine.runtime import Runtime
from helper.goodness.measurement import measure_goodness
from helper.goodness.paired import ALPHA, TIE_MARGIN, ErrorControl
from helper.goodness.plan import default_group_count
from helper.goodness.report import METRICS, metrics_need_student, pass_pairs, summarize
from helper.goodness.schemes import DA_NAMES, PICK_BY_STUDENT, build_schemes, check_da_names, scorer_of
from helper.goodness.sequential import measure_sequential
from helper.goodness.statistic import PAPER_GROUPS
from helper.storage.pretrained import load_model, load_teacher
from helper.storage.run_folder import write_json


ORIGINAL = "original"  # --n_groups original: the original code's count (10 epochs)


def group_count(text):
    """--n_groups: a number of groups, or "original"."""
    if text == ORIGINAL:
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is neither a number of groups nor '{ORIGINAL}'") from None


def parse_args(argv=None):
    parser = script_parser(__doc__)
    group = add_teacher_args(parser)
    group.add_argument("--path_s", default=None, help="student checkpoint whose entropy cutmix_pick_S picks by")
    group.add_argument("--model_s", default=None, help="student architecture, if its checkpoint does not tell it")
    group = parser.add_argument_group("stronger data augmentation")
    group.add_argument("--mix_mode", nargs="+", default=None, metavar="DA",
                       help=f"DAs to score (default: the paper's {', '.join(DA_NAMES)}; {PICK_BY_STUDENT} "
                            f"only with --path_s); each {da_help()}")
    add_da_args(group)
    group = parser.add_argument_group("T. stddev")
    add_goodness_args(group, None, "measure exactly this many groups, a fixed pass ('original': as many as 10 "
                      f"epochs give in the original grouping, the paper's {PAPER_GROUPS} on CIFAR-100; at most "
                      f"{PAPER_GROUPS} on streamed sets such as ImageNet); default: stop when the order is known",
                      group_count)
    group.add_argument("--max_groups", type=int, default=None,
                       help="budget of the pass that stops when the order is known (default: the count of "
                            "--n_groups original)")
    group.add_argument("--tie_margin", type=float, default=TIE_MARGIN,
                       help="two DAs whose paired difference is surely within this fraction of the larger "
                            f"value are a tie (default {TIE_MARGIN:g})")
    group.add_argument("--alpha", type=float, default=ALPHA,
                       help="chance that any interval of the pass (all pairs, all looks) misses its true "
                            f"difference (default {ALPHA:g})")
    group.add_argument("--unpaired", action="store_true",
                       help="give each DA its own batches instead of the same ones for all")
    group.add_argument("--metric", nargs="+", default=["t_stddev"], choices=METRICS,
                       help="statistics to report, the table sorted by the first: t_stddev (always "
                            "reported), ce_cov (covariance across samples of the teacher-student "
                            "cross-entropy, the original's check_ce_var_v3; needs --path_s), ce_cov_approx "
                            "(the same with the teacher in place of the student)")
    group.add_argument("--out", default=None, metavar="FILE.json", help="write the results here")
    add_data_args(parser)
    add_speed_args(parser)
    opt = check_teacher_args(parser.parse_args(argv))
    if opt.mix_mode is None:  # all DAs the given models can score
        opt.mix_mode = [name for name in DA_NAMES if name != PICK_BY_STUDENT or opt.path_s]
    opt.mix_mode = list(dict.fromkeys(check_da_names(opt.mix_mode, opt.path_s is not None)))
    opt.metric = list(dict.fromkeys(opt.metric))
    if metrics_need_student(opt.metric) and opt.path_s is None:
        raise UsageError("--metric ce_cov needs the student: pass --path_s (a student checkpoint), "
                         "or use ce_cov_approx, its teacher-only approximation")
    if set(opt.metric) - {"t_stddev"} and opt.grouping != "sample":
        raise UsageError("the covariance metrics need groups of equal size: use --grouping sample")
    check_da_args(opt)
    if opt.n_bootstrap < 2:
        raise UsageError(f"--n_bootstrap must be at least 2, got {opt.n_bootstrap}")
    if not 0.0 < opt.alpha < 1.0 or opt.tie_margin < 0.0:
        raise UsageError(f"--alpha must lie in (0, 1) and --tie_margin be >= 0, got {opt.alpha} and {opt.tie_margin}")
    if opt.n_groups is not None and opt.max_groups is not None:
        raise UsageError("--max_groups is the budget of the pass that stops by itself: drop it, or drop --n_groups")
    if opt.n_groups is None and opt.unpaired:
        raise UsageError("the pass that stops when the order is known compares DAs on the same groups: "
                         "drop --unpaired, or pass --n_groups N for a fixed pass")
    return opt


def load_models(opt, num_classes, device, image_size=None):
    teacher, arch, _ = load_teacher(opt, num_classes, device, image_size)
    teacher = prepare_model(teacher, opt.channels_last, opt.compile)
    student = None
    if metrics_need_student(opt.metric) or any(scorer_of(name) == "student" for name in opt.mix_mode):
        student, _, _ = load_model(opt.path_s, num_classes, device, fallback_arch=opt.model_s,
                                 image_size=image_size)
        student = prepare_model(student, opt.channels_last, opt.compile)
    return teacher, arch, student


def goodness_record(opt, teacher_arch, teacher_acc, settings, train_size, originals_seconds, results):
    """The --out JSON (scripts/summarize.py reads it): the settings of the pass and each DA's result
    (main adds the paired differences and how the pass stopped)."""
    return {"path_t": opt.path_t, "teacher_arch": teacher_arch, "dataset": opt.dataset,
            "teacher_test_acc": teacher_acc, "n_groups": settings.n_groups,
            "group_batches": settings.group_batches, "batch_size": settings.batch_size,
            "grouping": settings.grouping, "paired": settings.paired, "seed": settings.seed,
            "compute_batch": settings.compute_batch,
            "path_s": opt.path_s, "da_granularity": opt.da_granularity, "mix_n_run": opt.mix_n_run,
            "n_pick": opt.n_pick, "n_bootstrap": opt.n_bootstrap, "metric": opt.metric, "train_size": train_size,
            "originals_seconds": originals_seconds, "results": results,
            "da_specs": {name: da_record(name) for name in results}}


def format_table(results, metrics=("t_stddev",)):
    """One line per DA, lowest (best) value of the first metric first."""
    extra = [m for m in metrics if m != "t_stddev"]
    lines = [f"{'DA':<15} {'T. stddev':>10}  {'95% CI':<22} {'mean entropy':>12} {'seconds':>8}"
             + "".join(f" {m:>14}" for m in extra)]
    for name, r in sorted(results.items(), key=lambda item: item[1][metrics[0]]):
        low, high = r["ci95"]
        lines.append(f"{name:<15} {r['t_stddev']:>10.6f}  [{low:.6f}, {high:.6f}]   "
                     f"{r['mean_entropy']:>12.4f} {r['seconds']:>8.1f}" + "".join(f" {r[m]:>14.4e}" for m in extra))
    return "\n".join(lines)


def format_pairs(pairs):
    """One line per paired difference: value(second) - value(first) with its corrected interval."""
    lines = [f"{'metric':<13} {'pair':<44} {'difference':>11}  {'interval':<24} {'margin':>9}  verdict"]
    for p in pairs:
        low, high = p["interval"]
        pair = f"{p['da_a']} vs {p['da_b']}" + (" (best)" if p["kind"] == "vs_best" else "")
        lines.append(f"{p['metric']:<13} {pair:<44} {p['diff']:>11.4e}  [{low:.3e}, {high:.3e}] "
                     f"{p['margin']:>9.2e}  {p['verdict']}")
    return "\n".join(lines)


def fixed_count(opt, default):
    return default if opt.n_groups == ORIGINAL else opt.n_groups


def main(argv=None):
    opt = parse_args(argv)
    budget = opt.max_groups if opt.n_groups is None else opt.n_groups
    settings_for(opt, 2 if budget in (None, ORIGINAL) else budget)  # check the flags before loading
    seed_everything(opt.seed)
    processes, device = init_processes(opt.device)
    configure_backend(device)
    data = load_device_data(opt, device, processes)
    train = data.train
    teacher, arch, student = load_models(opt, data.num_classes, device, data.image_size)
    teacher_result = evaluate_metrics(teacher, data.test, Runtime(data.normalize, opt.amp, processes))
    teacher_acc = teacher_result["test_acc"]
    say = print if processes.is_main else (lambda *args: None)
    say(f"teacher {arch} ({opt.path_t}): test accuracy {teacher_acc:.2f}% "
        f"(top-5 {teacher_result['test_acc5']:.2f}%)")

    original = default_group_count(len(train), opt.batch_size, opt.group_batches, data.streamed)
    n_groups = fixed_count(opt, original) if opt.n_groups is not None else opt.max_groups or original
    compute_batch, rates = tune_compute_batch(opt, teacher, data, processes)
    if rates:
        say(f"compute batch {compute_batch}: the teacher's fastest here ("
            + ", ".join(f"{size}: {rate:.0f}" for size, rate in rates.items()) + " images/s)")
    settings = settings_for(opt, n_groups, compute_batch)
    config = da_config(opt, data.image_size, data.mean)
    schemes = build_schemes(opt.mix_mode, config, have_student=student is not None)
    measure = dict(student=student, processes=processes, student_cross_entropy=metrics_need_student(opt.metric))
    with autocast(device, opt.amp):
        if opt.n_groups is not None:
            measured = measure_goodness(teacher, train, data.normalize, schemes, settings, **measure)
            control, stopped, looks = ErrorControl(opt.alpha, 1, len(schemes)), "fixed", [{"groups": n_groups}]
        else:
            found = measure_sequential(teacher, train, data.normalize, schemes, settings, opt.alpha,
                                       opt.tie_margin, opt.n_bootstrap, **measure)
            measured, stopped, looks, control = found.measured, found.rule.stopped, found.rule.record, found.rule.control
            settings = replace(settings, n_groups=found.rule.groups)
    results = summarize(measured, settings, opt.n_bootstrap, opt.metric)
    pairs = pass_pairs(measured, settings, opt.n_bootstrap, control, opt.tie_margin, opt.metric)
    how = (f"a fixed pass" if stopped == "fixed" else
           f"stopped ({stopped}) at look {len(looks)} of {control.n_looks}, budget {n_groups} groups")
    say(f"T. stddev over {settings.n_groups} groups of {settings.group_batches} x {settings.batch_size} "
          f"images ({settings.grouping} grouping, {'paired' if settings.paired else 'unpaired'}, {how}; "
          f"teacher on x: {measured.originals_seconds:.1f}s)")
    say(format_table(results, opt.metric))
    if pairs:
        say(f"paired differences, intervals at level {control.level:.2g} each (alpha {opt.alpha:g} over "
            f"{control.n_looks} look(s) x {control.n_pairs} pair(s)), tie margin {opt.tie_margin:g} x the larger value:")
        say(format_pairs(pairs))

    record = goodness_record(opt, arch, teacher_acc, settings, len(train), measured.originals_seconds, results)
    record["compute_batch_rates"] = {str(size): rate for size, rate in rates.items()}
    record.update(pairs=pairs, groups_used=settings.n_groups, max_groups=n_groups, looks=looks, stopped=stopped,
                  tie_margin=opt.tie_margin, alpha=opt.alpha, interval_level=control.level)
    if opt.out and processes.is_main:
        os.makedirs(os.path.dirname(os.path.abspath(opt.out)), exist_ok=True)
        write_json(opt.out, record)
    return record


if __name__ == "__main__":
    run_main(main)
