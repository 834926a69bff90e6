"""scripts/summarize.py on fake run folders and T. stddev files with known numbers."""
import csv
import importlib.util
import json
import math
import os
import shlex
import statistics

import pytest
import torch
from scipy import stats

import eval_da_goodness
import train_student
from helper.cli.options import run_settings
from helper.core.seeds import make_generators
from helper.engine.run import Training
from helper.storage.run_folder import prepare_run_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("summarize", os.path.join(ROOT, "scripts", "summarize.py"))
summarize = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summarize)

DAS = ["identity", "flip", "crop+flip", "cutout", "mixup", "cutmix"]
T_STDDEV = {"identity": 0.030, "flip": 0.026, "crop+flip": 0.021, "cutout": 0.024, "mixup": 0.018, "cutmix": 0.012}
# S. test loss of three trials per DA: roughly increasing with T. stddev, not perfectly.
LOSSES = {"identity": [1.30, 1.34, 1.32], "flip": [1.25, 1.27, 1.20], "crop+flip": [1.12, 1.18, 1.15],
          "cutout": [1.19, 1.21, 1.26], "mixup": [1.10, 1.02, 1.06], "cutmix": [0.95, 0.99, 0.97]}


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


def da_flags(da, lw_mix):
    """train_student.py's flags for a DA, as scripts/common.sh writes them."""
    if lw_mix is None:
        return ""
    mix = f"--lw_mix [{','.join(map(str, lw_mix))}] --t_output_as_target_for_input_mix"
    if da.startswith("cutmix_pick"):
        criterion = {"cutmix_pick_T": "teacher_entropy", "cutmix_pick_S": "student_entropy"}[da]
        return f"{mix} --mix_mode cutmix_pick --mix_n_run 2 --cutmix_pick_criterion {criterion}"
    return f"{mix} --mix_mode {da}"


def make_run(runs, name, *, da, trial, loss, acc, best, status="finished", distill="kd",
             epoch_factor=1, lw_mix=(1, 0, 1), teacher="vgg13", student="vgg8", dataset="cifar100",
             train_acc=lambda epoch: 50.0, seed=None):
    """A student run folder written by train_student.py's own writer (run folder, args.json,
    metrics.jsonl, summary.json), with a stand-in for the training: two epochs whose test
    accuracies are `best`, then `acc`, whose last test loss is `loss` and whose training accuracy of
    an epoch is train_acc(epoch). Its --seed is `seed`, else the trial (as the scripts pass them).
    status None leaves the run interrupted after its first epoch; "crashed" ends it in an error."""
    weights = "-r 0.1 -a 0.9 -b 0.8" if distill == "crd" else "-r 0.1 -a 0.9 -b 0"
    opt = train_student.parse_args(shlex.split(
        f"--path_t save/models/{teacher}_vanilla/ckpt_epoch_240.pth --model_s {student} --distill {distill} "
        f"{weights} {da_flags(da, lw_mix)} --dataset {dataset} --project {name} --trial {trial} "
        f"--seed {trial if seed is None else seed} "
        f"--epochs 2 --epoch_factor {epoch_factor} --model_path {runs}"))
    folder = os.path.join(runs, train_student.run_name(opt, teacher))
    prepare_run_folder(folder, resume=False, overwrite=False)
    model = torch.nn.Linear(1, 1)
    results = iter([(loss + 0.5, best), (loss, acc)] + [(loss, acc)] * (2 * epoch_factor))

    def evaluate():
        if status is None and evaluate.calls == 1:
            raise KeyboardInterrupt  # interrupted during the second epoch
        if status == "crashed" and evaluate.calls == 1:
            raise RuntimeError("crashed")
        evaluate.calls += 1
        return next(results)
    evaluate.calls = 0
    training = Training(folder, opt, {"model": model}, torch.optim.SGD(model.parameters(), lr=0.1),
                        make_generators(0), train_student.run_identity(opt, 100, teacher, 74.64), run_settings(opt))
    try:
        training.fit(lambda epoch: {"train_loss": 1.0, "train_acc": train_acc(epoch)}, evaluate)
    except (KeyboardInterrupt, RuntimeError):
        pass
    return folder


