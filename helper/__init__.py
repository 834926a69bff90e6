"""The library behind the scripts, in layers whose imports only go down (docs/architecture.md):
core <- data, augment, storage <- engine <- goodness <- tuning <- cli."""
