"""T. stddev (helper/goodness/, eval_da_goodness.py): the statistic by hand, the grouping, pairing,
chunking, and the script's output and errors. A stub teacher with known outputs keeps it fast."""
import json
import os
import subprocess
import sys
from itertools import islice

import numpy as np
import pytest
import torch
from torch import nn

import eval_da_goodness
from conftest import ROOT
from dataset import load_dataset
from helper.augment import AugmentedBatch, DAConfig
from helper.core.errors import UsageError
from helper.data.splits import DeviceSplit, Normalize
from helper.goodness.measurement import DAMeasurement, ProbabilitySums, measure_goodness
from helper.goodness.plan import GoodnessSettings, epoch_stream, planned_batches, sample_stream
from helper.goodness.report import summarize
from helper.goodness.schemes import DA_NAMES, Scheme, build_schemes
from helper.goodness.statistic import (bootstrap_ci, bootstrap_stats, group_means, original_group_count,
                                      resample_weights, t_stddev)
from helper.storage.checkpoint import save_checkpoint
from models import model_dict

SLOPES = np.array([3.0, -2.0, 0.5])
OFFSETS = np.array([0.1, 0.0, -0.3])


class MeanTeacher(nn.Module):
    """Logits a fixed function of each image's mean pixel m: z_k = SLOPES[k] * m + OFFSETS[k].
    Counts the images it sees, to check which forwards a pass runs."""

    def __init__(self):
        super().__init__()
        self.register_buffer("slopes", torch.tensor(SLOPES, dtype=torch.float32))
        self.register_buffer("offsets", torch.tensor(OFFSETS, dtype=torch.float32))
        self.images_seen = 0

    def forward(self, x):
        self.images_seen += len(x)
        return x.mean(dim=(1, 2, 3))[:, None] * self.slopes + self.offsets


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def split_of(images):
    return DeviceSplit(images, torch.zeros(len(images), dtype=torch.long), "cpu", pad=0)


IDENTITY_NORMALIZE = Normalize((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "cpu")  # m is the pixel mean in [0, 1]


def constant_images(n, size=8):
    """Image i is one grey level v_i, so its teacher output is known, and flips keep it."""
    levels = torch.linspace(0, 255, n).round().to(torch.uint8)
    return levels.view(n, 1, 1, 1).expand(n, 3, size, size).contiguous(), levels.double().numpy() / 255


def random_images(n, size=8, seed=0):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def run(names, settings, images, teacher=None, student=None):
    schemes = build_schemes(names, DAConfig(images.shape[-1], mean=(0.5, 0.5, 0.5)),
                            have_student=student is not None)
    return measure_goodness(teacher or MeanTeacher(), split_of(images), IDENTITY_NORMALIZE, schemes,
                            settings, student=student)


# ----------------------------------------------------------------------------- the pure math

def test_t_stddev_of_a_hand_made_array():
    # class 0: 0.2, 0.4, 0.6 -> mean 0.4, squared deviations 0.04 + 0 + 0.04 over N - 1 = 2 -> std 0.2
    # class 1: 0.8, 0.6, 0.4 -> std 0.2 as well; the mean over classes is 0.2.
    assert t_stddev([[0.2, 0.8], [0.4, 0.6], [0.6, 0.4]]) == pytest.approx(0.2)
    # class 0: 0.1, 0.1, 0.4 -> mean 0.2, (0.01 + 0.01 + 0.04) / 2 = 0.03; class 1: 0.0, 0.3, 0.0
    # -> mean 0.1, (0.01 + 0.04 + 0.01) / 2 = 0.03; both std sqrt(0.03).
    assert t_stddev([[0.1, 0.0], [0.1, 0.3], [0.4, 0.0]]) == pytest.approx(np.sqrt(0.03))
    with pytest.raises(ValueError):
        t_stddev([[0.5, 0.5]])  # one group has no spread


def test_group_means_weigh_rows_not_batches():
    # Two groups of two batches; the second group's last batch is short (1 row).
    sums = np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 2.0], [1.0, 0.0]])
    counts = np.array([2, 2, 2, 1])
    np.testing.assert_allclose(group_means(sums, counts, 2), [[3 / 4, 1 / 4], [1 / 3, 2 / 3]])
    with pytest.raises(ValueError):
        group_means(sums[:3], counts[:3], 2)


