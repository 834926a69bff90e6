"""Tables, correlations and plots of the paper from the run folders and the T. stddev files.

    python scripts/summarize.py --runs save/student_model --goodness save/goodness --out save/summary

Reads only the files the training scripts write: each student run folder's summary.json (and its
args.json for the loss weights and the epoch factor) and the JSON files of eval_da_goodness.py.
Trials (seeds) of one setting are averaged (mean and sample std). Per teacher/student pair and
setting it writes a table of every DA (T. stddev with its interval next to the student's test loss and
accuracy), the Pearson, Spearman and Kendall correlations between T. stddev and the per-DA mean S. test
loss with their p-values, a bootstrap interval of each correlation (how much of it is the luck of the
seeds), the seed-blocked test of the DA effect on S. test loss, the spread of S. test loss between DAs
against its seed noise, a CSV of every run and a scatter plot with both as error bars; across pairs,
an accuracy table of every setting (KD, KD+CutMixPick, KD 960 epochs, CRD+KD, ...) and a T. stddev
table of every teacher.

Runs of one condition are paired by the seed they used (args.json's --seed; the study scripts pass
--seed = --trial): the DAs of one seed share every other random draw (batch order, standard DA,
initialisation), so the seed is a block. The DA effect is tested within blocks, by a two-way additive
model DA + seed (its F test) and by Friedman's rank test, on the seeds that have every DA; the paired
noise is that model's residual std. The correlation's interval resamples whole seeds (every DA of a
drawn seed together), which keeps the pairing; the older interval that resamples the seeds within
each DA independently is reported beside it.

    python scripts/summarize.py --runs save/cpu_study/.../student_model --out ... --spread_only

reports the DA effect against the noise alone, without T. stddev: the pilot of a study, whose setting
is chosen before any correlation is seen (criterion: the seed-blocked F test's p < 0.05 and a spread
of at least twice the paired noise).
"""
import argparse
import csv
import math
import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy import stats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from helper.augment import canonical_da, da_label, standalone_names  # noqa: E402
from helper.core.paper import PAPER_DAS  # noqa: E402
from helper.storage.run_folder import FINISHED, read_json, read_metrics, write_json  # noqa: E402

# The paper's nine DAs in its tables' order, then the registry's others; labels from the registry.
DA_ORDER = list(dict.fromkeys(list(PAPER_DAS) + standalone_names()))
MIN_DAS_FOR_CORRELATION = 3
SCIPY_TESTS = {"pearson": stats.pearsonr, "spearman": stats.spearmanr, "kendall": stats.kendalltau}
COEFFICIENTS = tuple(SCIPY_TESTS)
N_BOOTSTRAP = 2000
# A pilot's setting shows a DA effect worth correlating: the seed-blocked F test rejects "no DA
# effect" and the DA means spread at least this many paired-noise stds.
PILOT_P, PILOT_RATIO = 0.05, 2.0
DASH = "—"


@dataclass(frozen=True)
class Run:
    """One finished student run, reduced to what the tables need."""
    dataset: str
    teacher: str
    student: str
    method: str      # "KD", "CRD+KD", ...
    schedule: str    # "" for the standard schedule, else e.g. "960 epochs"
    epochs: int
    da: object       # the DA's name, or None when no stronger-DA view enters the loss (plain KD)
    trial: str
    seed: str        # the --seed the run used: runs of one condition pair on it
    last_acc: float
    best_acc: float
    last_loss: float
    teacher_acc: object
    train_accs: tuple = ()  # training accuracy of every epoch (metrics.jsonl), to see a plateau

    @property
    def last_train_acc(self):
        return self.train_accs[-1] if self.train_accs else None

    @property
    def condition(self):
        """Runs that differ only in their DA (and trial): one correlation, one plot."""
        return (self.dataset, self.teacher, self.student, self.method, self.schedule, self.epochs)


# ---------------------------------------------------------------- loading

def find_run_folders(root):
    """Folders under root holding a run (args.json or summary.json); a run's own subfolders
    (TensorBoard events) are not searched."""
    found = []
    for folder, subfolders, files in os.walk(root):
        if "summary.json" in files or "args.json" in files:
            found.append(folder)
            subfolders[:] = []
        else:
            subfolders.sort()
    return sorted(found)


def method_name(distill, objective):
    """The paper's name of the loss: KD alone, or another method plus KD when KL on x is weighted."""
    if distill == "kd":
        return "KD"
    return distill.upper() + ("+KD" if objective["kl_x"] else "")


def uses_view(objective):
    """Whether the stronger-DA view x' entered the loss (it does not without --lw_mix, with
    --lw_mix [1,0,0] or with -a 0): train_student.py records each term's weight."""
    return bool(objective["ce_mix_view"] or objective["kl_view"])


def canonical_name(da):
    """A DA spec in its canonical form, so that runs of one DA group together however their
    flags spelled it; a name the registry does not know stays as it is."""
    try:
        return canonical_da(da, "DA")
    except ValueError:
        return da


