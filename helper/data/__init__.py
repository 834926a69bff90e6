"""The data on the training device: in-memory splits, streamed splits, batch sampling, normalisation."""