def test_bfloat16_logits_are_summed_as_float64_probabilities_even_under_autocast():
    """--amp hands T. stddev the teacher's bfloat16 logits: the softmax and the sums are taken in float64
    from them, and the entropy in float32, inside autocast too, where a bfloat16 softmax would be off."""
    logits = (torch.randn(6, 100, generator=torch.Generator().manual_seed(0)) * 4).bfloat16()
    sums = ProbabilitySums()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sums.add(logits, [2, 4])
    probs = softmax(logits.float().numpy().astype(np.float64))  # bfloat16 values are exact in float64
    np.testing.assert_allclose(sums.sums(), [probs[:2].sum(axis=0), probs[2:].sum(axis=0)], rtol=1e-12)
    assert sums.mean_entropy() == pytest.approx(-(probs * np.log(probs)).sum(axis=1).mean(), rel=1e-6)
    assert np.abs(logits.softmax(dim=1).double().numpy() - probs).max() > 1e-4  # what bfloat16 sums would miss


def test_a_pass_under_way_gives_the_means_of_its_first_whole_groups():
    """A pruning check sees 3 batches of x and x' (one group of 2, and half the next): the mean of
    group 1 is over its 2 batches' rows of x and x' alone."""
    originals, views = ProbabilitySums(), ProbabilitySums()
    originals.add(torch.tensor([[0.0, 0.0], [9.0, 0.0], [0.0, 9.0]]), [1, 1, 1])  # p = (.5, .5), ~(1, 0), ~(0, 1)
    views.add(torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]), [1, 1, 1])
    measured = DAMeasurement("view", originals, views)
    p = torch.tensor([9.0, 0.0]).softmax(0).double().numpy()
    np.testing.assert_allclose(measured.group_means(2, 1), [(0.5 + p + 0.5 + 0.5) / 4])
    with pytest.raises(ValueError):
        measured.group_means(2)  # 3 batches are not whole groups


def test_bootstrap_interval():
    rng = np.random.default_rng(0)
    few = rng.normal(0.1, 0.01, size=(40, 5))
    many = rng.normal(0.1, 0.01, size=(400, 5))
    low, high = bootstrap_ci(few, 1000, seed=3)
    assert low <= t_stddev(few) <= high
    many_low, many_high = bootstrap_ci(many, 1000, seed=3)
    assert many_low <= t_stddev(many) <= many_high
    assert many_high - many_low < (high - low) / 2  # ~ 1 / sqrt(n): 10x the groups, ~1/3 the width
    assert bootstrap_ci(few, 1000, seed=3) == (low, high)
    assert bootstrap_ci(few, 1000, seed=4) != (low, high)


def test_bootstrap_interval_is_the_basic_interval_of_resampling_the_groups_directly():
    means = np.random.default_rng(1).random((7, 3))
    weights = np.random.default_rng(5).multinomial(7, np.full(7, 1 / 7), size=200)
    direct = [np.std(np.repeat(means, w, axis=0), axis=0, ddof=1).mean() for w in weights]
    q_low, q_high = np.percentile(direct, [2.5, 97.5])
    estimate = np.std(means, axis=0, ddof=1).mean()
    population = np.std(means, axis=0, ddof=0).mean()  # the groups' own T. stddev, as a population
    assert bootstrap_ci(means, 200, seed=5) == pytest.approx((estimate - (q_high - population),
                                                              estimate - (q_low - population)))


def test_bootstrap_interval_covers_the_t_stddev_it_estimates():
    """100 groups of 100 independent classes of known std: averaging the classes makes the statistic's
    error small against the shift that the percentile interval inherits from the resamples."""
    rng = np.random.default_rng(7)
    class_std = rng.uniform(0.5, 2.0, size=100)
    truth, replicates = class_std.mean(), 200
    covered = percentile_covered = 0
    for k in range(replicates):
        means = rng.standard_normal((100, 100)) * class_std
        low, high = bootstrap_ci(means, 1000, seed=k)
        covered += low <= truth <= high
        q_low, q_high = np.percentile(bootstrap_stats(means, resample_weights(100, 1000, k)), [2.5, 97.5])
        percentile_covered += q_low <= truth <= q_high
    print(f"coverage: basic {covered / replicates:.3f}, percentile {percentile_covered / replicates:.3f}")
    assert covered / replicates >= 0.9
    assert percentile_covered / replicates <= 0.8  # the interval this one replaced


# ----------------------------------------------------------------------------- the grouping