def run_from_files(summary, args, metrics=()):
    """A Run from a finished run's summary.json, args.json and metrics.jsonl contents."""
    epoch_factor = args.get("epoch_factor", 1)
    epochs = int(summary.get("epochs", args.get("epochs", 0)))
    objective = summary["objective"]
    return Run(
        dataset=summary["dataset"], teacher=summary["teacher_arch"], student=summary["arch"],
        method=method_name(summary["distill"], objective),
        schedule="" if epoch_factor == 1 else f"{epochs} epochs", epochs=epochs,
        da=canonical_name(summary.get("da")) if uses_view(objective) else None, trial=str(summary.get("trial", "")),
        seed=str(args.get("seed", summary.get("trial", ""))),
        last_acc=float(summary["last_test_acc"]), best_acc=float(summary["best_test_acc"]),
        last_loss=float(summary["last_test_loss"]), teacher_acc=summary.get("teacher_test_acc"),
        train_accs=tuple(float(m["train_acc"]) for m in metrics if "train_acc" in m))


def load_run(folder):
    """(Run, None) for a finished student run, else (None, why it is skipped)."""
    summary_path = os.path.join(folder, "summary.json")
    if not os.path.isfile(summary_path):
        return None, f"skipped {folder}: unfinished (no summary.json)"
    try:
        summary = read_json(summary_path)
        args_path = os.path.join(folder, "args.json")
        args = read_json(args_path) if os.path.isfile(args_path) else {}
    except (OSError, ValueError) as err:
        return None, f"skipped {folder}: unreadable ({err})"
    if summary.get("status") != FINISHED:
        return None, f"skipped {folder}: unfinished (status {summary.get('status')!r})"
    if "teacher_arch" not in summary:
        return None, f"skipped {folder}: not a student run (no teacher_arch)"
    try:
        return run_from_files(summary, args, read_metrics(folder)), None
    except (KeyError, TypeError, ValueError) as err:
        return None, f"skipped {folder}: summary.json lacks {err}"


def load_runs(root):
    """All finished student runs under root, and a note for every folder skipped."""
    runs, notes = [], []
    if not os.path.isdir(root):
        return runs, [f"no run folder {root}"]
    for folder in find_run_folders(root):
        run, note = load_run(folder)
        if run:
            runs.append(run)
        else:
            notes.append(note)
    return runs, notes


