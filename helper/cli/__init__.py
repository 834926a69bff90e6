"""The command line: running a script, the flag groups the scripts share, the paper's settings for shell scripts."""
