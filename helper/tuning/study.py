"""An optuna study in an SQLite file that resumes exactly: tune_da.py's loop of trials.

Trials run through ask and tell. Each trial's sampler is a fresh TPESampler seeded from the seed
and the number of trials finished before it, so what a trial proposes depends only on the seed
and the study's history: a study interrupted and run again proposes, trial for trial, what an
uninterrupted one does, and the trials already finished are not run again. A trial left
RUNNING by a killed process is marked FAIL when the study is opened again; FAIL trials are not
part of the history (TPE reads COMPLETE and PRUNED trials), so the next trial proposes the same
parameters again and finishes the interrupted work. One process per study file.
"""
import time
import warnings
from typing import Any, Callable, Dict, Optional

import optuna
from optuna.trial import TrialState

from helper.core.errors import UsageError
from helper.core.seeds import derived_seed

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
STUDY_NAME = "tune_da"


def open_study(path: str, identity: Dict[str, Any]) -> optuna.Study:
    """The study in the SQLite file ``path``, created with ``identity`` (the settings that make
    its trials comparable) or checked against it; trials a killed run left RUNNING become FAIL."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # tune_da.py shows its own progress
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name=STUDY_NAME, direction="minimize",
                                load_if_exists=True)
    stored = study.user_attrs.get("identity")
    if stored is None:
        study.set_user_attr("identity", identity)
    elif stored != identity:
        changed = sorted(k for k in set(stored) | set(identity) if stored.get(k) != identity.get(k))
        raise UsageError(f"the study {path} was made with other settings ({', '.join(changed)} differ): "
                         "pass the same settings, or another --study file")
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        study.tell(trial.number, state=TrialState.FAIL)
    return study


def trial_seed(seed: int, n_finished: int) -> int:
    return derived_seed(seed, n_finished)


def sampler_for(seed: int, n_finished: int, n_startup_trials: int) -> optuna.samplers.TPESampler:
    """TPE over the study's history; group=True decomposes a choice among DAs (a conditional
    space) into the spaces of each choice, instead of falling back to random sampling there."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=trial_seed(seed, n_finished), n_startup_trials=n_startup_trials,
                                          multivariate=True, group=True)


def finished_trials(study: optuna.Study):
    return study.get_trials(deepcopy=False, states=FINISHED)


def run_trials(study: optuna.Study, objective: Callable[[optuna.Trial], float], n_trials: int,
               timeout: Optional[float], seed: int, n_startup_trials: int,
               after_trial: Callable[[optuna.Study], None] = lambda study: None) -> int:
    """Run trials until the study holds ``n_trials`` finished ones or ``timeout`` seconds have
    passed (the trial under way finishes). objective raises optuna.TrialPruned to prune.
    Returns how many trials this call finished."""
    start, ran = time.monotonic(), 0
    while len(finished_trials(study)) < n_trials and (timeout is None or time.monotonic() - start < timeout):
        study.sampler = sampler_for(seed, len(finished_trials(study)), n_startup_trials)
        trial = study.ask()
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
        except BaseException:
            study.tell(trial, state=TrialState.FAIL)  # proposed again by the next run
            raise
        else:
            study.tell(trial, value)
        ran += 1
        after_trial(study)
    return ran
