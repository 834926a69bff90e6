"""A run's folder: args.json, metrics.jsonl (a line per epoch), summary.json, TensorBoard events."""
import json
import os
import platform
import subprocess
import sys

import torch

from helper.core.errors import RunExistsError

FINISHED = "finished"


def _git_commit():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _versions():
    import numpy
    import torchvision
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__}


def write_json(path, obj, allow_nan=True):
    """Written atomically (a temporary file, then a rename); returns the path."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, allow_nan=allow_nan)
        f.write("\n")
    os.replace(tmp, path)
    return path


def read_json(path):
    with open(path) as f:
        return json.load(f)


def read_metrics(folder):
    path = os.path.join(folder, "metrics.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def prepare_run_folder(folder, resume=False, overwrite=False):
    """Refuse to clobber a finished run unless asked; an unfinished one is resumed or restarted."""
    summary = os.path.join(folder, "summary.json")
    if os.path.isfile(summary) and read_json(summary).get("status") == FINISHED \
            and not (resume or overwrite):
        raise RunExistsError(f"{folder} already holds a finished run; pass --overwrite to train it "
                             "again, or choose another --trial / run name")
    os.makedirs(folder, exist_ok=True)


class RunLog:
    """Writes the run's files. Only the process that owns the run (rank 0) creates one."""

    def __init__(self, folder, args, start_epoch=1):
        self.folder = folder
        record = dict(vars(args), git_commit=_git_commit(), versions=_versions(),
                      command=" ".join(sys.argv))
        write_json(os.path.join(folder, "args.json"), record)
        # On resume, epochs after the checkpoint were not kept: drop their lines so each
        # epoch appears exactly once.
        kept = [m for m in read_metrics(folder) if m["epoch"] < start_epoch]
        self.metrics_path = os.path.join(folder, "metrics.jsonl")
        with open(self.metrics_path, "w") as f:
            f.writelines(json.dumps(m) + "\n" for m in kept)
        from torch.utils.tensorboard import SummaryWriter
        self.tensorboard = SummaryWriter(log_dir=os.path.join(folder, "tensorboard"),
                                         purge_step=start_epoch)

    def log_epoch(self, metrics):
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(metrics) + "\n")
        for key, value in metrics.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self.tensorboard.add_scalar(key, value, metrics["epoch"])
        self.tensorboard.flush()

    def write_summary(self, summary):
        write_json(os.path.join(self.folder, "summary.json"), summary)

    def close(self):
        self.tensorboard.close()
