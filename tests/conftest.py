import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from helper.cli.script import run_main  # noqa: E402
from helper.core.errors import EXIT_USER_ERROR  # noqa: E402

SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")

# The tests' tiny batches gain nothing from intra-op threads, and when another process holds a
# core, threads that spin waiting for each other make small convolutions tens of times slower.
# Subprocesses get the same setting through SINGLE_THREAD_ENV.
torch.set_num_threads(1)
SINGLE_THREAD_ENV = dict(os.environ, OMP_NUM_THREADS="1")


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield


def one_line_error(capsys, main, argv):
    """The one stderr line a script's user error ends in (and its exit status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, argv)
    assert exit_info.value.code == EXIT_USER_ERROR
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]
