"""Running a script so that bad input ends in one clear line and a non-zero exit, not a traceback."""
import sys

from dataset import DatasetError, DatasetNotFoundError
from helper.checkpoint import CheckpointError
from helper.run_log import RunExistsError


class UsageError(ValueError):
    """The flags ask for something that cannot be done; the message says what to change."""


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


USER_ERRORS = (UsageError, DatasetNotFoundError, DatasetError, CheckpointError, RunExistsError, NonFiniteLossError)
EXIT_USER_ERROR = 2


def run_main(main, argv=None):
    try:
        main(argv)
    except USER_ERRORS as err:
        message = str(err).strip()
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print("interrupted; the last completed epoch's checkpoint is kept (resume with --resume)",
              file=sys.stderr)
        sys.exit(130)
