"""Fetch the published teachers, install them where the scripts look for them, and check each
one's test accuracy against the accuracy its source publishes.

    python scripts/fetch_teachers.py --data_folder ./data                  # CIFAR-100
    python scripts/fetch_teachers.py --dataset tinyimagenet --data_folder ./data
    python scripts/fetch_teachers.py --sources https://mirror.example/teachers.zip --skip_check

The sources are archives (zip or tar, any nesting) tried in order: a teacher that one cannot give
(a dead address, a truncated or damaged archive or checkpoint, a teacher it lacks) is taken from
the next. Teachers already installed are not downloaded again, but they are checked. Exit status:
0 when every teacher is installed and matches; 1 otherwise, with one line saying what to do.
"""
import argparse
import json
import os
import sys
import tempfile
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from dataset import DATASETS  # noqa: E402
from helper.cli.options import parse_data_args  # noqa: E402
from helper.core.errors import USER_ERRORS, DatasetNotFoundError  # noqa: E402
from helper.core.processes import select_device  # noqa: E402
from helper.data.device_data import load_device_data  # noqa: E402
from helper.engine.loop import evaluate_checkpoint  # noqa: E402
from helper.storage.download import DownloadError, download  # noqa: E402
from helper.storage.teacher_archive import ArchiveError, install_teachers  # noqa: E402

GOOD_DA_RELEASE = "https://github.com/MingSun-Tse/Good-DA-in-KD/releases/download/v0.1"
SOURCES = {
    "cifar100": [
        # CRD's teachers as Good-DA-in-KD re-publishes them (its scripts/set_up_pretrained_models.sh).
        f"{GOOD_DA_RELEASE}/teachers_cifar100.zip",
        # The same teachers in mdistiller's release (its README, "Training on CIFAR-100").
        "https://github.com/megvii-research/mdistiller/releases/download/checkpoints/cifar_teachers.tar",
    ],
    # Trained by Good-DA-in-KD's authors (set_up_pretrained_models.sh).
    "tinyimagenet": [f"{GOOD_DA_RELEASE}/teachers_tinyimagenet.zip"],
}
DESTINATIONS = {
    "cifar100": "save/models/{arch}_vanilla/ckpt_epoch_240.pth",
    "tinyimagenet": "save/models_tinyimagenet_v2/{arch}_vanilla/ckpt_epoch_240.pth",
}
# CIFAR-100 test accuracy (%) of CRD's teachers, RepDistiller's README. Nobody publishes the Tiny
# ImageNet teachers' accuracy next to the files, so those are measured and shown, not compared.
PUBLISHED_ACCURACY = {
    "cifar100": {"vgg13": 74.64, "resnet56": 72.34, "resnet110": 74.31, "resnet32x4": 79.42,
                 "wrn_40_2": 75.61, "ResNet50": 79.34},
}
PAPER_TEACHERS = ["vgg13", "resnet56", "resnet32x4", "wrn_40_2", "ResNet50"]
TOLERANCE = 0.1  # percentage points
ALREADY_INSTALLED = "already installed"


class FetchError(RuntimeError):
    """The teachers cannot be had or do not match; the message says what to do."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="cifar100", choices=list(DATASETS))
    parser.add_argument("--teachers", nargs="+", default=PAPER_TEACHERS, metavar="ARCH")
    parser.add_argument("--sources", nargs="+", default=None, metavar="URL",
                        help="archives to try in order instead of the published ones (mirrors; file:// works)")
    parser.add_argument("--destination", default=None,
                        help="where each teacher goes, {arch} replaced by its architecture "
                             "(default: where the scripts look, e.g. save/models/{arch}_vanilla/ckpt_epoch_240.pth)")
    parser.add_argument("--expected", default=None, metavar="JSON",
                        help="file {arch: accuracy} to expect instead of the published accuracies")
    parser.add_argument("--skip_check", action="store_true", help="install without evaluating (no test data needed)")
    parser.add_argument("--data_folder", default="./data", help="folder holding the test data of --dataset")
    parser.add_argument("--device", default="auto")
    opt = parser.parse_args(argv)
    if opt.sources is None:
        opt.sources = SOURCES.get(opt.dataset, [])
    if opt.destination is None:
        opt.destination = DESTINATIONS.get(opt.dataset, DESTINATIONS["cifar100"])
    if "{arch}" not in opt.destination:
        raise FetchError(f"--destination must contain {{arch}}, got '{opt.destination}'")
    return opt


def expected_accuracies(opt):
    if opt.expected is None:
        return PUBLISHED_ACCURACY.get(opt.dataset, {})
    try:
        with open(opt.expected) as f:
            table = json.load(f)
    except (OSError, ValueError) as err:
        raise FetchError(f"cannot read the expected accuracies {opt.expected}: {err}") from None
    if not isinstance(table, dict) or not all(isinstance(v, (int, float)) for v in table.values()):
        raise FetchError(f"{opt.expected} must be a JSON object {{arch: accuracy in %}}")
    return table


def require_test_data(opt):
    """Fail before any download when the check could not run anyway."""
    from dataset import load_dataset
    try:
        load_dataset(opt.dataset, opt.data_folder)
    except DatasetNotFoundError as err:
        where = str(err).split(";")[0]  # where it looked; its download hint is train_teacher.py's
        raise FetchError(f"the accuracy check needs the test data: {where}; point --data_folder (DATA_FOLDER) at "
                         f"it, or install the teachers unchecked with --skip_check (SKIP_CHECK=1)") from None


def download_root(destination):
    """The folder above every teacher's own folder: the archives are unpacked next to them."""
    return os.path.dirname(destination.split("{arch}")[0]) or "."