def make_goodness(goodness, das=DAS, teacher="vgg13", dataset="cifar100", name=None):
    """A T. stddev file written by eval_da_goodness.py's own record, with known results."""
    results = {da: {"t_stddev": T_STDDEV[da], "ci95": [T_STDDEV[da] * 0.9, T_STDDEV[da] * 1.1],
                    "mean_entropy": 1.0, "seconds": 1.0} for da in das}
    opt = eval_da_goodness.parse_args(["--path_t", f"save/models/{teacher}_vanilla/ckpt_epoch_240.pth",
                                       "--dataset", dataset, "--n_groups", "100"])
    record = eval_da_goodness.goodness_record(opt, teacher, 74.64, eval_da_goodness.settings_for(opt, 100),
                                              50000, 1.0, results)
    write_json(os.path.join(goodness, name or f"{teacher}_{dataset}.json"), record)


@pytest.fixture
def experiment(tmp_path):
    runs, goodness, out = (str(tmp_path / d) for d in ("runs", "goodness", "out"))
    for da in DAS:
        for trial, loss in enumerate(LOSSES[da], start=1):
            make_run(runs, f"kd__vgg13vgg8__cifar100__{da}", da=da, trial=trial, loss=loss,
                     acc=70 + 10 * (1.4 - loss) + trial * 0.1, best=75 + trial * 0.1)
    make_goodness(goodness)
    return runs, goodness, out


def load_pair(out):
    with open(os.path.join(out, "cifar100_vgg13_vgg8_kd.json")) as f:
        return json.load(f)


def test_trials_are_averaged_with_the_sample_std(experiment):
    runs, goodness, out = experiment
    summarize.summarize(runs, goodness, out)
    rows = {r["da"]: r for r in load_pair(out)["rows"]}
    for da in DAS:
        assert rows[da]["n"] == 3
        assert rows[da]["s_test_loss"][0] == pytest.approx(statistics.mean(LOSSES[da]))
        assert rows[da]["s_test_loss"][1] == pytest.approx(statistics.stdev(LOSSES[da]))
        assert rows[da]["t_stddev"] == pytest.approx(T_STDDEV[da])
    assert rows["cutmix"]["best_acc"][0] == pytest.approx(75.2)


def test_correlations_equal_scipy_and_are_written_everywhere(experiment, capsys):
    runs, goodness, out = experiment
    assert summarize.main(["--runs", runs, "--goodness", goodness, "--out", out]) == 0
    x = [T_STDDEV[da] for da in DAS]
    y = [statistics.mean(LOSSES[da]) for da in DAS]
    expected = {"pearson": stats.pearsonr(x, y), "spearman": stats.spearmanr(x, y), "kendall": stats.kendalltau(x, y)}
    result = load_pair(out)["correlation"]
    assert result["n"] == 6
    for name, (r, p) in expected.items():
        assert result[name]["r"] == pytest.approx(r)
        assert result[name]["p"] == pytest.approx(p)
    with open(os.path.join(out, "correlations.json")) as f:
        assert json.load(f)[0]["correlation"] == result
    pearson = f"{expected['pearson'][0]:.3f} (p={expected['pearson'][1]:.2g})"
    with open(os.path.join(out, "cifar100_vgg13_vgg8_kd.md")) as f:
        markdown = f.read()
    assert pearson in markdown and "CutMix" in markdown
    assert f"{statistics.mean(LOSSES['mixup']):.4f} ± {statistics.stdev(LOSSES['mixup']):.4f}" in markdown
    assert pearson in capsys.readouterr().out
    with open(os.path.join(out, "cifar100_vgg13_vgg8_kd.csv")) as f:
        table = {row["da"]: row for row in csv.DictReader(f)}
    assert float(table["cutout"]["s_test_loss_mean"]) == pytest.approx(statistics.mean(LOSSES["cutout"]))
    assert float(table["cutout"]["ci95_hi"]) == pytest.approx(T_STDDEV["cutout"] * 1.1)
    assert table["cutout"]["n"] == "3"


