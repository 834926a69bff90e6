"""scripts/fetch_teachers.sh and .py: fallback between sources, unpacking any layout, the accuracy
check, against archives built here and served on 127.0.0.1 (the real hosts are out of reach)."""
import importlib.util
import io
import json
import os
import shlex
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from torch import nn

from conftest import ROOT, SINGLE_THREAD_ENV

from dataset import load_dataset
from helper.storage.download import DownloadError, download
from helper.storage.teacher_archive import arch_of_member, select_members
from models import model_dict

spec = importlib.util.spec_from_file_location("fetch_teachers", os.path.join(ROOT, "scripts", "fetch_teachers.py"))
fetch_teachers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fetch_teachers)

CKPT = "ckpt_epoch_240.pth"
# Each tiny teacher answers one class whatever the image, so its digits test accuracy is that
# class's share of the test set: known without running the code under test.
PREDICTS = {"resnet8": 3, "wrn_16_1": 5}


def constant_teacher(arch, label):
    model = model_dict[arch](num_classes=10)
    classifier = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        classifier.weight.zero_()
        classifier.bias.copy_(torch.nn.functional.one_hot(torch.tensor(label), 10).float())
    return model.state_dict()


def torch_bytes(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:  # as zip(1) makes them
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(members, mode="w"):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def teachers():
    """{arch: state_dict} of the tiny teachers, and their true digits test accuracies."""
    test_y = load_dataset("digits").test_y
    states = {arch: constant_teacher(arch, label) for arch, label in PREDICTS.items()}
    accuracy = {arch: 100.0 * (test_y == label).double().mean().item() for arch, label in PREDICTS.items()}
    return states, accuracy


@pytest.fixture(scope="module")
def archives(teachers):
    """The files the test server serves, one per layout the sources use, plus broken ones."""
    states, _ = teachers
    # CRD's checkpoint format: a dict with 'model' beside the training state.
    crd = {arch: torch_bytes({"model": s, "epoch": 240, "accuracy": torch.tensor(70.0), "optimizer": {}})
           for arch, s in states.items()}
    good_da = zip_bytes({  # Good-DA-in-KD: models/<arch>_vanilla/, zipped on a Mac
        f"models/resnet8_vanilla/{CKPT}": crd["resnet8"],
        "models/resnet8_vanilla/resnet8_best.pth": torch_bytes({"model": constant_teacher("resnet8", 0)}),
        f"__MACOSX/models/resnet8_vanilla/._{CKPT}": b"\0\5\26\7 mac metadata",
    })
    files = {
        "/good_da.zip": good_da,
        "/truncated.zip": good_da[:len(good_da) // 2],
        "/mdistiller.tar": tar_bytes({f"cifar_teachers/{a}_vanilla/{CKPT}": crd[a] for a in states}),
        # Deeper nesting, gzip, and a bare state_dict instead of a dict with 'model'.
        "/bare.tar.gz": tar_bytes({f"./x/y/wrn_16_1_vanilla/{CKPT}": torch_bytes(states["wrn_16_1"])}, "w:gz"),
        "/damaged_member.zip": zip_bytes({f"models/resnet8_vanilla/{CKPT}": crd["resnet8"][:5000]}),
    }
    return files


@pytest.fixture
def server(archives):
    """http://127.0.0.1:<port>, serving `archives` (404 for anything else); .requests logs paths."""
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            if self.path == "/short":  # announces more than it sends, then hangs up
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"x" * 10)
                return
            body = archives.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.requests = requests
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def files_under(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)


def installed(path):
    return torch.load(path, weights_only=True)


def write_expected(tmp_path, table):
    path = tmp_path / "expected.json"
    path.write_text(json.dumps(table))
    return str(path)


def run_main(argv):
    fetch_teachers.main([*argv, "--device", "cpu"])


def test_script_falls_back_past_dead_and_truncated_sources_and_checks_every_teacher(tmp_path, server, teachers):
    states, accuracy = teachers
    sources = [f"{server.url}/{name}" for name in ("missing.zip", "truncated.zip", "good_da.zip", "mdistiller.tar")]
    env = dict(SINGLE_THREAD_ENV, PYTHON=sys.executable, DATASET="digits", DEVICE="cpu",
               TEACHERS="resnet8 wrn_16_1", TEACHER_PATTERN=str(tmp_path / "t" / "{arch}_vanilla" / CKPT),
               TEACHER_SOURCES=" ".join(sources), EXPECTED_ACC=write_expected(tmp_path, accuracy))
    env.pop("DRY_RUN", None)
    done = subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch_teachers.sh")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    # Tried in order; the zip gives resnet8, and only wrn_16_1 is left for the tar.
    assert server.requests == ["/missing.zip", "/truncated.zip", "/good_da.zip", "/mdistiller.tar"]
    assert "HTTP 404" in done.stdout and "truncated download" in done.stdout
    assert files_under(tmp_path / "t") == [f"resnet8_vanilla/{CKPT}", f"wrn_16_1_vanilla/{CKPT}"]
    for arch, source in (("resnet8", "good_da.zip"), ("wrn_16_1", "mdistiller.tar")):
        checkpoint = installed(tmp_path / "t" / f"{arch}_vanilla" / CKPT)
        assert checkpoint["arch"] == arch and checkpoint["source"].startswith(f"{server.url}/{source}#")
        # ckpt_epoch_240.pth, not the other checkpoint of its folder; the optimizer state left out.
        assert all(torch.equal(checkpoint["model"][k], v) for k, v in states[arch].items())
        assert "optimizer" not in checkpoint
        row = next(line.split() for line in done.stdout.splitlines() if line.startswith(arch + " "))
        assert row[1:5] == [f"{accuracy[arch]:.2f}", f"{accuracy[arch]:.2f}", "+0.00", "ok"]


def test_a_mismatch_over_a_tenth_of_a_point_fails_loudly_and_a_tenth_passes(tmp_path, server, teachers, capsys):
    _, accuracy = teachers
    args = ["--dataset", "digits", "--teachers", "resnet8", "wrn_16_1", "--sources", f"{server.url}/mdistiller.tar",
            "--destination", str(tmp_path / "{arch}" / CKPT)]
    off = {"resnet8": accuracy["resnet8"] + 0.1, "wrn_16_1": accuracy["wrn_16_1"] - 0.2}
    with pytest.raises(fetch_teachers.FetchError, match="1 teacher") as failure:
        run_main([*args, "--expected", write_expected(tmp_path, off)])
    assert "wrn_16_1" in str(failure.value) and "resnet8 " not in str(failure.value)
    table = capsys.readouterr().out
    assert "MISMATCH" in table and " ok " in table
    # A second run downloads nothing, checks again, and passes with the right numbers.
    run_main([*args, "--expected", write_expected(tmp_path, accuracy)])
    assert server.requests == ["/mdistiller.tar"]
    assert capsys.readouterr().out.count(fetch_teachers.ALREADY_INSTALLED) == 2


def test_when_every_source_fails_it_names_each_failure_and_writes_nothing(tmp_path, server):
    sources = [f"{server.url}/{name}" for name in ("gone.zip", "truncated.zip", "damaged_member.zip", "bare.tar.gz")]
    with pytest.raises(fetch_teachers.FetchError) as failure:
        run_main(["--teachers", "resnet8", "--sources", *sources, "--skip_check",
                  "--destination", str(tmp_path / "t" / "{arch}" / CKPT)])
    message = str(failure.value)
    assert "could not get resnet8" in message and "HTTP 404" in message and "truncated download" in message
    assert "damaged_member.zip: cannot read checkpoint models/resnet8_vanilla/ckpt_epoch_240.pth" in message
    assert "bare.tar.gz holds no resnet8" in message
    assert files_under(tmp_path) == []


def test_any_nesting_and_a_bare_state_dict_are_installed(tmp_path, server, teachers):
    states, _ = teachers
    run_main(["--teachers", "wrn_16_1", "--sources", f"{server.url}/bare.tar.gz", "--skip_check",
              "--destination", str(tmp_path / "{arch}.pth")])
    checkpoint = installed(tmp_path / "wrn_16_1.pth")
    assert checkpoint["arch"] == "wrn_16_1"
    assert all(torch.equal(checkpoint["model"][k], v) for k, v in states["wrn_16_1"].items())


def test_without_test_data_it_says_how_to_skip_the_check_before_downloading(tmp_path, server):
    args = ["--dataset", "cifar100", "--data_folder", str(tmp_path / "no_data"), "--teachers", "resnet8",
            "--sources", f"{server.url}/good_da.zip", "--destination", str(tmp_path / "t" / "{arch}" / CKPT)]
    with pytest.raises(fetch_teachers.FetchError, match="SKIP_CHECK=1"):
        run_main(args)
    assert server.requests == []
    run_main([*args, "--skip_check"])
    assert files_under(tmp_path / "t") == [f"resnet8/{CKPT}"]


def test_an_installed_teacher_that_cannot_be_evaluated_fails_the_check(tmp_path, server, capsys):
    # A CIFAR-100 teacher where a 10-class one is expected: its classifier does not fit.
    path = tmp_path / "resnet8" / CKPT
    path.parent.mkdir()
    torch.save({"model": model_dict["resnet8"](num_classes=100).state_dict()}, path)
    with pytest.raises(fetch_teachers.FetchError, match="resnet8 .*does not fit 10 classes"):
        run_main(["--dataset", "digits", "--teachers", "resnet8", "--destination", str(tmp_path / "{arch}" / CKPT)])
    assert server.requests == [] and "cannot evaluate" in capsys.readouterr().out


def test_a_transfer_cut_short_is_an_error_and_leaves_no_file(tmp_path, server):
    with pytest.raises(DownloadError, match="broke off after 10 of 1000 bytes"):
        download(f"{server.url}/short", str(tmp_path / "archive.zip"))
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("member, arch", [
    (f"cifar_teachers/resnet8x4_vanilla/{CKPT}", "resnet8x4"),  # not resnet8
    (f"models/wrn_40_2_vanilla/{CKPT}", "wrn_40_2"),
    (f"a/b/c/ResNet50_cifar100_lr_0.05_decay_0.0005_trial_0/{CKPT}", "ResNet50"),
    ("resnet56.pth", "resnet56"),
    (f"__MACOSX/models/vgg13_vanilla/._{CKPT}", None),
    ("models/vgg13_vanilla/README.txt", None),
    (f"models/unknown_net/{CKPT}", None),
])
def test_each_checkpoint_is_mapped_to_its_architecture_by_its_folder(member, arch):
    assert arch_of_member(member, list(model_dict)) == arch


def test_the_final_checkpoint_of_a_folder_wins():
    names = ["m/vgg13_vanilla/vgg13_best.pth", f"m/vgg13_vanilla/{CKPT}", "m/vgg13_vanilla/ckpt_epoch_40.pth"]
    assert select_members(names, ["vgg13"], list(model_dict)) == {"vgg13": f"m/vgg13_vanilla/{CKPT}"}


def test_dry_run_prints_one_command_with_the_knobs(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "TEACHERS", "TEACHER_PATTERN", "DATASET")}
    env.update(DRY_RUN="1", TEACHER_SOURCES="http://a/x.zip file:///b/y.tar", EXPECTED_ACC="e.json", SKIP_CHECK="1",
               DATA_FOLDER="/data")
    done = subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch_teachers.sh")], env=env,
                          capture_output=True, text=True, timeout=30, check=True)
    (command,) = [shlex.split(line) for line in done.stdout.splitlines()]
    assert command[:2] == ["python", "scripts/fetch_teachers.py"]  # the active environment's python
    opt = fetch_teachers.parse_args(command[2:])
    assert opt.teachers == fetch_teachers.PAPER_TEACHERS
    assert opt.sources == ["http://a/x.zip", "file:///b/y.tar"] and opt.expected == "e.json" and opt.skip_check
    assert opt.destination == "save/models/{arch}_vanilla/ckpt_epoch_240.pth" and opt.data_folder == "/data"
    # Without the knob: the published releases, Good-DA-in-KD's first.
    assert fetch_teachers.parse_args([]).sources == [
        "https://github.com/MingSun-Tse/Good-DA-in-KD/releases/download/v0.1/teachers_cifar100.zip",
        "https://github.com/megvii-research/mdistiller/releases/download/checkpoints/cifar_teachers.tar"]