def fetch_from(url, wanted, destination, root, model_names):
    """The teachers one source gives: ({arch: path}, [why it gives none or not all of them])."""
    try:
        with tempfile.TemporaryDirectory(prefix=".download-", dir=root) as tmp:
            archive = os.path.join(tmp, os.path.basename(urllib.parse.urlparse(url).path) or "archive")
            download(url, archive)
            installed, problems = install_teachers(
                archive, url, wanted, lambda arch: destination.replace("{arch}", arch), model_names)
    except (DownloadError, ArchiveError) as err:
        return {}, [str(err)]
    lacking = [t for t in wanted if t not in installed and t not in problems]
    return installed, [*problems.values(), *([f"{url} holds no {' '.join(lacking)}"] if lacking else [])]


def fetch(sources, missing, destination, model_names):
    """Install each missing teacher from the first source that gives it; {arch: source}."""
    origins, failures = {}, []
    root = download_root(destination)
    os.makedirs(root, exist_ok=True)
    for url in sources:
        wanted = [t for t in missing if t not in origins]
        if not wanted:
            break
        print(f"fetching {' '.join(wanted)} from {url}", flush=True)
        installed, problems = fetch_from(url, wanted, destination, root, model_names)
        for arch, path in installed.items():
            print(f"installed {arch}: {path}")
            origins[arch] = url
        for problem in problems:
            print(f"  failed: {problem}")
        failures += problems
    unfetched = [t for t in missing if t not in origins]
    if unfetched:
        tried = "; ".join(failures) if failures else "no sources for this data set"
        raise FetchError(f"could not get {' '.join(unfetched)} ({tried}); give working archives with --sources "
                         f"(TEACHER_SOURCES), or train the teachers (scripts/train_teachers.sh)")
    return origins


def measure(path, opt):
    """The test accuracy as `python train_teacher.py --evaluate` measures it."""
    flags = parse_data_args(["--dataset", opt.dataset, "--data_folder", opt.data_folder, "--device", opt.device])
    result, _ = evaluate_checkpoint(path, load_device_data(flags, select_device(flags.device)), flags.channels_last)
    return result["test_acc"]


def check(teachers, paths, origins, expected, opt):
    """Evaluate each teacher and print the table; the teachers that fail it."""
    rows, failed = [], []
    for arch in teachers:
        want = expected.get(arch)
        try:
            got = measure(paths[arch], opt)
        except USER_ERRORS as err:
            rows.append((arch, want, None, f"cannot evaluate: {err}"))
            failed.append(f"{arch} ({err})")
            continue
        if want is None:
            verdict = "no published accuracy"
        elif round(abs(got - want), 6) > TOLERANCE:
            verdict = "MISMATCH"
            failed.append(f"{arch} ({want:.2f} expected, {got:.2f} measured)")
        else:
            verdict = "ok"
        rows.append((arch, want, got, verdict))
    print(f"\n{'teacher':<12} {'expected':>8} {'measured':>8} {'diff':>6}  result  source")
    for arch, want, got, verdict in rows:
        diff = f"{got - want:+.2f}" if want is not None and got is not None else "-"
        print(f"{arch:<12} {fmt(want):>8} {fmt(got):>8} {diff:>6}  {verdict}  {origins[arch]}")
    return failed


def fmt(accuracy):
    return "-" if accuracy is None else f"{accuracy:.2f}"


def main(argv=None):
    opt = parse_args(argv)
    from models import model_dict
    unknown = [t for t in opt.teachers if t not in model_dict]
    if unknown:
        raise FetchError(f"unknown teacher {' '.join(unknown)}; choose from: {', '.join(model_dict)}")
    expected = expected_accuracies(opt)
    if not opt.skip_check:
        require_test_data(opt)
    paths = {t: opt.destination.replace("{arch}", t) for t in opt.teachers}
    origins = {t: ALREADY_INSTALLED for t in opt.teachers if os.path.isfile(paths[t])}
    missing = [t for t in opt.teachers if t not in origins]
    origins.update(fetch(opt.sources, missing, opt.destination, list(model_dict)))
    if opt.skip_check:
        print(f"accuracy check skipped (--skip_check): {' '.join(opt.teachers)} installed, not evaluated")
        return
    failed = check(opt.teachers, paths, origins, expected, opt)
    if failed:
        raise FetchError(f"{len(failed)} teacher(s) failed the check (tolerance {TOLERANCE} point): "
                         f"{'; '.join(failed)}; a damaged file or another test set? delete the file and rerun "
                         f"to fetch it again, or check --data_folder")


if __name__ == "__main__":
    try:
        main()
    except (FetchError, *USER_ERRORS) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
