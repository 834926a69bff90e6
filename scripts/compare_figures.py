"""Check that a refactor changes no result: run three small runs at a commit and in this tree, compare bitwise.

    python scripts/compare_figures.py 7a3a636          # exit status 0 iff every figure is equal

The three runs, offline on digits, each on one CPU thread with fixed seeds: (a) a resnet8 teacher trained
2 epochs; (b) a 10-group T. stddev pass of four DAs with that teacher (a fixed
--compute_batch, so that no timing enters); (c) a KD student without a view
(-r 0.1 -a 0.9 -b 0, no --lw_mix). Each side trains its own teacher. The figures compared: every value
of metrics.jsonl but the seconds, summary.json's accuracies and losses, and the goodness JSON's t_stddev,
ci95 and mean_entropy per DA. Each compared figure is printed; any difference exits with status 1
(figures that only this tree has are printed as new).
The commit is checked out in a temporary `git worktree`, removed afterwards.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAS = ["identity", "crop+flip", "cutmix", "cutmix_pick_T"]
TIMING_KEYS = {"seconds", "epoch_seconds", "time"}
SUMMARY_KEYS = ("last_test_acc", "best_test_acc", "last_test_loss", "last_test_acc5", "teacher_test_acc")


def run(tree, out, *argv):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    command = [sys.executable, *argv]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed in {tree}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done


def only_folder(parent):
    folders = [os.path.join(parent, name) for name in os.listdir(parent)]
    assert len(folders) == 1, folders
    return folders[0]


def figures_of(tree, out):
    """Run the three runs in ``tree`` writing under ``out``; return {figure name: value}."""
    common = ["--dataset", "digits", "--device", "cpu", "--seed", "0"]
    run(tree, out, "train_teacher.py", *common, "--model", "resnet8", "--epochs", "2",
        "--model_path", os.path.join(out, "teachers"))
    teacher = only_folder(os.path.join(out, "teachers"))
    checkpoint = os.path.join(teacher, "last.pth")
    goodness = os.path.join(out, "goodness.json")
    run(tree, out, "eval_da_goodness.py", *common, "--path_t", checkpoint, "--mix_mode", *DAS,
        "--n_groups", "10", "--compute_batch", "64",
        "--out", goodness)
    run(tree, out, "train_student.py", *common, "--path_t", checkpoint, "--distill", "kd", "--model_s", "resnet8",
        "-r", "0.1", "-a", "0.9", "-b", "0", "--epochs", "2", "--model_path", os.path.join(out, "students"))
    student = only_folder(os.path.join(out, "students"))
    figures = {}
    for role, folder in (("teacher", teacher), ("student", student)):
        with open(os.path.join(folder, "metrics.jsonl")) as f:
            for line in f:
                row = json.loads(line)
                for key, value in row.items():
                    if key not in TIMING_KEYS and key != "epoch" and isinstance(value, (int, float)):
                        figures[f"{role} epoch {row['epoch']} {key}"] = value
        with open(os.path.join(folder, "summary.json")) as f:
            summary = json.load(f)
        for key in SUMMARY_KEYS:
            if key in summary:
                figures[f"{role} summary {key}"] = summary[key]
    with open(goodness) as f:
        results = json.load(f)["results"]
    for da in DAS:
        for key in ("t_stddev", "ci95", "mean_entropy"):
            figures[f"goodness {da} {key}"] = results[da][key]
    return figures


def checked_out(commit, parent):
    tree = os.path.join(parent, "base")
    subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", tree, commit], check=True,
                   capture_output=True)
    return tree


def compare(before, after):
    """Print each figure of the commit with its value in both trees; return the number that differ.
    Figures this tree adds (a new column of metrics.jsonl) are listed, not compared."""
    differences = 0
    for name in sorted(before):
        old, new = before[name], after.get(name, "missing")
        same = old == new
        differences += not same
        print(f"{'same' if same else 'DIFF'}  {name}: {old!r} -> {new!r}")
    for name in sorted(set(after) - set(before)):
        print(f"new   {name}: {after[name]!r}")
    return differences


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("commit", help="the commit before the change (any git revision)")
    return parser.parse_args(argv)


def main(argv=None):
    opt = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="compare_figures_") as parent:
        tree = checked_out(opt.commit, parent)
        try:
            before = figures_of(tree, os.path.join(parent, "out_before"))
        finally:
            subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", tree], check=True)
        after = figures_of(REPO, os.path.join(parent, "out_after"))
    differences = compare(before, after)
    print(f"{len(before)} figures compared against {opt.commit}: "
          + ("all bitwise equal" if not differences else f"{differences} differ"))
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