def test_plots_are_written_as_svg_and_png(experiment):
    runs, goodness, out = experiment
    _, written, _ = summarize.summarize(runs, goodness, out)
    svg, png = (os.path.join(out, "cifar100_vgg13_vgg8_kd" + ext) for ext in (".svg", ".png"))
    assert svg in written and png in written
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(svg) as f:
        assert "<svg" in f.read()


def test_unfinished_runs_are_skipped_with_a_note(experiment, capsys):
    runs, goodness, out = experiment
    make_run(runs, "kd__vgg13vgg8__cifar100__cutmix", da="cutmix", trial=4, loss=9.0, acc=1, best=1, status=None)
    make_run(runs, "kd__vgg13vgg8__cifar100__cutmix", da="cutmix", trial=5, loss=9.0, acc=1, best=1,
             status="crashed")
    _, _, notes = summarize.summarize(runs, goodness, out)
    rows = {r["da"]: r for r in load_pair(out)["rows"]}
    assert rows["cutmix"]["n"] == 3
    assert rows["cutmix"]["s_test_loss"][0] == pytest.approx(statistics.mean(LOSSES["cutmix"]))
    assert sum("unfinished" in note for note in notes) == 2


def test_fewer_than_three_das_give_a_message_not_a_crash(tmp_path, capsys):
    runs, goodness, out = (str(tmp_path / d) for d in ("runs", "goodness", "out"))
    for da in ("identity", "cutmix"):
        make_run(runs, f"kd_{da}", da=da, trial=1, loss=LOSSES[da][0], acc=70, best=71)
    make_goodness(goodness, das=["identity", "cutmix", "mixup"])  # mixup has no student run
    assert summarize.main(["--runs", runs, "--goodness", goodness, "--out", out]) == 0
    result = load_pair(out)["correlation"]
    assert result["n"] == 2 and "at least 3 DAs" in result["message"]
    assert "at least 3 DAs" in capsys.readouterr().out
    with open(os.path.join(out, "cifar100_vgg13_vgg8_kd.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_accuracy_table_separates_methods_and_schedules(experiment):
    runs, goodness, out = experiment
    for trial, acc in enumerate([71.0, 72.0, 73.5], start=1):
        make_run(runs, "kd__vgg13vgg8__cifar100__none", da="identity", trial=trial, loss=1.4, acc=acc,
                 best=acc, lw_mix=None)
        make_run(runs, "kd__vgg13vgg8__cifar100__cutmix_pick_T_x4", da="cutmix_pick_T", trial=trial, loss=0.9,
                 acc=acc + 3, best=acc + 3, epoch_factor=4)
        make_run(runs, "crd__vgg13vgg8__cifar100__none", da="identity", trial=trial, loss=1.3, acc=acc + 1,
                 best=acc + 1, distill="crd", lw_mix=(1, 0, 0))
    summarize.summarize(runs, goodness, out)
    with open(os.path.join(out, "accuracy.csv")) as f:
        row = next(csv.DictReader(f))
    mean, std = statistics.mean([71.0, 72.0, 73.5]), statistics.stdev([71.0, 72.0, 73.5])
    assert float(row["KD mean"]) == pytest.approx(mean)
    assert float(row["KD std"]) == pytest.approx(std)
    assert float(row["KD+CutMixPick (T. ent.), 8 epochs mean"]) == pytest.approx(mean + 3)
    assert float(row["CRD+KD mean"]) == pytest.approx(mean + 1)
    # plain KD (no stronger-DA view) is not mixed into the correlation's identity row
    rows = {r["da"]: r for r in load_pair(out)["rows"]}
    assert rows["identity"]["s_test_loss"][0] == pytest.approx(statistics.mean(LOSSES["identity"]))
    with open(os.path.join(out, "accuracy.md")) as f:
        header = f.readline() and f.readlines()
    columns = [c.strip() for c in header[1].split("|")]
    assert columns.index("KD") < columns.index("KD+Identity") < columns.index("CRD+KD")


def test_goodness_files_merge_and_bad_files_are_noted(tmp_path):
    goodness = str(tmp_path)
    make_goodness(goodness, das=["identity", "flip"], name="a.json")
    make_goodness(goodness, das=["cutmix"], name="b.json")
    write_json(os.path.join(goodness, "broken.json"), {"hello": 1})
    table, notes = summarize.load_goodness(goodness)
    assert set(table[("cifar100", "vgg13")]) == {"identity", "flip", "cutmix"}
    assert any("broken.json" in note for note in notes)


def test_nothing_to_summarise_exits_nonzero(tmp_path, capsys):
    assert summarize.main(["--runs", str(tmp_path / "a"), "--goodness", str(tmp_path / "b"),
                           "--out", str(tmp_path / "c")]) == 1
    assert "nothing to summarise" in capsys.readouterr().err


# ---------------------------------------------------------------- the CPU study's statistics

def test_spread_against_noise_by_hand():
    spread = summarize.spread_against_noise({"a": [1.0, 1.2], "b": [2.0, 2.0, 2.3], "c": [3.0]})
    # DA means 1.1, 2.1, 3.0: sample std sqrt(((-29/30)^2 + (1/30)^2 + (28/30)^2) / 2)
    assert spread["between_da_std"] == pytest.approx(((29 ** 2 + 1 + 28 ** 2) / 900 / 2) ** 0.5)
    # pooled over a (1 dof, squares 0.02) and b (2 dof, squares 0.06); c's single seed adds nothing
    assert spread["seed_std"] == pytest.approx((0.08 / 3) ** 0.5)
    assert spread["ratio"] == pytest.approx(spread["between_da_std"] / spread["seed_std"])
    assert spread["range"] == pytest.approx(1.9)
    assert spread["n_das"] == 3 and spread["seeds"] == [1, 2, 3]


def test_bootstrap_resamples_each_das_seeds_independently():
    """3 DAs x 2 seeds: each DA's resampled mean is its first seed, the midpoint or its second seed
    with probabilities 1/4, 1/2, 1/4, independently of the other DAs; the bootstrap's Pearson values
    must follow the exact distribution over the 27 combinations."""
    import itertools
    x = [1.0, 2.0, 3.0]
    losses = [[0.0, 1.0], [0.5, 2.0], [1.0, 3.0]]
    exact = {}
    for combo in itertools.product(range(3), repeat=3):
        means = [(v[0], (v[0] + v[1]) / 2, v[1])[c] for v, c in zip(losses, combo)]
        p = 1.0
        for c in combo:
            p *= (0.25, 0.5, 0.25)[c]
        if len(set(means)) > 1:
            key = round(float(stats.pearsonr(x, means)[0]), 9)
            exact[key] = exact.get(key, 0.0) + p
    total = sum(exact.values())
    samples = summarize.bootstrap_samples(x, losses, n_bootstrap=40000, seed=3)["pearson"]
    seen = {}
    for r in samples:
        key = round(float(r), 9)
        seen[key] = seen.get(key, 0) + 1
    assert set(seen) <= set(exact)
    for key, p in exact.items():
        assert seen.get(key, 0) / len(samples) == pytest.approx(p / total, abs=0.01)


def test_bootstrap_interval_collapses_without_seed_noise_and_is_absent_with_one_seed():
    x = [0.03, 0.02, 0.01, 0.025]
    y = [1.3, 1.1, 0.9, 1.0]
    interval = summarize.bootstrap_interval(x, [[v, v, v] for v in y])
    for name, test in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr), ("kendall", stats.kendalltau)):
        assert interval[name] == pytest.approx([test(x, y)[0]] * 2)
    assert interval["used"] == interval["n_bootstrap"] == summarize.N_BOOTSTRAP
    assert summarize.bootstrap_interval(x, [[v] for v in y]) is None