def test_original_group_counts():
    assert original_group_count(50000, 64, 5) == 1564  # 10 epochs of 782 batches, CIFAR-100
    assert original_group_count(10, 4, 2, epochs=3) == 4  # 3 x 3 batches -> 4 whole groups


def test_epoch_stream_keeps_the_short_last_batch_and_groups_across_epochs():
    batches = list(islice(epoch_stream(10, 4, torch.Generator().manual_seed(5)), 9))
    replay = torch.Generator().manual_seed(5)
    first, second = torch.randperm(10, generator=replay), torch.randperm(10, generator=replay)
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2, 4, 4, 2]
    # Groups of 2 batches: group 1 is the end of epoch 1 and the start of epoch 2.
    groups = [torch.cat(batches[g * 2:g * 2 + 2]) for g in range(4)]
    assert groups[0].tolist() == first[:8].tolist()
    assert groups[1].tolist() == first[8:].tolist() + second[:4].tolist()
    assert groups[2].tolist() == second[4:].tolist()


def test_sample_stream_has_full_batches_straddling_epochs():
    batches = list(islice(sample_stream(10, 4, torch.Generator().manual_seed(2)), 6))
    replay = torch.Generator().manual_seed(2)
    epochs = torch.cat([torch.randperm(10, generator=replay) for _ in range(3)])
    assert all(len(b) == 4 for b in batches)
    assert torch.cat(batches).tolist() == epochs[:24].tolist()


def test_planned_batches_follow_the_grouping():
    sample = planned_batches(10, GoodnessSettings(n_groups=3, group_batches=2, batch_size=4))
    original = planned_batches(10, GoodnessSettings(n_groups=3, group_batches=2, batch_size=4,
                                                    grouping="original"))
    assert [len(b) for b in sample] == [4] * 6
    assert [len(b) for b in original] == [4, 4, 2, 4, 4, 2]
    assert sorted(torch.cat(original[:3]).tolist()) == list(range(10))


# ----------------------------------------------------------------------------- the data pass

@pytest.mark.parametrize("grouping", ["sample", "original"])
def test_t_stddev_by_hand_on_a_stub_teacher(grouping):
    images, levels = constant_images(23)
    settings = GoodnessSettings(n_groups=4, group_batches=2, batch_size=4, compute_batch=12,
                                grouping=grouping, seed=7)
    table = summarize(run(["identity", "flip"], settings, images), settings, n_bootstrap=50)
    # By hand: sample i's teacher probabilities from its grey level; a group's mean over its rows
    # (x and x', which is the same image for identity and flip); unbiased std, mean over classes.
    probs = softmax(levels[:, None] * SLOPES + OFFSETS)
    batches = planned_batches(len(images), settings)
    groups = [torch.cat(batches[g * 2:g * 2 + 2]).numpy() for g in range(4)]
    means = np.stack([probs[index].mean(axis=0) for index in groups])
    expected = np.sqrt(((means - means.mean(axis=0)) ** 2).sum(axis=0) / (4 - 1)).mean()
    entropy = -(probs * np.log(probs)).sum(axis=1)
    expected_entropy = np.concatenate([entropy[index] for index in groups]).mean()
    for name in ("identity", "flip"):
        assert table[name]["t_stddev"] == pytest.approx(expected, rel=1e-5)
        assert table[name]["mean_entropy"] == pytest.approx(expected_entropy, rel=1e-5)


class InvertDA:
    """A stub DA whose view differs from x in a known way: x' = 1 - x."""

    def __call__(self, x, generator=None, scorer=None):
        index = torch.arange(len(x))
        return AugmentedBatch(1 - x, index, index, torch.ones(len(x)))


def test_t_stddev_by_hand_with_views_that_differ_from_x():
    images, levels = constant_images(23)
    settings = GoodnessSettings(n_groups=4, group_batches=2, batch_size=4, compute_batch=12, seed=3)
    measured = measure_goodness(MeanTeacher(), split_of(images), IDENTITY_NORMALIZE, [Scheme("invert", InvertDA())],
                                settings)
    got = summarize(measured, settings, n_bootstrap=20)["invert"]["t_stddev"]
    # By hand: a group's mean is over its 2 x 8 rows, x (grey level v) and x' (1 - v), half and half.
    p_x, p_view = softmax(levels[:, None] * SLOPES + OFFSETS), softmax((1 - levels[:, None]) * SLOPES + OFFSETS)
    batches = planned_batches(len(images), settings)
    groups = [torch.cat(batches[g * 2:g * 2 + 2]).numpy() for g in range(4)]

    def std_of(means):
        means = np.stack(means)
        return np.sqrt(((means - means.mean(axis=0)) ** 2).sum(axis=0) / (len(means) - 1)).mean()

    expected = std_of([np.concatenate([p_x[g], p_view[g]]).mean(axis=0) for g in groups])
    assert got == pytest.approx(expected, rel=1e-6)
    # the test tells the halves apart: either half alone gives another value
    for half in (p_x, p_view):
        assert abs(std_of([half[g].mean(axis=0) for g in groups]) - expected) > 1e-3 * expected


