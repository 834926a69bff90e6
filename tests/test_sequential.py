"""Paired differences and the pass that stops when the order is known (helper/goodness/paired.py,
sequential.py): verdicts against hand computations, and simulated passes whose truth is known."""
from statistics import NormalDist

import numpy as np
import pytest

from helper.goodness.paired import ErrorControl, compare, order_resolved, ranked_pairs, verdict
from helper.goodness.sequential import SequentialRule, decide, planned_looks


@pytest.mark.parametrize("low, high, margin, expected", [
    (0.1, 0.3, 0.5, "lower"), (-0.3, -0.1, 0.5, "lower"), (-0.2, 0.2, 0.5, "tie"),
    (-0.2, 0.6, 0.5, "unresolved"), (-0.5, 0.1, 0.5, "unresolved"), (0.0, 0.2, 0.5, "tie")])
def test_verdicts(low, high, margin, expected):
    assert verdict(low, high, margin) == expected


def test_level_is_alpha_over_looks_and_pairs():
    control = ErrorControl(0.05, 8, 8)
    assert control.n_pairs == 28 and control.level == pytest.approx(0.05 / 224)
    assert control.z == pytest.approx(NormalDist().inv_cdf(1 - 0.05 / 448))
    assert ErrorControl(0.05, 1, 2).z == pytest.approx(1.959964, abs=1e-6)


def test_compare_by_hand():
    values = {"a": 1.0, "b": 1.1}
    resamples = {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([1.1, 2.3, 3.2])}  # differences .1 .3 .2: sd .1
    found = compare(values, resamples, "a", "b", 2.0, 0.03)
    assert found["diff"] == pytest.approx(0.1) and found["se"] == pytest.approx(0.1)
    assert found["interval"] == pytest.approx([-0.1, 0.3]) and found["margin"] == pytest.approx(0.033)
    assert found["verdict"] == "unresolved"
    assert compare(values, resamples, "a", "b", 0.5, 0.03)["verdict"] == "lower"           # [.05, .15]
    assert compare(values, resamples, "a", "b", 0.5, 0.2)["verdict"] == "lower"            # lower first
    near = {"a": 1.0, "b": 1.001}
    assert compare(near, resamples, "a", "b", 0.1, 0.03)["verdict"] == "tie"               # [-.009, .011]


def test_ranked_pairs_are_neighbours_and_each_against_the_best():
    pairs = ranked_pairs({"c": 3.0, "a": 1.0, "d": 4.0, "b": 2.0})
    assert pairs == [("a", "b", "adjacent"), ("b", "c", "adjacent"), ("c", "d", "adjacent"),
                     ("a", "c", "vs_best"), ("a", "d", "vs_best")]
    assert order_resolved([{"kind": "adjacent", "verdict": "tie"}, {"kind": "vs_best", "verdict": "unresolved"}])
    assert not order_resolved([{"kind": "adjacent", "verdict": "unresolved"}])


def test_planned_looks():
    assert planned_looks(1564) == [19, 39, 78, 156, 312, 625, 1251, 1564]  # a look at a fifth of the paper's
    assert planned_looks(100) == [20, 40, 80, 100]
    assert planned_looks(10) == [10]


# Simulated passes. A DA's group means are mu + sqrt(shared) e + sqrt(own) e_DA per class, e common
# to every DA (the same originals), so the large-n limit of T. stddev, the truth, is the mean over
# classes of sqrt(shared + own). "a" and "b" are the same DA (true difference 0); "c" lies 20% above.
CLASSES, BUDGET, PASSES, ALPHA = 4, 160, 300, 0.05
SHARED = np.array([1.0, 2.0, 1.5, 0.5])
OWN = {"a": 0.002 * SHARED, "b": 0.002 * SHARED, "c": 0.44 * SHARED}
TRUTH = {name: float(np.sqrt(SHARED + own).mean()) for name, own in OWN.items()}


def simulated_means(rng):
    shared = rng.standard_normal((BUDGET, CLASSES)) * np.sqrt(SHARED)
    return {name: shared + rng.standard_normal((BUDGET, CLASSES)) * np.sqrt(own) for name, own in OWN.items()}


