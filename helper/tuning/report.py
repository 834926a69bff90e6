"""What tune_da.py writes from its study: the table of trials, the best spec, and optuna's plots."""
import os
import warnings
from typing import Dict, List, Optional

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

ATTRS = ("ci95", "mean_entropy", "seconds", "pruned_at_groups", "repeat_of", "invalid")


def trial_rows(study: optuna.Study) -> List[Dict]:
    """One row per trial, best first: number, state, T. stddev, spec, its interval, the parameters."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        row = {"trial": t.number, "state": t.state.name, "t_stddev": t.value, "spec": t.user_attrs.get("spec")}
        for key in ATTRS:
            value = t.user_attrs.get(key)
            if key == "ci95" and value is not None:
                row["ci95_low"], row["ci95_high"] = value
            elif key != "ci95":
                row[key] = value
        row.update({f"param:{name}": value for name, value in t.params.items()})
        rows.append(row)
    return sorted(rows, key=lambda r: (r["t_stddev"] is None, r["t_stddev"] or 0.0, r["trial"]))


def best_record(study: optuna.Study) -> Optional[Dict]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    best = min(complete, key=lambda t: (t.value, t.number))
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return {"spec": best.user_attrs["spec"], "t_stddev": best.value, "ci95": best.user_attrs["ci95"],
            "mean_entropy": best.user_attrs["mean_entropy"], "trial": best.number, "params": best.params,
            "n_complete": states.count(TrialState.COMPLETE), "n_pruned": states.count(TrialState.PRUNED),
            "n_failed": states.count(TrialState.FAIL)}


def write_plots(study: optuna.Study, out: str) -> List[str]:
    """optimization_history.png, and param_importances.png when finished trials vary a
    parameter (optuna's own matplotlib plots). Returns the files written."""
    from optuna.visualization import matplotlib as plots
    figures = {"optimization_history.png": plots.plot_optimization_history}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    names = {name for t in complete for name in t.params}
    if len(complete) >= 2 and any(len({repr(t.params.get(n)) for t in complete}) > 1 for n in names):
        figures["param_importances.png"] = plots.plot_param_importances
    written = []
    for name, plot in figures.items():
        with warnings.catch_warnings():  # optuna marks its matplotlib plots experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            ax = plot(study)
        path = os.path.join(out, name)
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=120)
        plt.close(ax.figure)
        written.append(path)
    return written