def test_identity_views_equal_the_originals():
    settings = GoodnessSettings(n_groups=3, group_batches=2, batch_size=4)
    m = run(["identity", "cutout"], settings, random_images(20)).measurements["identity"]
    np.testing.assert_array_equal(m.views.sums(), m.originals.sums())
    np.testing.assert_array_equal(m.group_means(2),
                                  group_means(m.originals.sums(), m.originals.counts, 2))


def test_paired_das_share_the_originals_and_draw_alike_alone_or_together():
    images = random_images(30)
    settings = GoodnessSettings(n_groups=3, group_batches=2, batch_size=4)
    together = run(["identity", "cutout", "mixup"], settings, images)
    alone = {name: run([name], settings, images) for name in ("identity", "cutout")}
    first, second = together.measurements["identity"], together.measurements["cutout"]
    np.testing.assert_array_equal(first.originals.sums(), second.originals.sums())
    for name, solo in alone.items():
        np.testing.assert_array_equal(solo.measurements[name].group_means(2),
                                      together.measurements[name].group_means(2))


def test_unpaired_das_get_their_own_batches():
    images = random_images(30)
    paired = GoodnessSettings(n_groups=3, group_batches=2, batch_size=4)
    unpaired = GoodnessSettings(n_groups=3, group_batches=2, batch_size=4, paired=False)
    own = run(["identity", "cutout"], unpaired, images).measurements
    shared = run(["identity", "cutout"], paired, images).measurements
    assert not np.array_equal(own["identity"].originals.sums(), own["cutout"].originals.sums())
    assert t_stddev(own["identity"].group_means(2)) != t_stddev(shared["identity"].group_means(2))


def test_compute_batch_does_not_change_the_numbers():
    images = random_images(37)
    names = ["identity", "flip", "crop+flip", "cutout", "autoaugment", "mixup", "cutmix", "cutmix_pick_T"]
    tables = []
    for compute_batch in (5, 1000):  # one batch per forward, all batches in one forward
        settings = GoodnessSettings(n_groups=3, group_batches=3, batch_size=5, compute_batch=compute_batch,
                                    grouping="original")
        table = summarize(run(names, settings, images), settings, n_bootstrap=100)
        tables.append({name: {k: v for k, v in r.items() if k != "seconds"} for name, r in table.items()})
    assert tables[0] == tables[1]


def test_cutmix_pick_reuses_the_teachers_scores_and_asks_the_student_only_to_pick():
    settings = GoodnessSettings(n_groups=2, group_batches=2, batch_size=4)
    n = settings.n_batches * settings.batch_size
    teacher = MeanTeacher()
    run(["cutmix_pick_T"], settings, random_images(20), teacher=teacher)
    assert teacher.images_seen == n + 2 * n  # x, and the pool of 2 cutmix runs; no forward on picks
    teacher, student = MeanTeacher(), MeanTeacher()
    run(["cutmix_pick_S"], settings, random_images(20), teacher=teacher, student=student)
    assert (teacher.images_seen, student.images_seen) == (n + n, 2 * n)


def test_unknown_and_unscorable_das_are_refused():
    config = DAConfig(8)
    with pytest.raises(UsageError, match="unknown DA 'cutmixx'; choose one of: identity"):
        build_schemes(["cutmixx"], config)
    with pytest.raises(UsageError, match="cutmix_pick_S scores with a student's entropy: pass --path_s"):
        build_schemes(["cutmix_pick_S"], config)
    assert [s.name for s in build_schemes(["flip", "flip", "cutmix_pick_T"], config)] == ["flip", "cutmix_pick_T"]


# ----------------------------------------------------------------------------- the script