def load_goodness(root):
    """{(dataset, teacher arch): {da: {"t_stddev", "ci95"}}} from eval_da_goodness.py's files.
    Several files of one teacher are merged DA by DA; a later file (by name) wins a DA both hold."""
    table, notes = defaultdict(dict), []
    if not os.path.isdir(root):
        return {}, [f"no T. stddev folder {root}"]
    paths = sorted(os.path.join(folder, name) for folder, _, names in os.walk(root)
                   for name in names if name.endswith(".json"))
    for path in paths:
        try:
            data = read_json(path)
            key = (data["dataset"], data["teacher_arch"])
            results = data["results"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            notes.append(f"skipped {path}: not a T. stddev file ({err})")
            continue
        for da, result in results.items():
            da = canonical_name(da)
            if da in table[key]:
                notes.append(f"{path}: overrides T. stddev of {da} for {key[1]} on {key[0]}")
            table[key][da] = {"t_stddev": result["t_stddev"], "ci95": result.get("ci95")}
    return dict(table), notes


# ---------------------------------------------------------------- statistics

def mean_std(values):
    """(mean, sample std with n - 1, n); the std is nan for a single value."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    return mean, std, n


def number_order(text):
    """Sort key of trial and seed ids: 2 before 10."""
    return (len(text), text)


def aggregate(runs):
    """Trials of one setting averaged: the numbers a table cell shows, and each trial's S. test loss
    and seed."""
    runs = sorted(runs, key=lambda r: number_order(r.trial))
    loss, acc, best = (mean_std([getattr(r, f) for r in runs]) for f in ("last_loss", "last_acc", "best_acc"))
    return {"s_test_loss": loss[:2], "last_acc": acc[:2], "best_acc": best[:2], "n": loss[2],
            "trials": [r.trial for r in runs], "seeds": [r.seed for r in runs],
            "s_test_losses": [r.last_loss for r in runs]}


def spread_against_noise(losses):
    """The S. test loss spread between DAs against its noise across seeds, from {da: [loss per seed]}:
    the sample std of the per-DA means ("between_da_std") and the pooled within-DA sample std
    ("seed_std", over the DAs with two seeds or more). A study's setting has DA differences worth
    correlating when the first exceeds the second ("ratio" > 1)."""
    cells = [(mean_std(v)[0], v) for v in losses.values()]
    means = [mean for mean, _ in cells]
    dof = sum(len(v) - 1 for v in losses.values())
    squares = sum((x - mean) ** 2 for mean, v in cells for x in v)
    between = mean_std(means)[1] if len(means) > 1 else float("nan")
    seed_std = math.sqrt(squares / dof) if dof else float("nan")
    return {"n_das": len(means), "seeds": sorted({len(v) for v in losses.values()}),
            "between_da_std": between, "range": max(means) - min(means), "seed_std": seed_std,
            "ratio": between / seed_std if seed_std > 0 else float("nan")}


def paired_table(seeded_losses):
    """The seed-blocked table of {da: [(seed, S. test loss), ...]}: (DAs, seeds that have every DA,
    array DA x seed, notes). A seed missing a DA is dropped (with a note): the blocked statistics
    need complete blocks. Runs of one DA that share a seed are averaged (with a note)."""
    cells = {da: defaultdict(list) for da in seeded_losses}
    for da, pairs in seeded_losses.items():
        for seed, loss in pairs:
            cells[da][seed].append(loss)
    das = list(seeded_losses)
    every = set.union(*(set(c) for c in cells.values())) if cells else set()
    seeds = sorted(set.intersection(*(set(c) for c in cells.values())) if cells else set(), key=number_order)
    notes = [f"seed {seed} dropped from the seed-blocked statistics: it lacks "
             + ", ".join(da for da in das if seed not in cells[da])
             for seed in sorted(every - set(seeds), key=number_order)]
    notes += [f"{da}: {len(cells[da][seed])} runs share seed {seed}: averaged"
              for da in das for seed in seeds if len(cells[da][seed]) > 1]
    table = np.array([[mean_std(cells[da][seed])[0] for seed in seeds] for da in das], dtype=float)
    return das, seeds, table.reshape(len(das), len(seeds)), notes


def blocked_da_effect(table):
    """The DA effect on S. test loss with seeds as blocks, from an array DA x seed (complete blocks,
    2 DAs and 2 seeds at least): the two-way additive model DA + seed (sums of squares, the F test
    of the DA effect), Friedman's rank test (3 DAs at least), the paired noise (the model's residual
    std, sqrt(SS_residual / ((DAs - 1)(seeds - 1))): the seed noise once each seed's shared luck is
    taken out) and the spread between DAs (sample std of the DA means) against it. F equals
    seeds x ratio^2."""
    y = np.asarray(table, dtype=float)
    n_das, n_seeds = y.shape
    da_means, seed_means, grand = y.mean(axis=1), y.mean(axis=0), y.mean()
    df_da, df_residual = n_das - 1, (n_das - 1) * (n_seeds - 1)
    ss_da = n_seeds * float(((da_means - grand) ** 2).sum())
    ss_seed = n_das * float(((seed_means - grand) ** 2).sum())
    ss_residual = float(((y - da_means[:, None] - seed_means[None, :] + grand) ** 2).sum())
    noise = math.sqrt(ss_residual / df_residual)
    between = float(da_means.std(ddof=1))
    f_value = (ss_da / df_da) / (ss_residual / df_residual) if ss_residual > 0 else float("nan")
    friedman = None
    if n_das >= 3:
        with np.errstate(divide="ignore", invalid="ignore"):  # every block tied: no statistic (nan)
            statistic, p = stats.friedmanchisquare(*y)
        friedman = {"statistic": float(statistic), "p": float(p)}
    return {"n_das": n_das, "n_seeds": n_seeds,
            "anova": {"ss_da": ss_da, "ss_seed": ss_seed, "ss_residual": ss_residual, "df_da": df_da,
                      "df_residual": df_residual, "f": f_value, "p": float(stats.f.sf(f_value, df_da, df_residual))},
            "friedman": friedman, "between_da_std": between, "paired_noise": noise,
            "ratio": between / noise if noise > 0 else float("nan")}


def blocked_analysis(seeded_losses):
    """blocked_da_effect on the complete seed blocks of {da: [(seed, loss), ...]}, with the DAs, the
    seeds used and the notes of paired_table; {"message": why not, "notes"} with fewer than 2 DAs
    or 2 complete seeds."""
    das, seeds, table, notes = paired_table(seeded_losses)
    if len(das) < 2 or len(seeds) < 2:
        return {"message": f"no seed-blocked test: needs 2 DAs and 2 seeds that have every DA, found "
                           f"{len(das)} DAs and {len(seeds)} such seeds", "notes": notes}
    return dict(blocked_da_effect(table), das=das, seeds=seeds, notes=notes)


def pilot_criterion_met(blocked):
    """The pilot's criterion: the seed-blocked F test's p < PILOT_P and spread >= PILOT_RATIO x paired noise."""
    return ("message" not in blocked and blocked["anova"]["p"] < PILOT_P
            and blocked["ratio"] >= PILOT_RATIO)


def group_runs(runs):
    """{condition: {da: [Run, ...]}}; da is None for runs without a stronger-DA view."""
    groups = defaultdict(lambda: defaultdict(list))
    for run in runs:
        groups[run.condition][run.da].append(run)
    return groups


def correlations(x, y):
    """Pearson, Spearman and Kendall coefficients of y against x with their p-values.
    Raises ValueError (with the reason) when they are undefined."""
    if len(x) < MIN_DAS_FOR_CORRELATION:
        raise ValueError(f"needs at least {MIN_DAS_FOR_CORRELATION} DAs with both T. stddev and "
                         f"S. test loss, found {len(x)}")
    if len(set(x)) == 1 or len(set(y)) == 1:
        raise ValueError("T. stddev or S. test loss is the same for every DA")
    result = {"n": len(x)}
    for name in COEFFICIENTS:
        r, p = (float(v) for v in SCIPY_TESTS[name](x, y))
        if math.isnan(r) or math.isnan(p):
            raise ValueError(f"the {name} coefficient is undefined for these values")
        result[name] = {"r": r, "p": p}
    return result


def bootstrap_samples(t_stddev, losses, n_bootstrap=N_BOOTSTRAP, seed=0):
    """Each coefficient over n_bootstrap resamples in which every DA's seeds are drawn again with
    replacement (T. stddev, one pass of the teacher, stays fixed). losses: one list of per-seed S. test
    losses per DA, in the order of t_stddev. A resample whose means are all equal has no coefficient
    and is left out. Returns {coefficient: array of the resamples' values}."""
    rng = np.random.default_rng(seed)
    means = np.empty((n_bootstrap, len(losses)))
    for j, values in enumerate(losses):
        values = np.asarray(values, dtype=float)
        means[:, j] = values[rng.integers(0, len(values), size=(n_bootstrap, len(values)))].mean(axis=1)
    means = means[np.ptp(means, axis=1) > 0]
    return {name: np.array([float(SCIPY_TESTS[name](t_stddev, row)[0]) for row in means]) for name in COEFFICIENTS}


def percentile_interval(samples, n_bootstrap, seed):
    """The 95% percentile interval of each coefficient's resampled values, with how it was drawn."""
    interval = {name: [float(v) for v in np.percentile(values, [2.5, 97.5])] for name, values in samples.items()}
    return dict(interval, n_bootstrap=n_bootstrap, used=len(samples["pearson"]), seed=seed)


def bootstrap_interval(t_stddev, losses, n_bootstrap=N_BOOTSTRAP, seed=0):
    """95% percentile interval of each coefficient over resamples of the seeds within each DA, or None
    with one seed per DA."""
    if all(len(v) < 2 for v in losses):
        return None
    return percentile_interval(bootstrap_samples(t_stddev, losses, n_bootstrap, seed), n_bootstrap, seed)


def seed_bootstrap_samples(t_stddev, table, n_bootstrap=N_BOOTSTRAP, seed=0):
    """Each coefficient over n_bootstrap resamples of whole seeds: a resample draws as many seeds as
    the table has, with replacement, and every DA's mean is over those same seeds, so that the luck a
    seed brings to all its DAs stays shared, as in the runs. table: array DA x seed (complete blocks),
    DAs in the order of t_stddev. A resample whose means are all equal is left out."""
    y = np.asarray(table, dtype=float)
    draws = np.random.default_rng(seed).integers(0, y.shape[1], size=(n_bootstrap, y.shape[1]))
    means = y[:, draws].mean(axis=2).T  # resample x DA
    means = means[np.ptp(means, axis=1) > 0]
    return {name: np.array([float(SCIPY_TESTS[name](t_stddev, row)[0]) for row in means]) for name in COEFFICIENTS}


def seed_bootstrap_interval(t_stddev, table, n_bootstrap=N_BOOTSTRAP, seed=0):
    """95% percentile interval of each coefficient over resamples of whole seeds, or None with fewer
    than 2 complete seeds. With s seeds a resample is one of C(2s-1, s) multisets (10 for 3 seeds),
    so the interval is coarse: it says how little a few seeds can tell."""
    if np.shape(table)[1] < 2:
        return None
    return percentile_interval(seed_bootstrap_samples(t_stddev, table, n_bootstrap, seed), n_bootstrap, seed)


def da_order(da):
    """Sort key: plain KD first, then the paper's DA order, then any other DA by name."""
    if da is None:
        return (0, 0, "")
    return (1, DA_ORDER.index(da), "") if da in DA_ORDER else (2, 0, da)


def pair_rows(by_da, t_stddev):
    """One row per DA of a condition: T. stddev (if known) next to the averaged student numbers."""
    das = sorted({da for da in by_da if da is not None} | set(t_stddev), key=da_order)
    rows = []
    for da in das:
        row = {"da": da, "t_stddev": None, "ci95": None, "s_test_loss": None, "last_acc": None,
               "best_acc": None, "n": 0}
        row.update({k: v for k, v in t_stddev.get(da, {}).items() if k in ("t_stddev", "ci95")})
        if by_da.get(da):
            row.update(aggregate(by_da[da]))
        rows.append(row)
    return rows


def correlation_of(rows):
    """The correlation result of a pair's rows, or {"message": why there is none}."""
    both = [r for r in rows if r["t_stddev"] is not None and r["s_test_loss"] is not None]
    try:
        result = correlations([r["t_stddev"] for r in both], [r["s_test_loss"][0] for r in both])
    except ValueError as err:
        return {"n": len(both), "message": f"no correlation: {err}"}
    result["das"] = [r["da"] for r in both]
    t_stddev = [r["t_stddev"] for r in both]
    result["bootstrap"] = bootstrap_interval(t_stddev, [r["s_test_losses"] for r in both])
    result["spread"] = spread_against_noise({r["da"]: r["s_test_losses"] for r in both})
    seeded = {r["da"]: list(zip(r["seeds"], r["s_test_losses"])) for r in both}
    result["blocked"] = blocked_analysis(seeded)
    _, _, table, _ = paired_table(seeded)
    result["seed_bootstrap"] = seed_bootstrap_interval(t_stddev, table)
    return result


# ---------------------------------------------------------------- formatting

def fmt_mean_std(pair, digits):
    if pair is None:
        return DASH
    mean, std = pair
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def fmt_stddev(value):
    return DASH if value is None else f"{value:.4g}"


def fmt_ci(ci):
    return DASH if not ci else f"[{ci[0]:.4g}, {ci[1]:.4g}]"


def fmt_coefficient(result, name):
    """"0.512 (p=0.16) [-0.10, 0.81]": the coefficient, its p-value and its interval over resamples of
    whole seeds."""
    if "message" in result:
        return DASH
    text = f"{result[name]['r']:.3f} (p={result[name]['p']:.2g})"
    if result.get("seed_bootstrap"):
        lo, hi = result["seed_bootstrap"][name]
        text += f" [{lo:.2f}, {hi:.2f}]"
    return text


def fmt_intervals(interval):
    return ", ".join(f"{name.capitalize()} [{interval[name][0]:.2f}, {interval[name][1]:.2f}]"
                     for name in COEFFICIENTS)


def spread_line(spread):
    head = (f"S. test loss spread between {spread['n_das']} DAs (std of the DA means) "
            f"{spread['between_da_std']:.4f}")
    if math.isnan(spread["seed_std"]):
        return head + "; one seed per DA: no seed std to compare it with"
    return (head + f" against a seed std of {spread['seed_std']:.4f} (pooled within DAs; ratio "
            f"{spread['ratio']:.2f}; range of the means {spread['range']:.4f})")


def fmt_p(p):
    return "nan" if math.isnan(p) else f"{p:.2g}"


def blocked_line(blocked):
    """The seed-blocked test of the DA effect and the spread against the paired noise, in one line
    (with the notes of paired_table after it)."""
    notes = "".join(f"\n  note: {note}" for note in blocked["notes"])
    if "message" in blocked:
        return blocked["message"] + "." + notes
    anova, friedman = blocked["anova"], blocked["friedman"]
    rank_test = "Friedman needs 3 DAs" if friedman is None else \
        f"Friedman chi2 = {friedman['statistic']:.2f}, p = {fmt_p(friedman['p'])}"
    return (f"Seed-blocked test of the DA effect on S. test loss ({blocked['n_das']} DAs x seeds "
            f"{' '.join(blocked['seeds'])}): two-way ANOVA (DA + seed) F({anova['df_da']}, "
            f"{anova['df_residual']}) = {anova['f']:.2f}, p = {fmt_p(anova['p'])}; {rank_test}. "
            f"Spread between DAs (std of the DA means) {blocked['between_da_std']:.4f} against a paired "
            f"noise of {blocked['paired_noise']:.4f} (residual std of DA + seed; ratio {blocked['ratio']:.2f})."
            + notes)


def setting_label(method, da, schedule):
    """The column name of the paper's accuracy tables, e.g. "KD+CutMixPick (T. ent.), 960 epochs"."""
    label = method + ("" if da is None else "+" + da_label(da))
    return f"{label}, {schedule}" if schedule else label


def condition_title(condition):
    dataset, teacher, student, method, schedule, _ = condition
    return f"{teacher} → {student}, {dataset}, {setting_label(method, None, schedule)}"


def slug(*parts):
    return re.sub(r"[^A-Za-z0-9]+", "_", "_".join(p for p in parts if p)).strip("_").lower()


def markdown_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


PAIR_HEADERS = ["DA", "T. stddev", "T. stddev 95% CI", "S. test loss", "Last acc (%)", "Best acc (%)", "n"]
PAIR_CSV_HEADERS = ["da", "t_stddev", "ci95_lo", "ci95_hi", "s_test_loss_mean", "s_test_loss_std",
                    "last_acc_mean", "last_acc_std", "best_acc_mean", "best_acc_std", "n"]


def pair_markdown_rows(rows):
    return [[da_label(r["da"]), fmt_stddev(r["t_stddev"]), fmt_ci(r["ci95"]), fmt_mean_std(r["s_test_loss"], 4),
             fmt_mean_std(r["last_acc"], 2), fmt_mean_std(r["best_acc"], 2), r["n"]] for r in rows]


def csv_number(value):
    """A CSV cell: empty for a missing number or the nan std of a single trial."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value


def csv_pair(pair):
    return ("", "") if pair is None else tuple(csv_number(v) for v in pair)


def pair_csv_rows(rows):
    return [[r["da"], csv_number(r["t_stddev"]), *csv_pair(r["ci95"]), *csv_pair(r["s_test_loss"]),
             *csv_pair(r["last_acc"]), *csv_pair(r["best_acc"]), r["n"]] for r in rows]


def correlation_line(result):
    if "message" in result:
        return result["message"]
    line = ", ".join(f"{name.capitalize()} {fmt_coefficient(result, name)}" for name in COEFFICIENTS)
    whole, within = result.get("seed_bootstrap"), result.get("bootstrap")
    if whole:
        line += (f"; in brackets the 95% interval over {whole['n_bootstrap']} resamples of whole seeds "
                 f"(all DAs of a drawn seed together; seeds {' '.join(result['blocked']['seeds'])})")
    elif within:
        line += "; fewer than 2 seeds have every DA: no interval over whole seeds"
    if within:
        line += f"; resampling the seeds within each DA instead: {fmt_intervals(within)}"
    else:
        line += "; one seed per DA: no interval for the luck of the seeds (set TRIALS >= 2)"
    return line


def pair_markdown(condition, rows, result):
    return (f"# {condition_title(condition)}\n\n"
            "T. stddev of the teacher (lower is better) and the student's last-epoch test loss and "
            "accuracy, mean ± std over n trials.\n\n"
            + markdown_table(PAIR_HEADERS, pair_markdown_rows(rows))
            + f"\nCorrelation of S. test loss with T. stddev over {result['n']} DAs: {correlation_line(result)}\n"
            + (f"\n{blocked_line(result['blocked'])}\n\n{spread_line(result['spread'])}\n" if "spread" in result else ""))


CORRELATION_HEADERS = ["Dataset", "Teacher → student", "Setting", "#DA", "Pearson r (p) [95% CI, whole seeds]",
                       "Spearman ρ (p) [95% CI, whole seeds]", "Kendall τ (p) [95% CI, whole seeds]"]
RUN_CSV_HEADERS = ["da", "seed", "s_test_loss", "last_test_acc", "best_test_acc", "last_train_acc", "t_stddev"]


def run_csv_rows(by_da, t_stddev):
    """One row per run of a condition's DAs (RUN_CSV_HEADERS), in the DA order then by seed; T. stddev
    is the DA's (empty when unknown)."""
    das = sorted((da for da in by_da if da is not None), key=da_order)
    return [[da, run.seed, run.last_loss, run.last_acc, run.best_acc, csv_number(run.last_train_acc),
             csv_number(t_stddev.get(da, {}).get("t_stddev"))]
            for da in das for run in sorted(by_da[da], key=lambda r: number_order(r.seed))]


def correlation_table_rows(entries):
    return [[e["dataset"], f"{e['teacher']} → {e['student']}", e["setting"], e["correlation"]["n"],
             *(fmt_coefficient(e["correlation"], n) for n in COEFFICIENTS)]
            for e in entries]


def accuracy_columns(groups):
    """Every setting seen, in the paper's order: KD before other methods, shorter schedules
    first, plain KD before the DAs."""
    keys = {(method != "KD", method, epochs, schedule, da_order(da), da)
            for (_, _, _, method, schedule, epochs), by_da in groups.items() for da in by_da}
    return [(method, epochs, schedule, da) for _, method, epochs, schedule, _, da in sorted(keys)]


def accuracy_table(groups):
    """Rows = pair, columns = settings; cells = last-epoch accuracy mean ± std (n trials).
    Returns (markdown headers, markdown rows, CSV headers, CSV rows)."""
    columns = accuracy_columns(groups)
    cells, teacher_acc = defaultdict(dict), defaultdict(list)
    for (dataset, teacher, student, method, schedule, epochs), by_da in groups.items():
        for da, runs in by_da.items():
            cells[(dataset, teacher, student)][(method, epochs, schedule, da)] = aggregate(runs)
            teacher_acc[(dataset, teacher, student)] += [r.teacher_acc for r in runs if r.teacher_acc is not None]
    labels = [setting_label(method, da, schedule) for method, _, schedule, da in columns]
    md_rows, csv_rows = [], []
    for pair in sorted(cells):
        dataset, teacher, student = pair
        t_mean = mean_std(teacher_acc[pair])[0] if teacher_acc[pair] else None
        found = [cells[pair].get(c) for c in columns]
        md_rows.append([dataset, f"{teacher} → {student}", DASH if t_mean is None else f"{t_mean:.2f}"]
                       + [DASH if a is None else f"{fmt_mean_std(a['last_acc'], 2)} ({a['n']})" for a in found])
        csv_rows.append([dataset, teacher, student, csv_number(t_mean)]
                        + [v for a in found for v in ((*csv_pair(None), 0) if a is None
                                                      else (*csv_pair(a["last_acc"]), a["n"]))])
    md_headers = ["Dataset", "Teacher → student", "Teacher"] + labels
    csv_headers = ["dataset", "teacher", "student", "teacher_acc"] + [
        f"{label} {part}" for label in labels for part in ("mean", "std", "n")]
    return md_headers, md_rows, csv_headers, csv_rows


def t_stddev_table(goodness):
    """Rows = DA, columns = teacher (dataset): the paper's T. stddev table."""
    keys = sorted(goodness)
    das = sorted({da for results in goodness.values() for da in results}, key=da_order)
    headers = ["DA"] + [f"{arch} ({dataset})" for dataset, arch in keys]
    rows = [[da_label(da)] + [fmt_stddev(goodness[k].get(da, {}).get("t_stddev")) for k in keys] for da in das]
    csv_rows = [[da] + [csv_number(goodness[k].get(da, {}).get("t_stddev")) for k in keys] for da in das]
    return headers, rows, ["da"] + headers[1:], csv_rows


# ---------------------------------------------------------------- writing

def write_text(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def write_csv(path, headers, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def error_bars(rows):
    """[(row, (xerr, yerr))] of the rows with both numbers: T. stddev's 95% interval as an asymmetric
    x bar ([[below], [above]], None without one), the std of S. test loss over seeds as the y bar
    (None with one seed)."""
    bars = []
    for r in rows:
        if r["t_stddev"] is None or r["s_test_loss"] is None:
            continue
        ci, std = r["ci95"], r["s_test_loss"][1]
        xerr = [[r["t_stddev"] - ci[0]], [ci[1] - r["t_stddev"]]] if ci else None
        bars.append((r, (xerr, None if math.isnan(std) else std)))
    return bars


def plot_scatter(rows, result, title, stem):
    """S. test loss against T. stddev, one labelled point per DA with error bars on both axes (see
    error_bars); saved as stem.svg and stem.png."""
    import matplotlib
    matplotlib.use("Agg")  # headless: no display on training machines
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for r, (xerr, yerr) in error_bars(rows):
        loss = r["s_test_loss"][0]
        ax.errorbar(r["t_stddev"], loss, xerr=xerr, yerr=yerr, fmt="o", capsize=3)
        ax.annotate(da_label(r["da"]), (r["t_stddev"], loss), textcoords="offset points", xytext=(4, 4),
                    fontsize=8)
    ax.set_xlabel("T. stddev")
    ax.set_ylabel("S. test loss")
    if "message" in result:
        subtitle = result["message"]
    else:
        subtitle = "\n".join(f"{name.capitalize()} {fmt_coefficient(result, name)}" for name in COEFFICIENTS)
    ax.set_title(f"{title}\n{subtitle}", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths = [f"{stem}.svg", f"{stem}.png"]
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return paths


def json_safe(value):
    """value with every nan (the std of one trial, an undefined test) as null, so the JSON stays standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def summarize(runs_dir, goodness_dir, out_dir):
    """Write every table, correlation and plot; returns (correlation entries, written paths, notes)."""
    runs, notes = load_runs(runs_dir)
    goodness, goodness_notes = load_goodness(goodness_dir)
    notes += goodness_notes
    if not runs and not goodness:
        raise FileNotFoundError(f"nothing to summarise: no finished student run under {runs_dir} "
                                f"and no T. stddev file under {goodness_dir}")
    os.makedirs(out_dir, exist_ok=True)
    groups = group_runs(runs)
    entries, written = [], []
    for condition in sorted(groups):
        by_da = groups[condition]
        if sum(da is not None for da in by_da) < 2:
            continue  # one DA or none: a setting of the accuracy table, not a comparison of DAs
        dataset, teacher, student, method, schedule, _ = condition
        rows = pair_rows(by_da, goodness.get((dataset, teacher), {}))
        result = correlation_of(rows)
        stem = os.path.join(out_dir, slug(dataset, teacher, student, method, schedule))
        entry = {"dataset": dataset, "teacher": teacher, "student": student,
                 "setting": setting_label(method, None, schedule), "correlation": result}
        written.append(write_text(stem + ".md", pair_markdown(condition, rows, result)))
        written.append(write_csv(stem + ".csv", PAIR_CSV_HEADERS, pair_csv_rows(rows)))
        written.append(write_csv(stem + "_runs.csv", RUN_CSV_HEADERS,
                                 run_csv_rows(by_da, goodness.get((dataset, teacher), {}))))
        written.append(write_json(stem + ".json", json_safe(dict(entry, rows=rows)), allow_nan=False))
        written += plot_scatter(rows, result, condition_title(condition), stem)
        entries.append(entry)
    if entries:
        table = markdown_table(CORRELATION_HEADERS, correlation_table_rows(entries))
        written.append(write_text(os.path.join(out_dir, "correlations.md"),
                                  "# Correlation of S. test loss with T. stddev\n\n" + table))
        written.append(write_json(os.path.join(out_dir, "correlations.json"), json_safe(entries), allow_nan=False))
    settings = {(c[3], c[4], da) for c, by_da in groups.items() for da in by_da}
    if len(settings) > 1:
        headers, md_rows, csv_headers, csv_rows = accuracy_table(groups)
        written.append(write_text(os.path.join(out_dir, "accuracy.md"),
                                  "# Student top-1 accuracy (%) at the last epoch, mean ± std (trials)\n\n"
                                  + markdown_table(headers, md_rows)))
        written.append(write_csv(os.path.join(out_dir, "accuracy.csv"), csv_headers, csv_rows))
    if goodness:
        headers, md_rows, csv_headers, csv_rows = t_stddev_table(goodness)
        written.append(write_text(os.path.join(out_dir, "t_stddev.md"),
                                  "# T. stddev (lower is better)\n\n" + markdown_table(headers, md_rows)))
        written.append(write_csv(os.path.join(out_dir, "t_stddev.csv"), csv_headers, csv_rows))
    return entries, written, notes


def train_plateau(runs, tail=0.1):
    """(mean last-epoch training accuracy, its mean gain over the last `tail` of the epochs) of runs
    that logged it; (nan, nan) when none did."""
    logged = [r.train_accs for r in runs if len(r.train_accs) > 1]
    if not logged:
        return float("nan"), float("nan")
    back = [max(1, round(tail * len(accs))) for accs in logged]
    return (mean_std([accs[-1] for accs in logged])[0],
            mean_std([accs[-1] - accs[-1 - k] for accs, k in zip(logged, back)])[0])


SPREAD_HEADERS = ["DA", "S. test loss per seed", "S. test loss", "Last acc (%)", "Best acc (%)",
                  "Train acc, last epoch (%)", "Its gain over the last 10% of epochs"]


def criterion_line(blocked):
    """Whether a pilot's setting meets the criterion (pilot_criterion_met), said with its numbers."""
    if "message" in blocked:
        return "Pilot criterion not judged: " + blocked["message"].split(": ", 1)[-1] + "."
    met = pilot_criterion_met(blocked)
    return (f"Pilot criterion (seed-blocked F test p < {PILOT_P:g} and spread >= {PILOT_RATIO:g} x paired "
            f"noise): {'met' if met else 'not met'} (p = {fmt_p(blocked['anova']['p'])}, ratio "
            f"{blocked['ratio']:.2f}).")


def spread_report(runs_dir, out_dir):
    """The DA effect on S. test loss against its seed noise, per condition, with no T. stddev: a
    study's pilot. The seed-blocked test and its criterion first, then the spread against the noise
    pooled within DAs. Writes spread.md and spread.json; returns (the markdown, written paths, notes)."""
    runs, notes = load_runs(runs_dir)
    if not runs:
        raise FileNotFoundError(f"nothing to summarise: no finished student run under {runs_dir}")
    os.makedirs(out_dir, exist_ok=True)
    sections, records = [], []
    for condition, by_da in sorted(group_runs(runs).items()):
        das = sorted((da for da in by_da if da is not None), key=da_order)
        if len(das) < 2:
            continue
        rows, losses, seeded = [], {}, {}
        for da in das:
            cell = aggregate(by_da[da])
            losses[da] = cell["s_test_losses"]
            seeded[da] = list(zip(cell["seeds"], cell["s_test_losses"]))
            last_train, gain = train_plateau(by_da[da])
            rows.append([da_label(da), " ".join(f"{v:.4f}" for v in cell["s_test_losses"]),
                         fmt_mean_std(cell["s_test_loss"], 4), fmt_mean_std(cell["last_acc"], 2),
                         fmt_mean_std(cell["best_acc"], 2), f"{last_train:.2f}", f"{gain:+.2f}"])
        spread, blocked = spread_against_noise(losses), blocked_analysis(seeded)
        verdict = "" if math.isnan(spread["ratio"]) else \
            f": the spread is {'above' if spread['ratio'] > 1 else 'not above'} the seed noise"
        sections.append(f"# {condition_title(condition)}\n\n" + markdown_table(SPREAD_HEADERS, rows)
                        + f"\n{blocked_line(blocked)}\n\n{criterion_line(blocked)}\n\n"
                        + f"{spread_line(spread)}{verdict}.\n")
        records.append({"condition": list(condition), "spread": spread, "blocked": blocked,
                        "criterion_met": pilot_criterion_met(blocked), "losses": losses,
                        "seeds": {da: [seed for seed, _ in pairs] for da, pairs in seeded.items()}})
    if not records:
        raise FileNotFoundError(f"no setting under {runs_dir} has runs of two DAs or more")
    text = "\n".join(sections)
    written = [write_text(os.path.join(out_dir, "spread.md"), text),
               write_json(os.path.join(out_dir, "spread.json"), json_safe(records), allow_nan=False)]
    return text, written, notes


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="save/student_model", help="folder of the student run folders")
    parser.add_argument("--goodness", default="save/goodness", help="folder of eval_da_goodness.py's JSON files")
    parser.add_argument("--out", default="save/summary", help="where the tables and plots are written")
    parser.add_argument("--spread_only", action="store_true",
                        help="only the DA effect on S. test loss against its seed noise: the seed-blocked "
                             "test and the pilot's criterion (a pilot: no T. stddev, no correlation)")
    return parser.parse_args(argv)


def print_correlations(entries):
    if not entries:
        print("no setting with a stronger DA found: no correlation to compute")
        return
    print("\nCorrelation of S. test loss with T. stddev\n")
    print(markdown_table(CORRELATION_HEADERS, correlation_table_rows(entries)))
    for e in entries:
        result = e["correlation"]
        print(f"\n{e['teacher']} → {e['student']} ({e['dataset']}, {e['setting']}): {correlation_line(result)}")
        if "spread" in result:
            print(blocked_line(result["blocked"]))
            print(spread_line(result["spread"]))


def main(argv=None):
    opt = parse_args(argv)
    try:
        if opt.spread_only:
            report, written, notes = spread_report(opt.runs, opt.out)
        else:
            entries, written, notes = summarize(opt.runs, opt.goodness, opt.out)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"note: {note}")
    if opt.spread_only:
        print(report)
    else:
        print_correlations(entries)
    print("\nwritten:")
    for path in written:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