def test_correlations_carry_the_seed_interval_and_the_spread(experiment, capsys):
    runs, goodness, out = experiment
    assert summarize.main(["--runs", runs, "--goodness", goodness, "--out", out]) == 0
    printed = capsys.readouterr().out
    result = load_pair(out)["correlation"]
    x = [T_STDDEV[da] for da in DAS]
    expected = summarize.bootstrap_interval(x, [LOSSES[da] for da in DAS])
    # key by key: pytest.approx takes no dict of lists (pytest >= 9)
    assert set(result["bootstrap"]) == set(expected)
    for key, value in expected.items():
        assert result["bootstrap"][key] == pytest.approx(value), key
    lo, hi = result["bootstrap"]["pearson"]
    assert lo < hi
    assert f"[{lo:.2f}, {hi:.2f}]" in printed
    means = [statistics.mean(LOSSES[da]) for da in DAS]
    pooled = statistics.mean(statistics.variance(LOSSES[da]) for da in DAS) ** 0.5  # 3 seeds each
    assert result["spread"]["between_da_std"] == pytest.approx(statistics.stdev(means))
    assert result["spread"]["seed_std"] == pytest.approx(pooled)
    with open(os.path.join(out, "cifar100_vgg13_vgg8_kd.md")) as f:
        assert f"{statistics.stdev(means):.4f} against a seed std of {pooled:.4f}" in f.read()