def test_simulated_passes_cover_and_declare_no_false_difference():
    rng = np.random.default_rng(7)
    misses = false_lower = 0
    stops = []
    for i in range(PASSES):
        rule = decide(simulated_means(rng), SequentialRule(BUDGET, 3, ALPHA, 0.03, n_bootstrap=200, seed=i))
        stops.append(rule.groups)
        covered = [p["interval"][0] <= TRUTH[p["da_b"]] - TRUTH[p["da_a"]] <= p["interval"][1] for p in rule.pairs]
        misses += not all(covered)
        false_lower += any(p["verdict"] == "lower" and {p["da_a"], p["da_b"]} == {"a", "b"} for p in rule.pairs)
    slack = 3 * np.sqrt(ALPHA * (1 - ALPHA) / PASSES)
    assert TRUTH["c"] / TRUTH["a"] == pytest.approx(1.2, abs=0.01)
    assert misses / PASSES <= ALPHA + slack      # every interval at the stopping look covers its truth
    assert false_lower / PASSES <= ALPHA + slack  # "a" and "b" are no more declared different than alpha allows
    assert np.median(stops) < BUDGET              # and the order (a tie, then c) is known before the budget


def test_a_pass_stops_later_when_the_pair_is_closer():
    """Stopping follows the evidence: a clear difference stops at the first look, a near one later."""
    rng = np.random.default_rng(3)
    shared = rng.standard_normal((BUDGET, CLASSES)) * np.sqrt(SHARED)
    clear = {"a": shared, "c": shared * 1.3 + rng.standard_normal((BUDGET, CLASSES))}
    # the same DA twice, each with its own noise: a tie, once the interval is narrow enough
    near = {name: shared + rng.standard_normal((BUDGET, CLASSES)) * np.sqrt(0.006 * SHARED) for name in "ab"}
    first = decide(clear, SequentialRule(BUDGET, 2, ALPHA, 0.03, 200))
    later = decide(near, SequentialRule(BUDGET, 2, ALPHA, 0.03, 200))
    assert (first.groups, first.stopped, first.pairs[0]["verdict"]) == (16, "resolved", "lower")
    assert (later.groups, later.stopped, later.pairs[0]["verdict"]) == (64, "resolved", "tie")


def test_a_stopped_pass_holds_the_numbers_of_a_fixed_pass_of_its_size():
    from dataclasses import replace

    from helper.augment import DAConfig
    from helper.goodness.report import summarize
    from helper.goodness.schemes import build_schemes
    from helper.goodness.sequential import measure_sequential
    from helper.goodness.plan import GoodnessSettings
    from tests.test_goodness import IDENTITY_NORMALIZE, MeanTeacher, random_images, run, split_of

    images = random_images(53)
    budget = GoodnessSettings(n_groups=100, group_batches=2, batch_size=4, compute_batch=12, seed=2)
    names = ["identity", "mixup", "cutout"]
    schemes = build_schemes(names, DAConfig(8, mean=(0.5, 0.5, 0.5)))
    teacher = MeanTeacher()
    found = measure_sequential(teacher, split_of(images), IDENTITY_NORMALIZE, schemes, budget, 0.05, 0.5, 200)
    groups = found.rule.groups
    assert found.rule.stopped == "resolved" and groups < 100 and found.rule.record[-1]["groups"] == groups
    # a look lands inside a forward of 3 batches: the pass saw more than it reports
    assert teacher.images_seen > groups * 2 * 4 * (1 + len(names))
    fixed_settings = replace(budget, n_groups=groups)
    fixed = run(names, fixed_settings, images)
    for name in names:
        assert np.array_equal(found.measured.measurements[name].group_means(2), fixed.measurements[name].group_means(2))
    strip = lambda table: {n: {k: v for k, v in r.items() if k != "seconds"} for n, r in table.items()}
    assert strip(summarize(found.measured, fixed_settings, 100)) == strip(summarize(fixed, fixed_settings, 100))


def test_script_flags_of_the_two_modes(capsys):
    import eval_da_goodness
    from tests.conftest import one_line_error

    base = ["--dataset", "digits", "--path_t", "t.pth", "--mix_mode", "identity", "flip"]
    assert eval_da_goodness.parse_args(base + ["--n_groups", "original"]).n_groups == "original"
    assert eval_da_goodness.parse_args(base).n_groups is None  # the pass that stops by itself
    assert one_line_error(capsys, eval_da_goodness.main, base + ["--unpaired"]) == (
        "error: the pass that stops when the order is known compares DAs on the same groups: "
        "drop --unpaired, or pass --n_groups N for a fixed pass")
    assert one_line_error(capsys, eval_da_goodness.main, base + ["--n_groups", "9", "--max_groups", "9"]) == (
        "error: --max_groups is the budget of the pass that stops by itself: drop it, or drop --n_groups")
