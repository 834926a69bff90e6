"""Training: the objective, the optimisation steps, the epoch loop and evaluation, the run (schedule,
checkpoints, logs, resume)."""