def test_one_seed_per_da_says_there_is_no_interval(tmp_path, capsys):
    runs, goodness, out = (str(tmp_path / d) for d in ("runs", "goodness", "out"))
    for da in DAS:
        make_run(runs, f"kd_{da}", da=da, trial=1, loss=LOSSES[da][0], acc=70, best=71)
    make_goodness(goodness)
    assert summarize.main(["--runs", runs, "--goodness", goodness, "--out", out]) == 0
    result = load_pair(out)["correlation"]
    assert result["bootstrap"] is None and result["spread"]["seed_std"] is None
    with open(os.path.join(out, "cifar100_vgg13_vgg8_kd.md")) as f:
        assert "one seed per DA: no interval" in f.read()


def test_error_bars_are_the_t_stddev_interval_and_the_seed_std():
    rows = [{"da": "cutmix", "t_stddev": 0.02, "ci95": [0.015, 0.03], "s_test_loss": (1.0, 0.1)},
            {"da": "mixup", "t_stddev": 0.03, "ci95": None, "s_test_loss": (1.2, float("nan"))},
            {"da": "flip", "t_stddev": None, "ci95": None, "s_test_loss": (1.3, 0.2)}]
    bars = summarize.error_bars(rows)
    assert [r["da"] for r, _ in bars] == ["cutmix", "mixup"]
    (xerr, yerr), (xerr2, yerr2) = (b for _, b in bars)
    assert xerr[0] == pytest.approx([0.005]) and xerr[1] == pytest.approx([0.01]) and yerr == 0.1
    assert xerr2 is None and yerr2 is None


def test_spread_only_reports_the_pilot_without_t_stddev(tmp_path, capsys):
    runs, out = str(tmp_path / "runs"), str(tmp_path / "out")
    for da in ("identity", "cutmix"):
        for trial, loss in enumerate(LOSSES[da], start=1):
            # training accuracy climbing 10 points an epoch: the last 10% of 2 epochs is one epoch
            make_run(runs, f"kd_{da}", da=da, trial=trial, loss=loss, acc=70, best=71,
                     train_acc=lambda epoch: 40.0 + 10 * epoch)
    assert summarize.main(["--runs", runs, "--out", out, "--spread_only"]) == 0
    printed = capsys.readouterr().out
    with open(os.path.join(out, "spread.json")) as f:
        record = json.load(f)[0]
    means = [statistics.mean(LOSSES[da]) for da in ("identity", "cutmix")]
    pooled = statistics.mean(statistics.variance(LOSSES[da]) for da in ("identity", "cutmix")) ** 0.5
    assert record["spread"]["between_da_std"] == pytest.approx(statistics.stdev(means))
    assert record["spread"]["seed_std"] == pytest.approx(pooled)
    assert record["losses"]["cutmix"] == pytest.approx(LOSSES["cutmix"])
    assert "the spread is above the seed noise" in printed
    assert "| 60.00 | +10.00 |" in printed
    assert "Pearson" not in printed and not os.path.exists(os.path.join(out, "correlations.json"))


