"""tune_da.py's objective: a trial's DA spec and its T. stddev on the study's paired originals.

Every trial measures its DA against the same batches of originals x, whose teacher outputs are
computed once (helper/goodness/measurement.py, measure_originals) and cached, so trials compare on common
ground and a trial costs the views alone: no more than an eval_da_goodness.py pass of the same
size, which also runs the teacher on x. A spec's views come from a generator derived from the
seed and the spec, so its T. stddev is what ``eval_da_goodness.py --mix_mode SPEC`` prints with
the same settings.

Pruning: after ``prune_after`` groups, then after twice, four times as many..., a trial is pruned
when its paired difference to the incumbent (the best finished trial, on the same originals and
the first groups alike) is resolved as worse: T. stddev(trial) - T. stddev(incumbent), with the
bootstrap drawing the same resamples of the groups for both (helper/goodness/paired.py), has an
interval above 0 at the level PRUNE_ALPHA / (the trial's planned checks). So a trial that is not
worse than the incumbent is pruned with a chance of at most PRUNE_ALPHA, however many checks it
has. The incumbent's group means are kept in memory; in a study resumed from its file, trials
are not pruned until a trial of this run finishes and becomes the incumbent.
"""
from typing import Dict, List, Sequence

import numpy as np
import optuna

from helper.augment import DAConfig, DASpec, build_augmentation
from helper.core.errors import UsageError
from helper.core.processes import Processes
from helper.goodness.measurement import ProbabilitySums, measure_views
from helper.goodness.plan import GoodnessSettings
from helper.goodness.schemes import Scheme
from helper.goodness.paired import ErrorControl, compare
from helper.goodness.statistic import bootstrap_ci, bootstrap_stats, resample_weights, t_stddev
from helper.tuning.search_space import optuna_suggest, trial_spec

PRUNE_BOOTSTRAP = 200  # resamples of the standard error a pruning check uses
PRUNE_ALPHA = 0.05     # chance that a trial no worse than the incumbent is pruned at any of its checks


def check_steps(prune_after: int, n_groups: int) -> List[int]:
    """The group counts at which a trial is checked: prune_after, 2x, 4x, ... below n_groups."""
    steps, step = [], prune_after
    while 0 < step < n_groups:
        steps.append(step)
        step *= 2
    return steps


class TStddevObjective:
    """Callable on an optuna trial: its spec (user attribute "spec"), measured, its T. stddev."""

    def __init__(self, teacher, split, normalize, config: DAConfig, settings: GoodnessSettings,
                 templates: Sequence[DASpec], originals: ProbabilitySums, prune_after: int = 20,
                 n_bootstrap: int = 1000, processes=Processes()):
        self.teacher, self.split, self.normalize = teacher, split, normalize
        self.config, self.settings, self.templates = config, settings, list(templates)
        self.originals, self.n_bootstrap, self.processes = originals, n_bootstrap, processes
        self.steps = check_steps(prune_after, settings.n_groups) if prune_after > 0 else []
        self.control = ErrorControl(PRUNE_ALPHA, max(1, len(self.steps)), 2)  # one pair: trial, incumbent
        self.finished_means: Dict[int, np.ndarray] = {}  # group means of the trials this run finished

    def spec_of(self, trial: optuna.Trial) -> str:
        return trial_spec(self.templates, optuna_suggest(trial), trial.suggest_categorical)

    def __call__(self, trial: optuna.Trial) -> float:
        spec = self.spec_of(trial)
        trial.set_user_attr("spec", spec)
        repeat = _finished_with(trial.study, spec)
        if repeat is not None:  # the same spec draws the same views: its numbers are known
            trial.set_user_attr("repeat_of", repeat.number)
            for key, value in repeat.user_attrs.items():
                if key not in ("spec", "repeat_of"):
                    trial.set_user_attr(key, value)
            if repeat.state == optuna.trial.TrialState.PRUNED:
                raise optuna.TrialPruned(f"{spec}: as trial {repeat.number}")
            return repeat.value
        try:
            augmentation = build_augmentation(spec, self.config)
        except UsageError as err:  # a combination the DA refuses (e.g. d_min > d_max)
            trial.set_user_attr("invalid", str(err))
            raise optuna.TrialPruned(str(err)) from None
        scheme = Scheme(spec, augmentation, augmentation.scored_by)
        incumbent = _incumbent(trial.study)
        reference = None if incumbent is None else self.finished_means.get(incumbent.number)
        pending = list(self.steps)
        group_batches = self.settings.group_batches

        def check(done, measured):
            if not pending or done < pending[0] * group_batches:
                return
            groups = pending.pop(0)
            m = measured()
            means = m.group_means(group_batches, groups)
            value = t_stddev(means)
            trial.report(value, groups)
            if reference is None:
                return
            worse = self.paired_difference(means, reference[:groups])
            if worse["verdict"] == "lower":  # the incumbent is lower
                trial.set_user_attr("pruned_at_groups", groups)
                trial.set_user_attr("seconds", m.seconds)
                raise optuna.TrialPruned(
                    f"{spec}: T. stddev {value:.6g} after {groups} groups, worse than trial {incumbent.number}'s "
                    f"by {worse['diff']:.3g}, interval [{worse['interval'][0]:.3g}, {worse['interval'][1]:.3g}]")

        measured = measure_views(self.teacher, self.split, self.normalize, scheme, self.settings,
                                 self.originals, self.processes, check)
        means = measured.group_means(group_batches)
        value = t_stddev(means)
        trial.set_user_attr("ci95", list(bootstrap_ci(means, self.n_bootstrap, self.settings.seed)))
        trial.set_user_attr("mean_entropy", measured.views.mean_entropy())
        trial.set_user_attr("seconds", measured.seconds)
        self.finished_means[trial.number] = means
        return value

    def paired_difference(self, means: np.ndarray, reference: np.ndarray) -> dict:
        """T. stddev(trial) - T. stddev(incumbent) on the same groups, its interval at the corrected
        level and its verdict ("lower": the incumbent is lower, the trial worse)."""
        weights = resample_weights(len(means), PRUNE_BOOTSTRAP, self.settings.seed)
        values = {"incumbent": t_stddev(reference), "trial": t_stddev(means)}
        resamples = {"incumbent": bootstrap_stats(reference, weights), "trial": bootstrap_stats(means, weights)}
        found = compare(values, resamples, "incumbent", "trial", self.control.z, 0.0)
        return found if found["diff"] > 0 else dict(found, verdict="unresolved")  # only "worse" prunes


def _finished_with(study: optuna.Study, spec: str):
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                      optuna.trial.TrialState.PRUNED)):
        if t.user_attrs.get("spec") == spec and "invalid" not in t.user_attrs:
            return t
    return None


def _incumbent(study: optuna.Study):
    """The best finished trial (a repeat measured nothing; its original did), or None."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                if "repeat_of" not in t.user_attrs]
    return min(complete, key=lambda t: t.value) if complete else None
