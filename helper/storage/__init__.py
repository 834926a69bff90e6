"""Files: checkpoints, models built or loaded by name, run folders, teacher archives, downloads."""