# ---------------------------------------------------------------- the seed-blocked statistics

# 3 DAs x 3 seeds (columns: seeds 1, 2, 3). Ranks within each seed: a < b < c, a < b < c, a < c < b.
BLOCK_TABLE = [[1.0, 1.4, 1.2], [1.5, 1.6, 2.7], [2.1, 2.0, 2.6]]


def test_blocked_da_effect_by_hand():
    from fractions import Fraction
    y = [[Fraction(str(v)) for v in row] for row in BLOCK_TABLE]
    grand = sum(map(sum, y)) / 9
    da_means = [sum(row) / 3 for row in y]
    seed_means = [sum(col) / 3 for col in zip(*y)]
    ss_total = sum((v - grand) ** 2 for row in y for v in row)
    ss_da = 3 * sum((m - grand) ** 2 for m in da_means)
    ss_seed = 3 * sum((m - grand) ** 2 for m in seed_means)
    ss_residual = ss_total - ss_da - ss_seed
    f_value = (ss_da / 2) / (ss_residual / 4)
    blocked = summarize.blocked_da_effect(BLOCK_TABLE)
    anova = blocked["anova"]
    assert (anova["df_da"], anova["df_residual"]) == (2, 4)
    assert anova["ss_da"] == pytest.approx(float(ss_da)) and anova["ss_seed"] == pytest.approx(float(ss_seed))
    assert anova["ss_residual"] == pytest.approx(float(ss_residual))
    assert anova["f"] == pytest.approx(float(f_value))
    assert anova["p"] == pytest.approx((1 + float(f_value) / 2) ** -2)  # F(2, 4)'s survival function
    # Friedman: rank sums 3, 7, 8 over 3 seeds; Q = 12 / (n k (k + 1)) sum R^2 - 3 n (k + 1)
    q = 12 / (3 * 3 * 4) * (3 ** 2 + 7 ** 2 + 8 ** 2) - 3 * 3 * 4
    assert blocked["friedman"]["statistic"] == pytest.approx(q)
    assert blocked["friedman"]["p"] == pytest.approx(math.exp(-q / 2))  # chi2 with 2 dof
    noise = math.sqrt(float(ss_residual) / 4)
    assert blocked["paired_noise"] == pytest.approx(noise)
    assert blocked["between_da_std"] == pytest.approx(statistics.stdev(float(m) for m in da_means))
    assert blocked["ratio"] == pytest.approx(blocked["between_da_std"] / noise)
    assert anova["f"] == pytest.approx(3 * blocked["ratio"] ** 2)
    assert summarize.blocked_da_effect(BLOCK_TABLE[:2])["friedman"] is None  # Friedman needs 3 DAs


