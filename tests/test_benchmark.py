"""scripts/benchmark.py on tiny settings: the JSON's structure, the images the T. stddev pass
counts, which references it picks, and its timing machinery on work of known duration."""
import importlib.util
import json
import os
import time

import pytest
import torch

from helper.augment import DAConfig
from helper.core.errors import UsageError
from helper.core.speed import fastest_batch
from helper.data.splits import DeviceSplit, Normalize
from helper.goodness.compute_batch import COMPUTE_BATCH_FACTORS
from helper.goodness.schemes import build_schemes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("benchmark", os.path.join(ROOT, "scripts", "benchmark.py"))
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)

DAS = ["identity", "cutmix", "cutmix_pick_T", "cutmix_pick_S"]
B, GOODNESS_BATCHES, COMPUTE_BATCH = 8, 10, 32
TINY = ["--pairs", "resnet8:resnet8", "--das", *DAS, "--batch_size", str(B), "--warmup", "1", "--repeats", "2",
        "--train_size", "64", "--goodness_batches", str(GOODNESS_BATCHES), "--goodness_compute_batch",
        str(COMPUTE_BATCH), "--goodness_repeats", "2", "--reference_max_batch", "64", "--device", "cpu"]


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    returned = benchmark.main(TINY + ["--out", str(out)])
    with open(out) as f:
        written = json.load(f)
    assert written == json.loads(json.dumps(returned))
    return written


def test_record_describes_the_run(record):
    assert record["device"] == {"type": "cpu", "name": benchmark.device_name(torch.device("cpu"))}
    assert record["threads"] >= 1 and record["torch"] == torch.__version__
    assert "RSS" in record["peak_memory"]
    assert len(record["load_average_start"]) == 3 and len(record["load_average_end"]) == 3
    settings = record["settings"]
    assert settings["das"] == DAS and settings["pairs"] == ["resnet8:resnet8"]
    # As train_student.py: channels-last by default; no autocast on the CPU.
    assert settings["batch_size"] == B and settings["channels_last"] is True and not settings["amp_active"]
    assert settings["kd"] == {"gamma": 0.1, "alpha": 0.9, "beta": 0.0, "lw_mix": [1.0, 0.0, 1.0], "kd_T": 4.0}
    assert settings["sgd"] == {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}
    assert list(record["pairs"]) == ["resnet8->resnet8"]


def test_every_da_has_step_figures(record):
    das = record["pairs"]["resnet8->resnet8"]["das"]
    assert sorted(das) == sorted(DAS)  # write_json sorts the keys
    for r in das.values():
        assert set(r) == {"model_ms", "model_best_layout", "step_ms", "overhead", "speedup_vs_contiguous_model",
                          "images_per_s", "model_best_images_per_s", "peak_memory_mb"}
        assert set(r["model_ms"]) == {"contiguous", "channels_last"}
        # the reference is the faster memory format's model work
        assert r["model_best_layout"] == min(r["model_ms"], key=r["model_ms"].get)


def test_goodness_counts_every_forward(record):
    goodness = record["pairs"]["resnet8->resnet8"]["goodness"]
    originals = GOODNESS_BATCHES * B
    # (teacher, student) images: x and x' per batch; cutmix_pick_T's teacher scores a pool of 2B
    # images and reuses the picked logits; cutmix_pick_S's student scores the pool, the teacher x'.
    views = {"identity": (originals, 0), "cutmix": (originals, 0), "cutmix_pick_T": (2 * originals, 0),
             "cutmix_pick_S": (originals, 2 * originals)}
    assert goodness["compute_batch"] == COMPUTE_BATCH
    # the reference is the teacher's fastest batch size and memory format among those tried
    tried = goodness["inference_tried"]
    best = max(((layout, int(size)) for layout in tried for size in tried[layout]),
               key=lambda key: tried[key[0]][str(key[1])])
    assert (goodness["inference_layout"], goodness["inference_batch"]) == best
    assert sorted(goodness["per_da"]) == sorted(DAS)
    for name, (teacher_views, student_images) in views.items():
        r = goodness["per_da"][name]
        assert (r["teacher_images"], r["student_images"]) == (originals + teacher_views, student_images)
    paired = goodness["paired"]
    assert paired["teacher_images"] == originals + sum(t for t, _ in views.values())
    assert paired["student_images"] == sum(s for _, s in views.values())



def test_interleaved_times_work_of_known_duration():
    short, long = (lambda: time.sleep(0.01)), (lambda: time.sleep(0.04))
    (t_short, _), (t_long, _) = benchmark.interleaved([short, long], 1, 5, torch.device("cpu"))
    assert 0.01 <= t_short < 0.03 and 0.04 <= t_long < 0.06


def test_fastest_batch_finds_the_best_rate_and_stops_past_it():
    seen = []

    def forward(images):  # 1 ms per image up to 32 images, then 4 ms per image: the best size is 32
        seen.append(len(images))
        time.sleep(len(images) * (0.001 if len(images) <= 32 else 0.004))
    best, rates = fastest_batch(forward, lambda n: torch.zeros(n), [8, 16, 32, 64, 128, 256, 512], min_seconds=0.05)
    assert best in (8, 16, 32) and rates[64] < 0.5 * rates[32]
    assert 512 not in set(seen), "two sizes in a row well below the best end the search"


def test_default_compute_batch_is_the_fastest_tried(tmp_path):
    opt = benchmark.parse_args([a for a in TINY if a not in ("--goodness_compute_batch", str(COMPUTE_BATCH))])
    device = torch.device("cpu")
    teacher, _ = benchmark.build_pair("resnet8", "resnet8", opt, device)
    split = DeviceSplit(torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8), torch.zeros(64).long(), device)
    size, rates = benchmark.pass_compute_batch(teacher, split, Normalize((0.5,) * 3, (0.25,) * 3, device), opt, device)
    assert size == max(rates, key=rates.get) and set(rates) <= {B * k for k in COMPUTE_BATCH_FACTORS}


def test_goodness_pass_leaves_the_models_in_their_modes():
    opt = benchmark.parse_args(TINY + ["--channels_last"])
    device = torch.device("cpu")
    teacher, student = benchmark.build_pair("resnet8", "resnet8", opt, device)
    config = DAConfig(32)
    schemes = build_schemes(["cutmix_pick_S"], config, have_student=True)
    split = DeviceSplit(torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8), torch.randint(0, 100, (32,)),
                        device)
    normalize = Normalize((0.5,) * 3, (0.25,) * 3, device, torch.channels_last)
    settings = benchmark.goodness_settings(opt, GOODNESS_BATCHES, COMPUTE_BATCH)
    counts = benchmark.goodness_pass(teacher, student, split, normalize, schemes, settings, config, opt, device)
    assert counts == (2 * GOODNESS_BATCHES * B, 2 * GOODNESS_BATCHES * B)
    assert not teacher.training and student.training


@pytest.mark.parametrize("flags", [["--goodness_batches", "12"], ["--goodness_batches", "5"], ["--das", "nope"],
                                   ["--repeats", "0"], ["--pairs", "resnet8"], ["--batch_size", "1"]])
def test_bad_flags_are_refused(flags):
    with pytest.raises((UsageError, SystemExit)):
        benchmark.parse_args(TINY + flags)
