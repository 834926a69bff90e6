"""A training run around the epoch loop (helper/engine/loop.py): CRD's schedule, checkpoints, logs, exact resume."""
import bisect
import os
import sys
import time

import torch

from helper.core.errors import CheckpointError, UsageError
from helper.core.processes import Processes
from helper.core.seeds import restore_rng_state, rng_state
from helper.storage.checkpoint import load_checkpoint, save_checkpoint
from helper.storage.run_folder import FINISHED, RunLog, read_metrics

RESUME_FILE = "last.pth"


def learning_rate(epoch, base_lr, decay_epochs, decay_rate):
    """CRD's step schedule: the lr of 1-based `epoch` is base_lr * rate^(#decay epochs < epoch)."""
    return base_lr * decay_rate ** bisect.bisect_left(sorted(decay_epochs), epoch)


def set_learning_rate(optimizer, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr


def changed_settings(recorded, current):
    """'name=old (now new)' for each setting recorded at a run's start that differs now (a setting
    that only one side knows, a flag added or removed since, is not compared)."""
    return [f"{name}={recorded[name]} (now {current[name]})" for name in sorted(recorded.keys() & current.keys())
            if recorded[name] != current[name]]


class Training:
    """What a run trains and how it is identified; `modules` maps a checkpoint key to a module
    whose state_dict must be saved ('model' first: the checkpoint format of DESIGN.md). `settings`:
    the options that decide what the run computes (helper.cli.options.run_settings); a resumed run
    must keep them."""

    def __init__(self, folder, opt, modules, optimizer, generators, identity, settings, processes=Processes()):
        self.folder, self.opt, self.processes = folder, opt, processes
        self.modules, self.optimizer, self.generators = modules, optimizer, generators
        self.identity = identity  # arch, num_classes, dataset (+ the student run's names)
        self.settings = settings
        self.start_epoch, self.best_acc = 1, 0.0

    def checkpoint(self, epoch, accuracy):
        state = {key: module.state_dict() for key, module in self.modules.items()}
        state.update(self.identity, epoch=epoch, accuracy=accuracy, best_accuracy=self.best_acc,
                     optimizer=self.optimizer.state_dict(), rng=rng_state(self.generators), settings=self.settings)
        return state

    def resume(self):
        """Load the folder's last completed epoch; returns False when there is none to resume."""
        path = os.path.join(self.folder, RESUME_FILE)
        if not os.path.isfile(path):
            return False
        state = load_checkpoint(path)
        for key in ("arch", "dataset"):
            if state.get(key) != self.identity.get(key):
                raise UsageError(f"cannot resume {path}: it was a run with {key}={state.get(key)}, "
                                 f"not {self.identity.get(key)}")
        self._check_settings(path, state.get("settings"))
        try:
            for key, module in self.modules.items():
                module.load_state_dict(state[key])
            self.optimizer.load_state_dict(state["optimizer"])
            missing = restore_rng_state(state["rng"], self.generators)
        except (KeyError, RuntimeError, ValueError) as err:
            raise CheckpointError(f"cannot resume from {path}: {str(err).splitlines()[0]}") from None
        if missing:
            self._note(f"{path} has no state of the random stream {', '.join(missing)} (it is older): "
                       "that stream starts afresh from --seed")
        self.start_epoch, self.best_acc = state["epoch"] + 1, state["best_accuracy"]
        return True

    def _check_settings(self, path, recorded):
        """Refuse, before anything is written, to carry on a run with other settings than its start's."""
        if recorded is None:
            self._note(f"{path} records no settings (it is older): the flags could not be checked "
                       "against those the run started with")
            return
        changed = changed_settings(recorded, self.settings)
        if changed:
            raise UsageError(f"cannot resume {path}: it was started with {', '.join(changed)}; resume with "
                             "the same flags, or start a new run (--trial)")

    def _note(self, text):
        if self.processes.is_main:
            print(f"note: {text}", file=sys.stderr)

    def fit(self, train_one_epoch, evaluate, best_name="best.pth"):
        """Run the remaining epochs. train_one_epoch(epoch) -> dict of train metrics;
        evaluate() -> (test_loss, test_acc). Returns the summary written to summary.json.
        Only the main process writes files and prints."""
        opt, main = self.opt, self.processes.is_main
        log = RunLog(self.folder, opt, self.start_epoch) if main else None
        metrics = {}
        try:
            for epoch in range(self.start_epoch, opt.epochs + 1):
                lr = learning_rate(epoch, opt.learning_rate, opt.lr_decay_epochs, opt.lr_decay_rate)
                set_learning_rate(self.optimizer, lr)
                start = time.time()
                train_metrics = train_one_epoch(epoch)
                test_loss, test_acc = evaluate()
                metrics = {"epoch": epoch, "lr": lr, **train_metrics, "test_loss": test_loss,
                           "test_acc": test_acc, "seconds": time.time() - start}
                improved = test_acc > self.best_acc
                self.best_acc = max(self.best_acc, test_acc)
                if main:
                    self._record(log, metrics, improved, best_name)
            final = metrics or self._last_logged()
            summary = {**self.identity, "status": FINISHED, "epochs": opt.epochs,
                       "last_test_acc": final.get("test_acc"), "last_test_loss": final.get("test_loss"),
                       "best_test_acc": self.best_acc, "trial": opt.trial}
            if main:
                log.write_summary(summary)
            return summary
        finally:
            if main:
                log.close()

    def _record(self, log, metrics, improved, best_name):
        epoch, opt = metrics["epoch"], self.opt
        # Metrics first, checkpoint second: a crash in between redoes this epoch on resume, and
        # RunLog drops the epoch's line, so each epoch is logged once.
        log.log_epoch(metrics)
        state = self.checkpoint(epoch, metrics["test_acc"])
        if improved:
            save_checkpoint(state, os.path.join(self.folder, best_name))
        if epoch % opt.save_freq == 0 or epoch == opt.epochs:
            save_checkpoint(state, os.path.join(self.folder, f"ckpt_epoch_{epoch}.pth"))
        save_checkpoint(state, os.path.join(self.folder, RESUME_FILE))
        print(f"epoch {epoch}/{opt.epochs}  lr {metrics['lr']:.4g}  "
              f"train loss {metrics['train_loss']:.4f} acc {metrics['train_acc']:.2f}  "
              f"test loss {metrics['test_loss']:.4f} acc {metrics['test_acc']:.2f}  ({metrics['seconds']:.1f}s)")

    def _last_logged(self):
        logged = read_metrics(self.folder)
        return logged[-1] if logged else {}
