"""Searching a DA's parameters by T. stddev with optuna: search space, objective, study, report."""
