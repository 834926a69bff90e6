"""tune_da.py's objective: a trial's DA spec and its T. stddev on the study's paired originals.

Every trial measures its DA against the same batches of originals x, whose teacher outputs are
computed once (helper/goodness/measurement.py, measure_originals) and cached, so trials compare on common
ground and a trial costs the views alone: no more than an eval_da_goodness.py pass of the same
size, which also runs the teacher on x. A spec's views come from a generator derived from the
seed and the spec, so its T. stddev is what ``eval_da_goodness.py --mix_mode SPEC`` prints with
the same settings.

Pruning: after ``prune_after`` groups, then after twice, four times as many..., a trial is pruned
when its T. stddev is clearly worse than the best finished trial's: the lower end of its 95%
bootstrap interval over the groups so far lies above the best trial's T. stddev after the same
groups (the same originals: a paired comparison).
"""
from typing import Dict, List, Sequence

import optuna

from helper.augment import DAConfig, DASpec, build_augmentation
from helper.core.errors import UsageError
from helper.core.processes import Processes
from helper.goodness.measurement import ProbabilitySums, measure_views
from helper.goodness.plan import GoodnessSettings
from helper.goodness.schemes import Scheme
from helper.goodness.statistic import bootstrap_ci, t_stddev
from helper.tuning.search_space import optuna_suggest, trial_spec

PRUNE_BOOTSTRAP = 200  # resamples of the interval a pruning check uses


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
        best = _best_intermediate(trial.study)
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
            reference = best.get(groups)
            low = bootstrap_ci(means, PRUNE_BOOTSTRAP, self.settings.seed)[0]
            if reference is not None and low > reference:
                trial.set_user_attr("pruned_at_groups", groups)
                trial.set_user_attr("seconds", m.seconds)
                raise optuna.TrialPruned(f"{spec}: T. stddev {value:.6g} after {groups} groups, 95% interval "
                                         f"above the best trial's {reference:.6g}")

        measured = measure_views(self.teacher, self.split, self.normalize, scheme, self.settings,
                                 self.originals, self.processes, check)
        means = measured.group_means(group_batches)
        value = t_stddev(means)
        trial.set_user_attr("ci95", list(bootstrap_ci(means, self.n_bootstrap, self.settings.seed)))
        trial.set_user_attr("mean_entropy", measured.views.mean_entropy())
        trial.set_user_attr("seconds", measured.seconds)
        return value


def _finished_with(study: optuna.Study, spec: str):
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                      optuna.trial.TrialState.PRUNED)):
        if t.user_attrs.get("spec") == spec and "invalid" not in t.user_attrs:
            return t
    return None


def _best_intermediate(study: optuna.Study) -> Dict[int, float]:
    """The best finished trial's T. stddev after each checked number of groups."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                if "repeat_of" not in t.user_attrs]  # a repeat reported nothing; its original did
    if not complete:
        return {}
    best = min(complete, key=lambda t: t.value)
    return dict(best.intermediate_values)