def test_paired_table_drops_a_seed_missing_a_da_with_a_note():
    seeded = {"identity": [("1", 1.0), ("2", 1.4), ("3", 1.2)], "cutmix": [("3", 2.7), ("1", 1.5)],
              "mixup": [("1", 2.1), ("2", 2.0), ("3", 2.6), ("3", 2.8)]}
    das, seeds, table, notes = summarize.paired_table(seeded)
    assert das == ["identity", "cutmix", "mixup"] and seeds == ["1", "3"]
    assert table.tolist() == [[1.0, 1.2], [1.5, 2.7], [2.1, pytest.approx(2.7)]]
    assert notes == ["seed 2 dropped from the seed-blocked statistics: it lacks cutmix",
                     "mixup: 2 runs share seed 3: averaged"]
    blocked = summarize.blocked_analysis(seeded)
    assert blocked["seeds"] == ["1", "3"] and blocked["notes"] == notes
    assert blocked["anova"]["f"] == pytest.approx(summarize.blocked_da_effect(table)["anova"]["f"])
    lonely = summarize.blocked_analysis({"identity": [("1", 1.0), ("2", 1.1)], "cutmix": [("1", 1.2)]})
    assert lonely["message"] == ("no seed-blocked test: needs 2 DAs and 2 seeds that have every DA, found "
                                 "2 DAs and 1 such seeds")


def test_seed_bootstrap_collapses_when_seeds_only_shift_every_da():
    """Every seed adds one constant to all DAs: a resample of whole seeds shifts every DA mean by the
    same amount, which no coefficient sees, so the interval is the point value."""
    x = [0.03, 0.02, 0.01, 0.025]
    mu = [1.3, 1.1, 0.9, 1.0]
    shifts = [0.0, 0.2, -0.15]
    table = [[m + s for s in shifts] for m in mu]
    interval = summarize.seed_bootstrap_interval(x, table)
    for name, test in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr), ("kendall", stats.kendalltau)):
        assert interval[name] == pytest.approx([test(x, mu)[0]] * 2)
    assert interval["used"] == interval["n_bootstrap"] == summarize.N_BOOTSTRAP
    # resampling within each DA breaks the pairing: the same numbers then spread the interval
    within = summarize.bootstrap_interval(x, table)
    assert within["pearson"][0] < stats.pearsonr(x, mu)[0] - 0.05
    assert summarize.seed_bootstrap_interval(x, [[m] for m in mu]) is None


def test_seed_bootstrap_draws_whole_seeds():
    """2 seeds: a resample is seed 1 twice, seed 2 twice, or one of each (probabilities 1/4, 1/4, 1/2),
    the same draw for every DA: the means are one column of the table or the midpoint of the two."""
    x = [1.0, 2.0, 3.0]
    table = [[0.0, 1.0], [0.5, 3.0], [1.0, 2.0]]
    expected = {}
    for column, p in ((0, 0.25), (1, 0.25), (None, 0.5)):
        means = [(a + b) / 2 if column is None else (a, b)[column] for a, b in table]
        expected[round(float(stats.pearsonr(x, means)[0]), 9)] = p
    samples = summarize.seed_bootstrap_samples(x, table, n_bootstrap=20000, seed=5)["pearson"]
    seen = {}
    for r in samples:
        seen[round(float(r), 9)] = seen.get(round(float(r), 9), 0) + 1
    assert set(seen) == set(expected)
    for key, p in expected.items():
        assert seen[key] / len(samples) == pytest.approx(p, abs=0.01)