def run_script(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "eval_da_goodness.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_script_refuses_cutmix_pick_s_without_a_student_in_one_line():
    result = run_script("--dataset", "digits", "--path_t", "missing.pth", "--mix_mode", "identity",
                        "cutmix_pick_S")
    assert result.returncode == 2
    assert result.stderr.startswith("error: cutmix_pick_S scores with a student's entropy: pass --path_s")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_script_refuses_unknown_das_before_loading_anything():
    with pytest.raises(UsageError, match="unknown DA 'blur'; choose one of: identity, flip"):
        eval_da_goodness.main(["--dataset", "digits", "--path_t", "missing.pth", "--mix_mode", "blur"])


def test_default_das_are_all_that_the_given_models_can_score():
    assert eval_da_goodness.parse_args(["--path_t", "t.pth"]).mix_mode == list(DA_NAMES[:-1])
    assert eval_da_goodness.parse_args(["--path_t", "t.pth", "--path_s", "s.pth"]).mix_mode == list(DA_NAMES)


def save_random_resnet8(path, num_classes=10):
    model = model_dict["resnet8"](num_classes=num_classes)
    save_checkpoint({"model": model.state_dict(), "arch": "resnet8", "num_classes": num_classes,
                     "dataset": "digits", "epoch": 0, "accuracy": 0.0}, str(path))
    return str(path)


def test_end_to_end_on_digits(tmp_path, capsys):
    ckpt = save_random_resnet8(tmp_path / "resnet8.pth")
    out = tmp_path / "runs" / "goodness.json"
    record = eval_da_goodness.main([
        "--dataset", "digits", "--train_subset", "120", "--test_subset", "50", "--path_t", ckpt,
        "--path_s", ckpt, "--n_groups", "3", "--group_batches", "2", "--batch_size", "8",
        "--n_bootstrap", "50", "--device", "cpu", "--out", str(out)])
    with open(out) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(record))
    for key in ("path_t", "teacher_arch", "dataset", "teacher_test_acc", "n_groups", "group_batches",
                "batch_size", "grouping", "paired", "seed", "results"):
        assert key in saved
    assert (saved["teacher_arch"], saved["dataset"], saved["n_groups"], saved["grouping"], saved["paired"]) \
        == ("resnet8", "digits", 3, "sample", True)
    assert set(saved["results"]) == set(DA_NAMES)
    for r in saved["results"].values():
        assert set(r) == {"t_stddev", "ci95", "mean_entropy", "seconds"}
    # the script's numbers are the library's on the same data, teacher and settings
    data = load_dataset("digits").subset(120, 50, seed=0)
    teacher = model_dict["resnet8"](num_classes=10)
    teacher.load_state_dict(torch.load(ckpt, weights_only=True)["model"])
    settings = GoodnessSettings(n_groups=3, group_batches=2, batch_size=8, seed=0)
    schemes = build_schemes(["identity", "mixup"], DAConfig(32, mean=data.mean))
    direct = summarize(measure_goodness(teacher, DeviceSplit(data.train_x, data.train_y, "cpu"),
                                        Normalize(data.mean, data.std, "cpu"), schemes, settings), settings, 50)
    for name in ("identity", "mixup"):
        assert saved["results"][name]["t_stddev"] == pytest.approx(direct[name]["t_stddev"], rel=1e-6)
        assert saved["results"][name]["ci95"] == pytest.approx(direct[name]["ci95"], rel=1e-6)
    printed = capsys.readouterr().out
    assert "test accuracy" in printed
    rows = [line.split()[0] for line in printed.splitlines() if line.split() and line.split()[0] in DA_NAMES]
    assert rows == sorted(DA_NAMES, key=lambda name: saved["results"][name]["t_stddev"])


def test_default_group_count_and_class_mismatch(tmp_path):
    ckpt = save_random_resnet8(tmp_path / "resnet8.pth")
    record = eval_da_goodness.main([
        "--dataset", "digits", "--train_subset", "40", "--test_subset", "20", "--path_t", ckpt,
        "--mix_mode", "identity", "--batch_size", "16", "--grouping", "original", "--device", "cpu"])
    assert record["n_groups"] == original_group_count(40, 16, 5) == 6  # 10 epochs x 3 batches / 5
    wrong = save_random_resnet8(tmp_path / "resnet8_100.pth", num_classes=100)
    with pytest.raises(UsageError, match="trained for 100 classes"):
        eval_da_goodness.main(["--dataset", "digits", "--path_t", wrong, "--mix_mode", "identity"])
