"""The foundation: errors, processes, seeds, train/eval modes, speed settings, image ops.

The only part of helper/ that dataset/, models/ and distiller_zoo/ import; it imports nothing above it."""