def test_summary_reports_the_blocked_test_the_whole_seed_interval_and_every_run(experiment, capsys):
    runs, goodness, out = experiment
    assert summarize.main(["--runs", runs, "--goodness", goodness, "--out", out]) == 0
    printed = capsys.readouterr().out
    result = load_pair(out)["correlation"]
    table = [LOSSES[da] for da in DAS]  # trial t ran with seed t
    x = [T_STDDEV[da] for da in DAS]
    expected = summarize.blocked_da_effect(table)
    assert result["blocked"]["seeds"] == ["1", "2", "3"] and result["blocked"]["das"] == DAS
    for key in ("f", "p", "ss_residual"):
        assert result["blocked"]["anova"][key] == pytest.approx(expected["anova"][key])
    assert result["blocked"]["friedman"]["p"] == pytest.approx(expected["friedman"]["p"])
    assert result["blocked"]["paired_noise"] == pytest.approx(expected["paired_noise"])
    interval = summarize.seed_bootstrap_interval(x, table)
    for name in summarize.COEFFICIENTS:
        assert result["seed_bootstrap"][name] == pytest.approx(interval[name])
        assert result["bootstrap"][name] == pytest.approx(summarize.bootstrap_interval(x, table)[name])
    lo, hi = interval["pearson"]
    assert f"(p={stats.pearsonr(x, [statistics.mean(v) for v in table])[1]:.2g}) [{lo:.2f}, {hi:.2f}]" in printed
    assert "resamples of whole seeds (all DAs of a drawn seed together; seeds 1 2 3)" in printed
    assert "resampling the seeds within each DA instead: Pearson [" in printed
    anova = expected["anova"]
    line = f"two-way ANOVA (DA + seed) F(5, 10) = {anova['f']:.2f}, p = {anova['p']:.2g}"
    assert line in printed
    with open(os.path.join(out, "cifar100_vgg13_vgg8_kd.md")) as f:
        assert line in f.read()
    with open(os.path.join(out, "cifar100_vgg13_vgg8_kd_runs.csv")) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["da", "seed", "s_test_loss", "last_test_acc", "best_test_acc", "last_train_acc",
                             "t_stddev"]
    assert [(r["da"], r["seed"]) for r in rows] == [(da, s) for da in DAS for s in "123"]
    for r in rows:
        loss = LOSSES[r["da"]][int(r["seed"]) - 1]
        assert float(r["s_test_loss"]) == pytest.approx(loss)
        assert float(r["last_test_acc"]) == pytest.approx(70 + 10 * (1.4 - loss) + int(r["seed"]) * 0.1)
        assert float(r["best_test_acc"]) == pytest.approx(75 + int(r["seed"]) * 0.1)
        assert float(r["last_train_acc"]) == 50.0 and float(r["t_stddev"]) == T_STDDEV[r["da"]]


def test_pilot_pairs_runs_by_seed_and_judges_the_criterion(tmp_path, capsys):
    """Seed 2 is bad for every DA: the noise pooled within DAs is large, the paired noise small.
    Runs pair on --seed, not on the trial id; seed 4 lacks cutmix and is dropped."""
    runs, out = str(tmp_path / "runs"), str(tmp_path / "out")
    da_effect = {"identity": 0.0, "cutmix": -0.05, "cutmix_pick_T": -0.08}
    seed_effect = {1: 0.0, 2: 0.3, 3: 0.1, 4: 0.0}
    wobble = {1: 0.004, 2: -0.003, 3: 0.0, 4: 0.0}
    for da, effect in da_effect.items():
        for seed in (1, 2, 3) if da == "cutmix" else (1, 2, 3, 4):
            make_run(runs, f"kd_{da}", da=da, trial=f"t{seed}", seed=seed, acc=70, best=71,
                     loss=2.0 + effect + seed_effect[seed] + (wobble[seed] if da == "cutmix" else 0.0))
    assert summarize.main(["--runs", runs, "--out", out, "--spread_only"]) == 0
    printed = capsys.readouterr().out
    with open(os.path.join(out, "spread.json")) as f:
        record = json.load(f)[0]
    table = [[2.0 + e + seed_effect[s] + (wobble[s] if da == "cutmix" else 0.0) for s in (1, 2, 3)]
             for da, e in da_effect.items()]
    expected = summarize.blocked_da_effect(table)
    assert record["blocked"]["seeds"] == ["1", "2", "3"]
    assert record["blocked"]["anova"]["f"] == pytest.approx(expected["anova"]["f"])
    assert record["blocked"]["ratio"] == pytest.approx(expected["ratio"]) and expected["ratio"] > 2
    assert record["spread"]["ratio"] < 1  # pooled within DAs, seed 2's shift hides the DA effect
    assert record["criterion_met"] is True
    assert "note: seed 4 dropped from the seed-blocked statistics: it lacks cutmix" in printed
    assert (f"Pilot criterion (seed-blocked F test p < 0.05 and spread >= 2 x paired noise): met "
            f"(p = {expected['anova']['p']:.2g}, ratio {expected['ratio']:.2f}).") in printed
